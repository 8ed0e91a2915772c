"""The commands that read a scenario file: ``run``, ``validate``, ``schema``, ``explore`` and ``calibrate``.

Each command has a function that adds its options to the parser (``add_run``...) and one that carries it out
(``cmd_run``...), returning the exit code. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_options import (BadInput, as_option, port_number, positive_int, seed_number, table_formats,
                          whole_number)
from .failures import EXIT_BAD_INPUT, EXIT_OK

__all__ = ["add_calibrate", "add_explore", "add_run", "add_schema", "add_validate", "cmd_calibrate", "cmd_explore",
           "cmd_run", "cmd_schema", "cmd_validate"]


def add_run(commands) -> None:
    """Add ``talentsim run``: run a scenario and write tables, figures and a manifest."""
    p = commands.add_parser("run", help="run a scenario and write tables, figures and a manifest")
    p.add_argument("scenario", type=Path, help="scenario YAML file, e.g. scenarios/baseline.yaml")
    p.add_argument("--out", type=Path, help="output folder (default: results/SCENARIO_NAME)")
    p.add_argument("--seed", type=seed_number, help="root seed (default: run.seed of the scenario)")
    p.add_argument("--replicates", type=positive_int, help="replicates (default: run.replicates)")
    p.add_argument("--researchers", type=whole_number, help="researchers at the start (default: run.researchers)")
    p.add_argument("--format", type=table_formats, default=("parquet", "csv"),
                   help="table formats: parquet,csv,xlsx (default parquet,csv); xlsx writes every table to one "
                   "workbook, results.xlsx, with a notes sheet (Parquet is written too when xlsx is the only format, "
                   "so that plot, compare and report can read the folder)")
    p.add_argument("--no-figures", action="store_true", help="write tables only")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no headline table")
    p.add_argument("--ensemble", type=Path, metavar="FILE",
                   help="parameter ensemble (e.g. scenarios/base/calibrated.ensemble.parquet): replicate i uses draw i, "
                        "so intervals show parameter uncertainty as well as replicate noise")
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from .changes import describe_changes, run_changes_record
    from .outputs import StagedFolder, folder_for
    from .plots import plot_migration_curves, plot_retention_curves, save_figure
    from .resources import check_memory
    from .results import MANIFEST, format_headline
    from .runner import run
    from .scenario import ScenarioError, load_scenario

    scenario = load_scenario(args.scenario)
    try:
        scenario = scenario.with_run(seed=args.seed, replicates=args.replicates, researchers=args.researchers)
    except ScenarioError as exc:  # the options, not the file, are at fault: name them as typed
        raise BadInput("\n".join(as_option(problem) for problem in exc.problems)) from None
    check_memory(scenario, option="--researchers" if args.researchers else f"{args.scenario}: run.researchers")
    out = args.out or folder_for("results", scenario.name)
    ensemble = None
    if args.ensemble is not None:
        from .ensemble import read_ensemble

        try:
            ensemble = read_ensemble(args.ensemble)
        except ValueError as exc:
            raise BadInput(f"--ensemble {exc}") from None
    folder = StagedFolder(out, marker=MANIFEST)
    with folder as staging:  # checked writable and locked before the run; in place only once complete
        result = run(scenario, progress=not args.quiet, ensemble=ensemble)
        result.manifest["scenario_file"] = str(args.scenario)
        result.manifest["changes"] = run_changes_record(scenario, args.scenario)
        result.manifest["command"] = "talentsim " + " ".join(sys.argv[1:])
        if not args.no_figures:
            save_figure(plot_migration_curves(result), staging / "migration_curve")
            save_figure(plot_retention_curves(result), staging / "retention_curve")
        tables = tuple(f for f in args.format if f != "xlsx")
        written = result.write(staging, formats=tables or ("parquet",))  # the manifest, written last, lists them
        if "xlsx" in args.format:
            _write_run_xlsx(result, staging)
        count = len(list(staging.iterdir()))
    if not args.quiet:
        print(f"Scenario '{scenario.name}': {scenario.run.replicates} replicate(s) x {scenario.run.researchers:,} "
              f"researchers, {scenario.run.start:%Y-%m} to {scenario.run.end:%Y-%m} "
              f"({result.manifest['wall_time_seconds']:.1f} s)")
        print(f"Intervals across replicates show {result.manifest['interval']}.\n")
        record = result.manifest.get("changes")
        if record is not None and any(c["lever"] for c in record["changes"]):
            print(describe_changes(record["changes"], record["reference"], settings=False) + "\n")
        names = {k: r.name for k, r in scenario.regions.items()}
        print(format_headline(result.headline(), names=names))
        print(f"\nWrote {count} files to {out}/ ({len(written) - 1} tables, manifest.json"
              f"{', figures' if not args.no_figures else ''})"
              + ("; it replaces the earlier run there" if folder.replaced else ""))
    return EXIT_OK


def _write_run_xlsx(result, out: Path) -> Path:
    """Write results.xlsx into ``out`` and list it in the run's manifest (rewritten in place)."""
    import json

    from .outputs import write_text
    from .spreadsheet import write_run_xlsx

    path = write_run_xlsx(result, out / "results.xlsx")
    result.manifest["files"] = sorted(set(result.manifest.get("files", [])) | {path.name})
    write_text(out / "manifest.json", json.dumps(result.manifest, indent=2, default=str) + "\n")
    return path


