"""The commands that read results folders: ``plot``, ``compare``, ``report`` and ``analyze``.

``plot`` and ``report`` take the folder of a run or of a sweep and do what fits; ``analyze`` takes a sweep's.
Each command has a function that adds its options to the parser (``add_plot``...) and one that carries it out
(``cmd_plot``...), returning the exit code. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli_options import (BadInput, check_period, check_tier, compare_formats, figure_formats, name_list,
                          positive_int, results_folder, whole_number, year_list, year_period)
from .failures import EXIT_OK

__all__ = ["add_analyze", "add_compare", "add_plot", "add_report", "cmd_analyze", "cmd_compare", "cmd_plot",
           "cmd_report"]


def add_plot(commands) -> None:
    """Add ``talentsim plot``: the figures of a run's or a sweep's results folder."""
    p = commands.add_parser("plot", help="draw the figures of a run's results folder (PNG, SVG, PDF)",
                            description="Draw report-ready figures from the results folder of 'talentsim run': "
                            "migration curves, migration by origin, home retention, cohort stay curves with "
                            "published stay rates, flows between regions, employer headcounts. Given the results "
                            "folder of 'talentsim sweep', draw the sweep figures instead.")
    p.add_argument("results", type=Path, help="results folder (the --out of 'talentsim run' or 'talentsim sweep')")
    p.add_argument("--out", type=Path, help="folder for the figures (default: RESULTS/figures)")
    p.add_argument("--format", type=figure_formats, default=("png", "svg", "pdf"),
                   help="figure formats: png,svg,pdf (default all three)")
    p.add_argument("--dpi", type=positive_int, default=300, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--tier", default="top_tier", help="tier of the migration and retention curves, e.g. top_tier, "
                   "elite or all (default top_tier; any tier the results hold)")
    p.add_argument("--period", type=year_period, help="years of the flow figure, e.g. 2025:2030 (default: from the "
                   "first policy change to the end of the run)")
    p.add_argument("--only", type=name_list, help="comma-separated figure names (default: all); run figures: "
                   "migration_curve, migration_by_origin, retention_curve, cohort_stay, flows, employers")
    p.add_argument("--outcome", help="sweeps: outcome to plot (default: every outcome of the sweep)")
    p.add_argument("--levers", type=name_list, help="sweeps: two parameter columns for the heatmap, e.g. a,b")
    p.add_argument("--threshold", type=float, help="sweeps: outcome value drawn as a contour and a line, e.g. 0.35 "
                   "(for a share of 35%%); name its outcome with --outcome")
    p.set_defaults(handler=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    folder = results_folder(args.results)
    if not (folder / "manifest.json").exists():
        return _plot_experiment(args, folder)
    from .plots import RUN_FIGURES, run_figures, save_figure
    from .results import load_results

    unknown = [name for name in args.only or [] if name not in RUN_FIGURES]
    if unknown:
        raise BadInput(f"--only: unknown figure(s) {', '.join(unknown)}; choose from {', '.join(RUN_FIGURES)}")
    result = load_results(folder)
    check_period(args.period, result)
    check_tier(args.tier, result)
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


def add_compare(commands) -> None:
    """Add ``talentsim compare``: scenarios' results against a baseline."""
    p = commands.add_parser("compare", help="compare scenarios' results with a baseline: figures and indicators",
                            description="Compare the results folders of several runs with the first (the "
                            "baseline): migration curves on shared axes, the difference from the baseline with its "
                            "replicate band, and a table of headline indicators with intervals.")
    p.add_argument("baseline", type=Path, help="results folder of the baseline run")
    p.add_argument("others", type=Path, nargs="+", help="results folder(s) of the runs to compare with it")
    p.add_argument("--at", type=year_list, help="year(s) of the indicator table, e.g. 2030 or 2025,2030 "
                   "(default 2030, or the last year all runs cover)")
    p.add_argument("--tier", default="top_tier", help="tier of the curves, e.g. top_tier, elite or all (default "
                   "top_tier; any tier the results hold)")
    p.add_argument("--out", type=Path, help="folder for the figures and table (default: results/compare_A_vs_B)")
    p.add_argument("--format", type=compare_formats, default=("png", "svg", "pdf"),
                   help="figure formats png,svg,pdf and, for the table, xlsx (a workbook with a notes sheet); "
                   "default png,svg,pdf")
    p.add_argument("--dpi", type=positive_int, default=300, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--unpaired", action="store_true",
                   help="compare runs that share no replicate seeds (differences then include the noise between "
                   "replicates and are labelled UNPAIRED); by default such runs are refused")
    p.add_argument("--report", type=Path, metavar="FILE", help="also write a self-contained HTML comparison report")
    p.add_argument("--quiet", action="store_true", help="do not print the indicator table")
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:

    from .compare import CompareError, compare_table, csv_table, format_compare_table, load_many, scenario_labels
    from .compare_plots import plot_compare_curves, plot_compare_difference
    from .outputs import atomic_write, folder_for
    from .plots import save_figure

    folders = [results_folder(f) for f in (args.baseline, *args.others)]
    results = load_many(folders)
    labels = scenario_labels(results)
    check_tier(args.tier, results[0])
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


