"""The ``talentsim`` command.

Exit codes: 0 ok, 2 bad input (with a message naming the file, key path and problem), 1 a failure of the system
(disk full, out of memory, a closed pipe) or an internal error, 130 interrupted; see :mod:`.failures`.
Heavy imports happen inside the commands, so ``talentsim --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """A mistake of the user's, reported without a traceback (exit code 2)."""


def _whole_number(text: str) -> int:
    """Parse a whole number; its range is checked by the scenario schema (see ``with_run``)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _seed(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _formats(text: str) -> tuple[str, ...]:
    allowed = ("parquet", "csv", "xlsx")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(allowed)}, comma-separated (got {text!r})")
    return formats


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

    p = commands.add_parser("run", help="run a scenario and write tables, figures and a manifest")
    p.add_argument("scenario", type=Path, help="scenario YAML file, e.g. scenarios/baseline.yaml")
    p.add_argument("--out", type=Path, help="output folder (default: results/SCENARIO_NAME)")
    p.add_argument("--seed", type=_seed, help="root seed (default: run.seed of the scenario)")
    p.add_argument("--replicates", type=_positive_int, help="replicates (default: run.replicates)")
    p.add_argument("--researchers", type=_whole_number, help="researchers at the start (default: run.researchers)")
    p.add_argument("--format", type=_formats, default=("parquet", "csv"),
                   help="table formats: parquet,csv,xlsx (default parquet,csv); xlsx writes every table to one "
                   "workbook, results.xlsx, with a notes sheet (Parquet is written too when xlsx is the only format, "
                   "so that plot, compare and report can read the folder)")
    p.add_argument("--no-figures", action="store_true", help="write tables only")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no headline table")
    p.add_argument("--ensemble", type=Path, metavar="FILE",
                   help="parameter ensemble (e.g. scenarios/base/calibrated.ensemble.parquet): replicate i uses draw i, "
                        "so intervals show parameter uncertainty as well as replicate noise")
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("validate", help="check scenario files without running them; list what each changes",
                            description="Check scenario files without running them, and list every lever (and "
                            "setting) each one changes, from when, from what value to what value: against the "
                            "scenario it extends, or against --against.")
    p.add_argument("scenarios", type=Path, nargs="+", help="scenario YAML file(s)")
    p.add_argument("--against", type=Path, metavar="SCENARIO",
                   help="list changes against this scenario file (default: the file each one extends)")
    p.set_defaults(handler=cmd_validate)

    p = commands.add_parser("schema", help="print the scenario reference (every key, type, range and default)")
    p.set_defaults(handler=cmd_schema)

    p = commands.add_parser("plot", help="draw the figures of a run's results folder (PNG, SVG, PDF)",
                            description="Draw report-ready figures from the results folder of 'talentsim run': "
                            "migration curves, migration by origin, home retention, cohort stay curves with "
                            "published stay rates, flows between regions, employer headcounts. Given the results "
                            "folder of 'talentsim sweep', draw the sweep figures instead.")
    p.add_argument("results", type=Path, help="results folder (the --out of 'talentsim run' or 'talentsim sweep')")
    p.add_argument("--out", type=Path, help="folder for the figures (default: RESULTS/figures)")
    p.add_argument("--format", type=_figure_formats, default=("png", "svg", "pdf"),
                   help="figure formats: png,svg,pdf (default all three)")
    p.add_argument("--dpi", type=_positive_int, default=300, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--tier", default="top_tier", help="tier of the migration and retention curves, e.g. top_tier, "
                   "elite or all (default top_tier; any tier the results hold)")
    p.add_argument("--period", type=_period, help="years of the flow figure, e.g. 2025:2030 (default: from the "
                   "first policy change to the end of the run)")
    p.add_argument("--only", type=_names_list, help="comma-separated figure names (default: all); run figures: "
                   "migration_curve, migration_by_origin, retention_curve, cohort_stay, flows, employers")
    p.add_argument("--outcome", help="sweeps: outcome to plot (default: every outcome of the sweep)")
    p.add_argument("--levers", type=_names_list, help="sweeps: two parameter columns for the heatmap, e.g. a,b")
    p.add_argument("--threshold", type=float, help="sweeps: outcome value drawn as a contour and a line, e.g. 0.35 "
                   "(for a share of 35%%); name its outcome with --outcome")
    p.set_defaults(handler=cmd_plot)

    p = commands.add_parser("compare", help="compare scenarios' results with a baseline: figures and indicators",
                            description="Compare the results folders of several runs with the first (the "
                            "baseline): migration curves on shared axes, the difference from the baseline with its "
                            "replicate band, and a table of headline indicators with intervals.")
    p.add_argument("baseline", type=Path, help="results folder of the baseline run")
    p.add_argument("others", type=Path, nargs="+", help="results folder(s) of the runs to compare with it")
    p.add_argument("--at", type=_years, help="year(s) of the indicator table, e.g. 2030 or 2025,2030 "
                   "(default 2030, or the last year all runs cover)")
    p.add_argument("--tier", default="top_tier", help="tier of the curves, e.g. top_tier, elite or all (default "
                   "top_tier; any tier the results hold)")
    p.add_argument("--out", type=Path, help="folder for the figures and table (default: results/compare_A_vs_B)")
    p.add_argument("--format", type=_compare_formats, default=("png", "svg", "pdf"),
                   help="figure formats png,svg,pdf and, for the table, xlsx (a workbook with a notes sheet); "
                   "default png,svg,pdf")
    p.add_argument("--dpi", type=_positive_int, default=300, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--unpaired", action="store_true",
                   help="compare runs that share no replicate seeds (differences then include the noise between "
                   "replicates and are labelled UNPAIRED); by default such runs are refused")
    p.add_argument("--report", type=Path, metavar="FILE", help="also write a self-contained HTML comparison report")
    p.add_argument("--quiet", action="store_true", help="do not print the indicator table")
    p.set_defaults(handler=cmd_compare)

    p = commands.add_parser("report", help="write a self-contained HTML report of a run's or a sweep's results",
                            description="Write one HTML file (figures embedded, no server or network needed) with "
                            "the scenario's description, headline indicators, figures with captions and sources, "
                            "and the run's provenance. Given the results folder of 'talentsim sweep', the sweep "
                            "report: the question, the design, the robustness of each policy, sensitivity indices, "
                            "scenario discovery and their figures, and provenance ('talentsim analyze' options).")
    p.add_argument("results", type=Path, help="results folder (the --out of 'talentsim run' or 'talentsim sweep')")
    p.add_argument("-o", "--output", type=Path, help="HTML file to write (default: RESULTS/report.html)")
    p.add_argument("--at", type=_years, help="years of the indicator table (default: start, 2025, 2030, end)")
    p.add_argument("--tier", default="top_tier", help="tier of the migration and retention curves, e.g. top_tier, "
                   "elite or all (default top_tier; any tier the results hold)")
    p.add_argument("--period", type=_period, help="years of the flow figure, e.g. 2025:2030 (default: from the "
                   "first policy change to the end of the run)")
    _analysis_options(p, "sweeps: ")
    p.set_defaults(handler=cmd_report)

    p = commands.add_parser(
        "analyze", help="analyse a sweep: sensitivity indices, robustness per policy, scenario discovery",
        description="Read the results folder of 'talentsim sweep' (finished or not) and write, as Parquet tables "
        "and figures: Sobol indices (saltelli design) or Morris screening (morris design) of every outcome; the "
        "share of each outcome's variance due to each lever and to seeds; for an outcome and a threshold, the "
        "robustness of every lever arm (share of runs meeting it, median and 90%% range, regret against the best "
        "arm of the same draw) and the PRIM box of the runs meeting it; parallel coordinates and curves by arm. "
        "Defaults for the outcome and threshold come from the experiment file's analysis: section.",
        epilog="Example: talentsim analyze results/visa_policy_lhs --outcome us_top_tier_share_2030 --above 0.35",
    )
    p.add_argument("results", type=Path, help="results folder (the --out of 'talentsim sweep')")
    _analysis_options(p, "")
    p.add_argument("--outcomes", type=_names_list, help="outcomes of the sensitivity analysis, comma-separated "
                   "(default: every outcome)")
    p.add_argument("--out", type=Path, help="folder for the tables and figures (default: RESULTS/analysis)")
    p.add_argument("--format", type=_figure_formats, default=("png",), help="figure formats: png,svg,pdf (default png)")
    p.add_argument("--dpi", type=_positive_int, default=300, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--quiet", action="store_true", help="do not print the results")
    p.set_defaults(handler=cmd_analyze)

    p = commands.add_parser(
        "sweep", help="run an experiment: policy levers x uncertainties x replicates, on local cores or a Dask cluster",
        description="Run every run of an experiment file (experiments/*.yaml) and store its outcomes and curves in "
        "a results folder that survives interruption: stop it at any time (Ctrl-C, or even kill -9) and run the "
        "same command with --resume to finish. Runs go to local worker processes (all cores) by default, or to a "
        "Dask cluster given its scheduler address. Read the results with simulation.read_experiment(FOLDER).",
        epilog="Exit codes: 0 every run finished, 3 some runs failed (listed; --resume retries them), "
        "2 bad input, 1 internal error, 130 interrupted.",
    )
    p.add_argument("experiment", type=Path, help="experiment YAML file, e.g. experiments/bonus_vs_state_funding.yaml")
    p.add_argument("--out", type=Path, metavar="DIR", help="results folder (default: results/EXPERIMENT_NAME)")
    p.add_argument("--workers", type=_workers, metavar="N", help="local worker processes (default: every core; 0 = run in "
                   "this process); with --cluster local, the local Dask workers")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster whose scheduler is at ADDRESS, "
                       "e.g. tcp://10.0.0.5:8786 (needs the dask extra)")
    where.add_argument("--cluster", choices=("local",), help="start a Dask cluster on this machine for the sweep")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out: keep finished runs, run "
                   "missing and failed ones")
    p.add_argument("--dry-run", action="store_true", help="check the experiment and show its runs without running them")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table of outcomes")
    p.set_defaults(handler=cmd_sweep)
    p = commands.add_parser("explore", help="start the what-if explorer in the browser (needs the explore extra)",
                            description="Start a local web app: a control for every lever of the scenario, the "
                            "migration and retention curves of the changed scenario over the starting one with "
                            "replicate bands, the paired difference and the headline table, updated as levers move; "
                            "save the change as a scenario file, download the HTML report. Needs the explore extra: "
                            "pip install -e \".[explore]\".")
    p.add_argument("scenario", type=Path, nargs="?", default=Path("scenarios/baseline.yaml"),
                   help="scenario to start from (default: scenarios/baseline.yaml)")
    p.add_argument("--replicates", type=_positive_int, default=5, help="replicates at the start (default 5; "
                   "changeable on the page)")
    p.add_argument("--researchers", type=_whole_number, default=10_000, help="researchers at the start of each run "
                   "(default 10,000; changeable on the page)")
    p.add_argument("--port", type=_port, default=8765, help="port to serve on (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.set_defaults(handler=cmd_explore)

    p = commands.add_parser("calibrate", help="fit a scenario's parameters to published targets")
    p.add_argument("config", type=Path, help="calibration file, e.g. experiments/calibration/baseline.yaml")
    p.add_argument("--no-recovery", action="store_true", help="skip the recovery check (fit the real targets only)")
    p.add_argument("--no-checks", action="store_true", help="skip the profiles and held-out checks")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the simulations on the Dask cluster whose scheduler is "
                   "at ADDRESS (needs the dask extra); default: local processes")
    p.add_argument("--quiet", action="store_true", help="print nothing but the summary")
    p.set_defaults(handler=cmd_calibrate)

    return parser


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
        raise BadInput("\n".join(_as_option(problem) for problem in exc.problems)) from None
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


def _port(text: str) -> int:
    value = _whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (got {value})")
    return value


def cmd_explore(args: argparse.Namespace) -> int:
    from .scenario import ScenarioError, load_scenario

    scenario = load_scenario(args.scenario)  # a mistake in the file is reported here, before anything starts
    try:
        scenario.with_run(replicates=args.replicates, researchers=args.researchers)
    except ScenarioError as exc:
        raise BadInput("\n".join(_as_option(problem) for problem in exc.problems)) from None
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


def _write_run_xlsx(result, out: Path) -> Path:
    """Write results.xlsx into ``out`` and list it in the run's manifest (rewritten in place)."""
    import json

    from .outputs import write_text
    from .spreadsheet import write_run_xlsx

    path = write_run_xlsx(result, out / "results.xlsx")
    result.manifest["files"] = sorted(set(result.manifest.get("files", [])) | {path.name})
    write_text(out / "manifest.json", json.dumps(result.manifest, indent=2, default=str) + "\n")
    return path


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