def add_validate(commands) -> None:
    """Add ``talentsim validate``: check scenario files and list what each changes."""
    p = commands.add_parser("validate", help="check scenario files without running them; list what each changes",
                            description="Check scenario files without running them, and list every lever (and "
                            "setting) each one changes, from when, from what value to what value: against the "
                            "scenario it extends, or against --against. Experiment and calibration files (those "
                            "with a top-level 'scenario:' key) are checked as what they are.")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario, experiment or calibration YAML file(s)")
    p.add_argument("--against", type=Path, metavar="SCENARIO",
                   help="list changes against this scenario file (default: the file each one extends)")
    p.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from .changes import describe_changes, run_changes_record
    from .failures import print_problems
    from .inputs import InputError
    from .scenario import load_scenario

    failed = 0
    for path in args.scenarios:
        kind = _file_kind(path)
        if kind != "scenario":
            try:
                print(_check_other(path, kind))
            except InputError as exc:
                failed += 1
                print_problems(exc)
            continue
        try:
            scenario = load_scenario(path)
        except InputError as exc:
            failed += 1
            print_problems(exc)
            continue
        run = scenario.run
        print(
            f"ok: {path}: scenario '{scenario.name}', {len(scenario.regions)} regions, {len(scenario.employers)} "
            f"employers, {run.start:%Y-%m} to {run.end:%Y-%m} in {run.steps} steps of {run.step_months} months"
        )
        try:
            record = run_changes_record(scenario, path, args.against)
        except InputError as exc:
            failed += 1
            print_problems(exc)
            continue
        if record is not None:
            print(describe_changes(record["changes"], record["reference"]))
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _file_kind(path: Path) -> str:
    """Return "calibration", "experiment" or "scenario" from a file's top-level keys (scenario if unreadable:
    loading it as one then says what is wrong with it)."""
    from .inputs import InputError, read_mapping

    try:
        data = read_mapping(path, InputError, "", "")
    except InputError:
        return "scenario"
    if "scenario" not in data:
        return "scenario"
    return "calibration" if "targets" in data and "parameters" in data else "experiment"


def _check_other(path: Path, kind: str) -> str:
    """Return the one-line summary of a valid experiment or calibration file (raises InputError if it is not)."""
    if kind == "calibration":
        from .calibrate.config import load_calibration

        calibration = load_calibration(path)
        cfg = calibration.config
        return (f"ok: {path}: calibration '{cfg.name}', {len(cfg.parameters)} parameters, {len(calibration.fitted)} "
                f"fitted targets ({len(calibration.targets)} in all); run it with `talentsim calibrate {path}`")
    from .experiment import load_experiment

    experiment = load_experiment(path)
    return (f"ok: {path}: experiment '{experiment.name}', {len(experiment.runs())} runs; "
            f"list them with `talentsim sweep {path} --dry-run`")