def add_report(commands) -> None:
    """Add ``talentsim report``: the HTML report of a run or a sweep."""
    p = commands.add_parser("report", help="write a self-contained HTML report of a run's or a sweep's results",
                            description="Write one HTML file (figures embedded, no server or network needed) with "
                            "the scenario's description, headline indicators, figures with captions and sources, "
                            "and the run's provenance. Given the results folder of 'talentsim sweep', the sweep "
                            "report: the question, the design, the robustness of each policy, sensitivity indices, "
                            "scenario discovery and their figures, and provenance ('talentsim analyze' options).")
    p.add_argument("results", type=Path, help="results folder (the --out of 'talentsim run' or 'talentsim sweep')")
    p.add_argument("-o", "--output", type=Path, help="HTML file to write (default: RESULTS/report.html)")
    p.add_argument("--at", type=year_list, help="years of the indicator table (default: start, 2025, 2030, end)")
    p.add_argument("--tier", default="top_tier", help="tier of the migration and retention curves, e.g. top_tier, "
                   "elite or all (default top_tier; any tier the results hold)")
    p.add_argument("--period", type=year_period, help="years of the flow figure, e.g. 2025:2030 (default: from the "
                   "first policy change to the end of the run)")
    analysis_options(p, "sweeps: ")
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from .compare import CompareError
    from .report import write_report
    from .results import load_results

    folder = results_folder(args.results)
    if not (folder / "manifest.json").exists() and (folder / "experiment.json").exists():
        return _report_sweep(args, folder)
    result = load_results(folder)
    check_period(args.period, result)
    check_tier(args.tier, result)
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


def add_analyze(commands) -> None:
    """Add ``talentsim analyze``: sensitivity, robustness and scenario discovery of a sweep."""
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
    analysis_options(p, "")
    p.add_argument("--outcomes", type=name_list, help="outcomes of the sensitivity analysis, comma-separated "
                   "(default: every outcome)")
    p.add_argument("--out", type=Path, help="folder for the tables and figures (default: RESULTS/analysis)")
    p.add_argument("--format", type=figure_formats, default=("png",), help="figure formats: png,svg,pdf (default png)")
    p.add_argument("--dpi", type=positive_int, default=300, help="PNG resolution in dots per inch (default 300)")
    p.add_argument("--quiet", action="store_true", help="do not print the results")
    p.set_defaults(handler=cmd_analyze)


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


def analysis_options(p: argparse.ArgumentParser, prefix: str) -> None:
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
    p.add_argument("--box", type=whole_number, metavar="STEP", help=f"{prefix}PRIM: choose this step of the "
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