def cmd_validate(args: argparse.Namespace) -> int:
    from .changes import describe_changes, run_changes_record
    from .failures import print_problems
    from .inputs import InputError
    from .scenario import load_scenario

    failed = 0
    for path in args.scenarios:
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


def cmd_schema(args: argparse.Namespace) -> int:
    from .reference import reference_markdown

    print(reference_markdown())
    return EXIT_OK


def _figure_formats(text: str) -> tuple[str, ...]:
    allowed = ("png", "svg", "pdf")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(allowed)}, comma-separated (got {text!r})")
    return formats


def _compare_formats(text: str) -> tuple[str, ...]:
    allowed = ("png", "svg", "pdf", "xlsx")
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in allowed]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(allowed)}, comma-separated (got {text!r})")
    return formats


def _years(text: str) -> list[float]:
    try:
        years = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a year or comma-separated years, e.g. 2030 or 2025,2030 "
                                         f"(got {text!r})") from None
    if not years:
        raise argparse.ArgumentTypeError("give at least one year, e.g. 2030")
    return years


def _period(text: str) -> tuple[float, float]:
    parts = text.replace("-", ":").split(":")
    try:
        start, end = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be START:END in years, e.g. 2019:2025 (got {text!r})") from None
    if end <= start:
        raise argparse.ArgumentTypeError(f"must end after it starts, e.g. 2019:2025 (got {text!r})")
    return start, end