def add_schema(commands) -> None:
    """Add ``talentsim schema``: print the scenario reference."""
    p = commands.add_parser("schema", help="print the scenario reference (every key, type, range and default)")
    p.set_defaults(handler=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from .reference import reference_markdown

    print(reference_markdown())
    return EXIT_OK


def add_explore(commands) -> None:
    """Add ``talentsim explore``: the what-if explorer in the browser."""
    p = commands.add_parser("explore", help="start the what-if explorer in the browser (needs the explore extra)",
                            description="Start a local web app: a control for every lever of the scenario, the "
                            "migration and retention curves of the changed scenario over the starting one with "
                            "replicate bands, the paired difference and the headline table, updated as levers move; "
                            "save the change as a scenario file, download the HTML report. Needs the explore extra: "
                            "pip install -e \".[explore]\".")
    p.add_argument("scenario", type=Path, nargs="?", default=Path("scenarios/baseline.yaml"),
                   help="scenario to start from (default: scenarios/baseline.yaml)")
    p.add_argument("--replicates", type=positive_int, default=5, help="replicates at the start (default 5; "
                   "changeable on the page)")
    p.add_argument("--researchers", type=whole_number, default=10_000, help="researchers at the start of each run "
                   "(default 10,000; changeable on the page)")
    p.add_argument("--port", type=port_number, default=8765, help="port to serve on (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.set_defaults(handler=cmd_explore)


def cmd_explore(args: argparse.Namespace) -> int:
    from .scenario import ScenarioError, load_scenario

    scenario = load_scenario(args.scenario)  # a mistake in the file is reported here, before anything starts
    try:
        scenario.with_run(replicates=args.replicates, researchers=args.researchers)
    except ScenarioError as exc:
        raise BadInput("\n".join(as_option(problem) for problem in exc.problems)) from None
    try:
        from .explore_server import serve
    except ImportError as exc:
        raise BadInput(f"talentsim explore needs the explore extra ({exc.name} is missing): "
                       "pip install -e \".[explore]\"") from None
    from .explore_server import PortUnavailable

    try:
        return serve(args.scenario, host=args.host, port=args.port, replicates=args.replicates,
                     researchers=args.researchers)
    except PortUnavailable as exc:
        raise BadInput(str(exc)) from None


def add_calibrate(commands) -> None:
    """Add ``talentsim calibrate``: fit a scenario's parameters to published targets."""
    p = commands.add_parser("calibrate", help="fit a scenario's parameters to published targets")
    p.add_argument("config", type=Path, help="calibration file, e.g. experiments/calibration/baseline.yaml")
    p.add_argument("--no-recovery", action="store_true", help="skip the recovery check (fit the real targets only)")
    p.add_argument("--no-checks", action="store_true", help="skip the profiles and held-out checks")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the simulations on the Dask cluster whose scheduler is "
                   "at ADDRESS (needs the dask extra); default: local processes")
    p.add_argument("--quiet", action="store_true", help="print nothing but the summary")
    p.set_defaults(handler=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import load_calibration, run_calibration
    from .calibrate.abc import require_pyabc

    calibration = load_calibration(args.config)  # bad input is reported before any run starts
    from .extras import MissingExtra

    try:
        require_pyabc()
    except MissingExtra as exc:
        raise BadInput(str(exc)) from None
    cfg = calibration.config
    print(f"Calibrating {len(cfg.parameters)} parameters of {cfg.scenario} to {len(calibration.fitted)} fitted targets "
          f"({len(calibration.targets)} in all; {cfg.replicates} replicate(s) x {cfg.researchers:,} researchers per "
          "simulation)")
    client = None
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise BadInput("--scheduler needs the dask extra: pip install -e \".[dask]\"") from None
        client = Client(args.scheduler)
    try:
        fit = run_calibration(
            args.config, client=client, recovery=not args.no_recovery, checks=not args.no_checks,
            command="talentsim " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["calibrate"] else "",
            log=(lambda _: None) if args.quiet else print,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    fitted = [r for r in fit.table if r["weight"] > 0]
    within = sum(r["within"] for r in fitted)
    print(f"{within} of {len(fitted)} fitted targets within tolerance (ensemble medians); final ABC threshold "
          f"{fit.posterior.epsilons[-1]:.3f}; {fit.wall_seconds / 60:.1f} min on {fit.workers} worker(s)")
    for row in fit.table:
        print(f"  {row['label'][:72]:<72} published {row['published']:.3f}  simulated {row['simulated']:.3f} "
              f"[{row['low']:.3f}, {row['high']:.3f}]")
    print(f"Wrote {calibration.path(cfg.output)}, {calibration.ensemble_path} and {calibration.path(cfg.report)}")
    return EXIT_OK
