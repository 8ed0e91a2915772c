"""The ``talentsim`` command: its parser and its entry point.

The commands live beside what they read: :mod:`.cli_scenarios` (run, validate, schema, explore, calibrate),
:mod:`.cli_results` (plot, compare, report, analyze) and :mod:`.cli_sweep` (sweep); option types and checks are in
:mod:`.cli_options`. Exit codes: 0 ok, 2 bad input (with a message naming the file, key path and problem), 1 a
failure of the system (disk full, out of memory, a closed pipe) or an internal error, 130 interrupted; see
:mod:`.failures`. Heavy imports happen inside the commands, so ``talentsim --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from . import cli_results, cli_scenarios, cli_sweep
from .cli_options import BadInput
from .failures import EXIT_BAD_INPUT

__all__ = ["main"]

# The order of ``talentsim --help``.
COMMANDS = (
    cli_scenarios.add_run, cli_scenarios.add_validate, cli_scenarios.add_schema, cli_results.add_plot,
    cli_results.add_compare, cli_results.add_report, cli_results.add_analyze, cli_sweep.add_sweep,
    cli_scenarios.add_explore, cli_scenarios.add_calibrate,
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that a failed write of help or usage is reported like any other output's."""

    def _print_message(self, message: str, file=None) -> None:
        if message:  # argparse ignores OSError here, so help into a closed pipe would end "ok"
            (file or sys.stderr).write(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="talentsim",
        description="Agent-based simulation of the global market for AI research talent.",
        epilog="Exit codes: 0 ok, 2 bad input, 1 a failure of the system (disk full, out of memory) or an internal "
        "error, 130 interrupted. Run 'talentsim COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("talentsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the ``talentsim`` command line; return its exit code."""
    from .failures import reporting

    def command() -> int:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # argparse has printed the usage and what is wrong (exit 2), or the help (exit 0)
            return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
        return args.handler(args)

    return reporting(command, bad_input=(BadInput,))


if __name__ == "__main__":
    sys.exit(main())