def _names_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _results_folder(folder: Path) -> Path:
    if not folder.exists():
        raise BadInput(f"{folder}: no such folder; give the --out folder of 'talentsim run'")
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder; give the --out folder of 'talentsim run'")
    return folder


def _check_period(period, result) -> None:
    if period is None:
        return
    first, last = float(result.stocks["year"].min()), float(result.stocks["year"].max())
    if period[0] < first - 1e-9 or period[1] > last + 1e-9:
        raise BadInput(f"--period {period[0]:g}:{period[1]:g}: the run covers {first:g} to {last:g}; choose years "
                       "inside it")


def cmd_plot(args: argparse.Namespace) -> int:
    folder = _results_folder(args.results)
    if not (folder / "manifest.json").exists():
        return _plot_experiment(args, folder)
    from .plots import RUN_FIGURES, run_figures, save_figure
    from .results import load_results

    unknown = [name for name in args.only or [] if name not in RUN_FIGURES]
    if unknown:
        raise BadInput(f"--only: unknown figure(s) {', '.join(unknown)}; choose from {', '.join(RUN_FIGURES)}")
    result = load_results(folder)
    _check_period(args.period, result)
    _check_tier(args.tier, result)
    out = args.out or folder / "figures"
    written = []
    for name, fig in run_figures(result, tier=args.tier, period=args.period, names=args.only):
        written += save_figure(fig, out / name, args.format, dpi=args.dpi)
    for path in written:
        print(path)
    return EXIT_OK


