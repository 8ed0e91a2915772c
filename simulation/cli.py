"""The ``talentsim`` command.

Exit codes: 0 ok, 2 bad input (with a message naming the file, key path and problem), 1 internal error.
Heavy imports happen inside the commands, so ``talentsim --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """A mistake of the user's, reported without a traceback (exit code 2)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _formats(text: str) -> tuple[str, ...]:
    allowed = ("parquet", "csv")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)} (comma-separated), got {text!r}")
    return formats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talentsim",
        description="Agent-based simulation of the global market for AI research talent.",
        epilog="Exit codes: 0 ok, 2 bad input, 1 internal error. Run 'talentsim COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("run", help="run a scenario and write tables, figures and a manifest")
    p.add_argument("scenario", type=Path, help="scenario YAML file, e.g. scenarios/baseline.yaml")
    p.add_argument("--out", type=Path, help="output folder (default: results/SCENARIO_NAME)")
    p.add_argument("--seed", type=_seed, help="root seed (default: run.seed of the scenario)")
    p.add_argument("--replicates", type=_positive_int, help="replicates (default: run.replicates)")
    p.add_argument("--researchers", type=_positive_int, help="researchers at the start (default: run.researchers)")
    p.add_argument("--format", type=_formats, default=("parquet", "csv"), help="table formats: parquet,csv (default both)")
    p.add_argument("--no-figures", action="store_true", help="write tables only")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no headline table")
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("validate", help="check scenario files without running them")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario YAML file(s)")
    p.set_defaults(handler=cmd_validate)

    p = commands.add_parser("schema", help="print the scenario reference (every key, type, range and default)")
    p.set_defaults(handler=cmd_schema)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from .plots import plot_migration_curves, plot_retention_curves, save_figure
    from .results import format_headline
    from .runner import run
    from .scenario import load_scenario

    scenario = load_scenario(args.scenario)
    scenario = scenario.with_run(seed=args.seed, replicates=args.replicates, researchers=args.researchers)
    out = args.out or Path("results") / scenario.name
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder; choose another path")
    result = run(scenario, progress=not args.quiet)
    result.manifest["scenario_file"] = str(args.scenario)
    result.manifest["command"] = "talentsim " + " ".join(sys.argv[1:])
    written = result.save(out, formats=args.format)
    if not args.no_figures:
        written += save_figure(plot_migration_curves(result), out / "migration_curve")
        written += save_figure(plot_retention_curves(result), out / "retention_curve")
    if not args.quiet:
        print(f"Scenario '{scenario.name}': {scenario.run.replicates} replicate(s) x {scenario.run.researchers:,} "
              f"researchers, {scenario.run.start:%Y-%m} to {scenario.run.end:%Y-%m} "
              f"({result.manifest['wall_time_seconds']:.1f} s)\n")
        print(format_headline(result.headline()))
        print(f"\nWrote {len(written)} files to {out}/ (tables, manifest.json"
              f"{', figures' if not args.no_figures else ''})")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from .scenario import ScenarioError, load_scenario

    failed = 0
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            failed += 1
            _print_problems(exc)
            continue
        run = scenario.run
        print(
            f"ok: {path}: scenario '{scenario.name}', {len(scenario.regions)} regions, {len(scenario.employers)} "
            f"employers, {run.start:%Y-%m} to {run.end:%Y-%m} in {run.steps} steps of {run.step_months} months"
        )
    return EXIT_BAD_INPUT if failed else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .scenario import reference_markdown

    print(reference_markdown())
    return EXIT_OK


def _print_problems(exc) -> None:
    count = len(exc.problems)
    print(f"error: {count} problem{'s' if count != 1 else ''} in the scenario:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("talentsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Run the ``talentsim`` command line; return its exit code."""
    args = build_parser().parse_args(argv)
    from .scenario import ScenarioError

    try:
        return args.handler(args)
    except ScenarioError as exc:
        _print_problems(exc)
        return EXIT_BAD_INPUT
    except (BadInput, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; nothing was written for the run in progress", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the last resort: say it is ours, keep the traceback for the report
        traceback.print_exc()
        print("internal error: this is a bug in talentsim, not in your input; please report it with the "
              "traceback above", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