def _plot_experiment(args: argparse.Namespace, folder: Path) -> int:
    import simulation

    read_experiment = getattr(simulation, "read_experiment", None)
    if read_experiment is None:
        raise BadInput(f"{folder}: no manifest.json; give the --out folder of 'talentsim run'")
    from .plots import FigureOptionError, save_figure, sweep_figures

    experiment = read_experiment(folder)
    out = args.out or folder / "figures"
    written = []
    try:
        for name, fig in sweep_figures(experiment, outcome=args.outcome, levers=args.levers,
                                       threshold=args.threshold):
            written += save_figure(fig, out / name, args.format, dpi=args.dpi)
    except FigureOptionError as exc:
        raise BadInput(str(exc)) from None
    for path in written:
        print(path)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:

    from .compare import (CompareError, compare_table, csv_table, format_compare_table, load_many,
                          plot_compare_curves, plot_compare_difference, scenario_labels)
    from .outputs import atomic_write, folder_for
    from .plots import save_figure

    folders = [_results_folder(f) for f in (args.baseline, *args.others)]
    results = load_many(folders)
    labels = scenario_labels(results)
    _check_tier(args.tier, results[0])
    try:
        table = compare_table(results, args.at, unpaired=args.unpaired)
    except CompareError as exc:
        raise BadInput(str(exc)) from None
    out = args.out or folder_for("results", "compare_" + "_vs_".join(labels))
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder; choose another path")
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write(out / "compare.csv", lambda tmp: csv_table(table).to_csv(tmp, index=False))]
    if "xlsx" in args.format:
        from .spreadsheet import write_comparison_xlsx

        written.append(write_comparison_xlsx(results, table, out / "compare.xlsx"))
    figure_formats = [f for f in args.format if f != "xlsx"]
    if figure_formats:
        written += save_figure(plot_compare_curves(results, tier=args.tier), out / "compare_curves", figure_formats,
                               dpi=args.dpi)
        written += save_figure(plot_compare_difference(results, tier=args.tier, unpaired=args.unpaired),
                               out / "compare_difference", figure_formats, dpi=args.dpi)
    if args.report:
        from .report import write_comparison_report

        written.append(write_comparison_report(results, args.report, at=args.at, tier=args.tier, folders=folders,
                                               unpaired=args.unpaired))
    if not args.quiet:
        from .changes import changes_between, describe_changes

        for label, result in zip(labels[1:], results[1:]):
            print(describe_changes(changes_between(results[0].scenario, result.scenario), labels[0])
                  .replace("Changes from", f"'{label}' changes from", 1) + "\n")
        names = {k: r.name for k, r in results[0].scenario.regions.items()}
        print(format_compare_table(table, names))
        print(f"\nWrote {len(written)} files: {out}/ ({', '.join(p.name for p in written if p.parent == out)})"
              + (f" and {args.report}" if args.report else ""))
    return EXIT_OK


def _check_tier(tier: str, result) -> None:
    tiers = list(dict.fromkeys(result.stocks["tier"]))
    if tier not in tiers:
        raise BadInput(f"--tier {tier}: the results hold the tiers {', '.join(tiers)}; choose one of them")


def _analysis_options(p: argparse.ArgumentParser, prefix: str) -> None:
    p.add_argument("--outcome", help=f"{prefix}outcome of the robustness table and scenario discovery: a name, or "
                   "arithmetic of names in quotes, e.g. 'china_share_2030 - us_share_2030' (default: the experiment "
                   "file's analysis.outcome, or the first outcome)")
    threshold = p.add_mutually_exclusive_group()
    threshold.add_argument("--above", type=float, metavar="X", help=f"{prefix}a run meets the threshold when the "
                           "outcome is at least X (higher is better); shares are fractions, e.g. 0.35")
    threshold.add_argument("--below", type=float, metavar="X", help=f"{prefix}a run meets the threshold when the "
                           "outcome is at most X (lower is better)")
    p.add_argument("--label", help=f"{prefix}label of the outcome in tables and figures")
    p.add_argument("--sensitivity", choices=("auto", "sobol", "morris", "none"), default="auto",
                   help=f"{prefix}sensitivity analysis (default auto: what the design supports)")
    p.add_argument("--density", type=float, help=f"{prefix}PRIM: choose the box of largest coverage with at least "
                   "this density (default 0.8, or the experiment file's analysis.density)")
    p.add_argument("--box", type=_whole_number, metavar="STEP", help=f"{prefix}PRIM: choose this step of the "
                   "peeling trajectory instead")


def _analysis(args: argparse.Namespace, folder: Path):
    from .analysis import AnalysisError, analyze
    from .extras import MissingExtra
    from .store import read_experiment

    results = read_experiment(folder)
    try:
        return analyze(results, outcomes=getattr(args, "outcomes", None), outcome=args.outcome, above=args.above,
                       below=args.below, label=args.label, sensitivity=args.sensitivity, density=args.density,
                       step=args.box)
    except (AnalysisError, MissingExtra) as exc:
        raise BadInput(str(exc)) from None


def cmd_analyze(args: argparse.Namespace) -> int:
    folder = args.results
    if not folder.is_dir():
        raise BadInput(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}; give the --out folder "
                       "of 'talentsim sweep'")
    if not (folder / "experiment.json").exists():
        what = "holds one run ('talentsim run')" if (folder / "manifest.json").exists() else "holds no sweep"
        raise BadInput(f"{folder}: {what}; analyze reads the results folder of 'talentsim sweep' (with experiment.json)")
    analysis = _analysis(args, folder)
    out = args.out or folder / "analysis"
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder; choose another path")
    written = analysis.save(out, args.format, dpi=args.dpi)
    if not args.quiet:
        print(analysis.summary())
        print()
    print(f"Wrote {len(written)} files to {out}/: " + ", ".join(p.name for p in written))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .compare import CompareError
    from .report import write_report
    from .results import load_results

    folder = _results_folder(args.results)
    if not (folder / "manifest.json").exists() and (folder / "experiment.json").exists():
        return _report_sweep(args, folder)
    result = load_results(folder)
    _check_period(args.period, result)
    _check_tier(args.tier, result)
    output = args.output or folder / "report.html"
    if output.exists() and output.is_dir():
        raise BadInput(f"--output {output}: is a folder; give the HTML file to write, e.g. {output}/report.html")
    try:
        path = write_report(result, output, years=args.at, tier=args.tier, period=args.period, folder=folder)
    except CompareError as exc:
        raise BadInput(f"--at: {exc}") from None
    print(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained: open it in any browser)")
    return EXIT_OK


def _report_sweep(args: argparse.Namespace, folder: Path) -> int:
    from .sweep_report import write_sweep_report

    for option in ("at", "period"):
        if getattr(args, option) is not None:
            raise BadInput(f"--{option} applies to the report of a run; {folder} holds a sweep")
    analysis = _analysis(args, folder)
    output = args.output or folder / "report.html"
    if output.exists() and output.is_dir():
        raise BadInput(f"--output {output}: is a folder; give the HTML file to write, e.g. {output}/report.html")
    path = write_sweep_report(analysis, output, folder=folder)
    print(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB, self-contained: open it in any browser)")
    return EXIT_OK


EXIT_RUNS_FAILED, EXIT_INTERRUPTED = 3, 130


def _workers(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (run in this process) or more (got {value})")
    return value


def cmd_sweep(args: argparse.Namespace) -> int:
    from .executors import MissingExtra, SweepInterrupted, WorkerStartError, sweep
    from .experiment import lever_arms, load_experiment, uncertainty_samples
    from .outputs import folder_for
    from .resources import check_memory
    from .store import SweepError, read_experiment

    if args.scheduler and args.workers is not None:
        raise BadInput("--workers applies to local processes and --cluster local; the workers of a cluster are set "
                       "when they are started: dask worker ADDRESS --nworkers N --nthreads 1")
    experiment = load_experiment(args.experiment)
    d = experiment.definition
    plan = experiment.runs()
    if args.dry_run:
        arms, samples = lever_arms(d), uncertainty_samples(d)
        print(f"ok: {args.experiment}: experiment '{d.name}' on scenario '{experiment.base.name}': {len(plan)} runs = "
              f"{len(arms)} lever arm(s) x {len(samples)} uncertainty sample(s) ({d.sampling.method if d.uncertainties else 'none'}) "
              f"x {d.replicates} replicate(s); {experiment.base.run.researchers:,} researchers, "
              f"{experiment.base.run.start:%Y-%m} to {experiment.base.run.end:%Y-%m}")
        for name, lever in d.levers.items():
            print(f"  lever {name}: {', '.join(map(str, lever.values))}")
        for name, uncertainty in d.uncertainties.items():
            print(f"  uncertainty {name}: {uncertainty.describe()}")
        print(f"  outcomes: {', '.join(d.outcomes)}" + (f"; curves: {', '.join(d.curves)}" if d.curves else ""))
        return EXIT_OK
    out = args.out or folder_for("results", d.name)
    if not args.resume:
        check_memory(experiment.base, option=f"{args.experiment}: run.researchers", copies=_sweep_copies(args))
    try:
        summary = sweep(experiment, out, workers=args.workers, scheduler=args.scheduler, cluster=args.cluster,
                        resume=args.resume, progress=not args.quiet)
    except (SweepError, MissingExtra, ConnectionError) as exc:
        raise BadInput(str(exc)) from None
    except WorkerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except SweepInterrupted as stop:
        print("\n" + stop.summary.format(_resume_command(args, out)), file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet and summary.done + summary.skipped:
        from .sweep_results import format_outcomes_by_arm

        print(format_outcomes_by_arm(read_experiment(out)) + "\n")
    print(summary.format(_resume_command(args, out)))
    return EXIT_OK if summary.ok else EXIT_RUNS_FAILED


def _sweep_copies(args: argparse.Namespace) -> int:
    """Return how many runs of a sweep share this machine's memory at once."""
    if args.scheduler:
        return 0  # the runs happen on the cluster's machines
    if args.workers == 0:
        return 1
    from .executors import default_workers

    return args.workers or default_workers()


def _resume_command(args: argparse.Namespace, out: Path) -> str:
    where = f" --scheduler {args.scheduler}" if args.scheduler else (f" --cluster {args.cluster}" if args.cluster else "")
    workers = f" --workers {args.workers}" if args.workers is not None else ""
    return f"talentsim sweep {args.experiment} --out {out}{workers}{where} --resume"


def _as_option(problem) -> str:
    """Return a problem with a run setting as the command-line option that set it (run.seed -> --seed)."""
    if problem.path.startswith("run."):
        option = "--" + problem.path.removeprefix("run.")
        got = f" (got {problem.value})" if problem.has_value else ""
        return f"{option}: {problem.message}{got}"
    return str(problem)


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
