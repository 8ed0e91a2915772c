"""What a calibration writes: the calibrated scenario (point estimate), the ensemble, the figures and the report."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import yaml

from ..ensemble import write_ensemble
from ..outputs import write_text
from .config import Calibration, changed_values
from .fit import Fit

__all__ = ["report_markdown", "write_calibrated_scenario", "write_outputs"]


def write_outputs(calibration: Calibration, fit: Fit, command: str) -> list[Path]:
    """Write the calibrated scenario, the ensemble, the figures and the report; return their paths."""
    cfg = calibration.config
    written = [write_calibrated_scenario(calibration, fit, command)]
    info = {"calibration": str(calibration.file.name), "command": command, "created": f"{dt.date.today():%Y-%m-%d}",
            "method": "ABC-SMC (pyabc)", "final_threshold": fit.posterior.epsilons[-1],
            "simulations": fit.posterior.simulations}
    written.append(write_ensemble(calibration.ensemble_path, fit.draws, {n: p.place for n, p in cfg.parameters.items()}, info))
    figures = calibration_figures(calibration, fit)
    report = calibration.path(cfg.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    written.append(write_text(report, report_markdown(calibration, fit, command, figures)))
    return written + figures


def write_calibrated_scenario(calibration: Calibration, fit: Fit, command: str) -> Path:
    """Write the point estimate into the output scenario file (it extends the starting scenario)."""
    out = calibration.path(calibration.config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    parent = os.path.relpath(calibration.path(calibration.config.scenario), out.parent)
    body = {"extends": parent, "name": f"{calibration.scenario.name}_calibrated"}
    body.update(changed_values(calibration, fit.point))
    header = (
        f"# Written by `{command}` on {dt.date.today():%Y-%m-%d}: do not edit by hand.\n"
        f"# Point estimate (weighted posterior medians) of the parameters in "
        f"{os.path.relpath(calibration.file, out.parent)}.\n"
        f"# The parameter ensemble is {os.path.relpath(calibration.ensemble_path, out.parent)}: run with "
        f"`--ensemble` to carry parameter uncertainty. Fit report: "
        f"{os.path.relpath(calibration.path(calibration.config.report), out.parent)}\n"
    )
    return write_text(out, header + yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=110))


# --------------------------------------------------------------------------------------------------------------
# Figures


def calibration_figures(calibration: Calibration, fit: Fit) -> list[Path]:
    """Save the report's figures (PNG) and return their paths."""
    from ..plots import save_figure

    folder = calibration.path(calibration.config.figures)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    written = save_figure(_ensemble_curves(calibration, fit), folder / "ensemble_migration_curve")
    written += save_figure(_fit_dots(calibration, fit), folder / "targets")
    written += save_figure(_marginals(calibration, fit), folder / "ensemble_parameters")
    if fit.profile:
        written += save_figure(_profiles(calibration, fit), folder / "profiles")
    return written


def _ensemble_curves(calibration: Calibration, fit: Fit):
    from ..style import NEUTRAL, add_caption, add_title, new_figure, percent_axis, region_colours

    table = fit.curves
    regions = list(calibration.scenario.region_ids)
    colours = region_colours(regions)
    fig, ax = new_figure(3.6)
    for region in regions:
        rows = table[table["region"] == region]
        band = rows.groupby("year")["value"].quantile([0.05, 0.5, 0.95]).unstack()
        ax.fill_between(band.index, band[0.05], band[0.95], color=colours[region], alpha=0.2, lw=0)
        ax.plot(band.index, band[0.5], color=colours[region], lw=1.8, label=region)
    for _name, target in calibration.targets.items():
        outcome = target.outcome
        if outcome.kind == "share" and outcome.tier == "top_tier" and outcome.origin is None:
            ax.errorbar(outcome.year, target.value, yerr=target.tolerance, fmt="o", ms=4, color=colours.get(outcome.region, NEUTRAL),
                        mec=NEUTRAL, ecolor=NEUTRAL, capsize=2, zorder=5)
    percent_axis(ax.yaxis)
    ax.set_xlabel("Year")
    ax.set_ylabel("Share of top-tier researchers")
    ax.legend(frameon=False, ncol=len(regions), loc="upper right", fontsize=8)
    add_title(fig, "Where top-tier researchers work, across the parameter ensemble")
    add_caption(fig, f"Lines: median of {table['draw'].nunique()} ensemble draws (one replicate each); bands: central 90% "
                "(parameter uncertainty and replicate noise). Points: published targets with their tolerance "
                "(MacroPolo Global AI Talent Tracker 2019, 2022).")
    return fig


def _fit_dots(calibration: Calibration, fit: Fit):
    from ..style import NEUTRAL, add_caption, add_title, new_figure

    rows = fit.table
    fig, ax = new_figure(0.28 * len(rows) + 1.2)
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        colour = "#0072B2" if r["weight"] > 0 else "#999999"
        ax.plot([r["published"] - r["tolerance"], r["published"] + r["tolerance"]], [yi, yi], color=NEUTRAL, lw=5, alpha=0.15)
        ax.plot(r["published"], yi, "|", color=NEUTRAL, ms=10)
        ax.plot([r["low"], r["high"]], [yi, yi], color=colour, lw=1.5)
        ax.plot(r["simulated"], yi, "o", color=colour, ms=4)
    ax.set_yticks(y, [f"{r['code']}: {r['target']}" for r in rows], fontsize=7)
    ax.set_xlabel("Share")
    add_title(fig, "Targets: published (bar, grey band = tolerance) vs simulated across the ensemble")
    add_caption(fig, "Dots: ensemble median; lines: central 90% of ensemble runs. Blue: fitted; grey: reported only "
                "(set by the 2019 state, or held out as a check).")
    return fig


def _marginals(calibration: Calibration, fit: Fit):
    from ..style import add_caption, add_title, new_figure

    params = calibration.config.parameters
    fig, axes = new_figure(1.9 * ((len(params) + 2) // 3), ncols=3, nrows=(len(params) + 2) // 3, squeeze=False)
    for ax, (name, p) in zip(axes.flat, params.items()):
        ax.hist(fit.posterior.particles[name], bins=20, range=p.bounds, weights=fit.posterior.weights, color="#0072B2", alpha=0.7)
        ax.axvline(fit.point[name], color="#222222", lw=1)
        ax.set_xlim(*p.bounds)
        ax.set_yticks([])
        ax.set_title(p.label or name, fontsize=8)
    for ax in list(axes.flat)[len(params):]:
        ax.set_visible(False)
    add_title(fig, "Parameter ensemble: ABC-SMC posterior within each parameter's bounds")
    add_caption(fig, "Weighted final ABC population; x-axis spans the bounds (the uniform prior). Line: point estimate.")
    return fig


def _profiles(calibration: Calibration, fit: Fit):
    from ..style import add_caption, add_title, new_figure

    params = calibration.config.parameters
    fig, axes = new_figure(2.0 * ((len(params) + 2) // 3), ncols=3, nrows=(len(params) + 2) // 3, squeeze=False)
    for ax, (name, p) in zip(axes.flat, params.items()):
        prof = fit.profile[name]
        low, _, high = fit.posterior.quantiles(name)
        ax.axvspan(low, high, color="#0072B2", alpha=0.15, lw=0)
        ax.plot(prof["grid"], prof["distance"], "o-", color="#222222", ms=3, lw=1.2)
        ax.axvline(fit.point[name], color="#D55E00", lw=1)
        ax.axhline(1.0, color="#999999", lw=0.8, ls=":")
        ax.set_title(p.label or name, fontsize=8)
        ax.set_ylim(bottom=0)
    for ax in list(axes.flat)[len(params):]:
        ax.set_visible(False)
    add_title(fig, "Profiles: distance to the targets along each parameter, others at the point estimate")
    add_caption(fig, "Distance: weighted RMS error in tolerance units (dotted: 1). Orange: point estimate; blue band: "
                "the ensemble's 90% interval. A flat profile means the targets do not pin the parameter.")
    return fig


# --------------------------------------------------------------------------------------------------------------
# The report


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.3g}"
    return f"{value:.2e}"


def _pct(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{100 * value:.1f}%"


def report_markdown(calibration: Calibration, fit: Fit, command: str, figures: list[Path]) -> str:
    """Return the fit report as Markdown."""
    cfg = calibration.config
    post = fit.posterior
    report_dir = calibration.path(cfg.report).parent
    fitted = [r for r in fit.table if r["weight"] > 0]
    within = sum(r["within"] for r in fitted)
    k = len(cfg.parameters)
    figure = {p.stem: os.path.relpath(p, report_dir) for p in figures}
    lines = [
        f"# Calibration: {cfg.name}",
        "",
        f"Written by `{command}` on {dt.date.today():%Y-%m-%d}; do not edit by hand.",
        "",
        f"**{k} free parameters, {len(fitted)} fitted targets ({len(fitted) / k:.1f} per parameter)**, and "
        f"{len(fit.table) - len(fitted)} more targets reported as checks. Estimation: ABC-SMC (pyabc), uniform priors "
        f"on the bounds below, {cfg.abc.population} particles per generation, {cfg.replicates} replicate(s) × "
        f"{cfg.researchers:,} researchers per simulation; {post.generations} generations, {post.simulations:,} "
        f"simulations; final acceptance threshold **{post.epsilons[-1]:.3f}** (weighted RMS error in tolerance units; "
        f"stop: {post.stop}). **{within} of {len(fitted)}** fitted targets have an ensemble median within tolerance.",
        "",
        "Every interval below says what it shows: *ensemble* intervals are the central 90% of runs that each use "
        "a different parameter draw (parameter uncertainty and replicate noise together); *replicate* intervals are "
        f"the central 90% of {cfg.report_replicates} replicates at the point estimate (replicate noise alone).",
        "",
        "## Targets",
        "",
        f"Simulated: median and 90% interval of {min(cfg.report_draws, len(fit.draws))} ensemble draws, one fresh "
        "replicate each (seeds not used in the fit). Role: *fit* targets enter the distance; *initial state* targets "
        "hold by construction of the 2019 state and are checks of it; *input* targets are input series reported "
        "as checks; weight-0 *fit* targets are held out; *external* targets are published figures from outside the "
        "evidence the inputs and targets come from, never fitted: an out-of-sample test. A *discrepancy* is a miss "
        "the model is known not to close (docs/model.md, section 6): in the distance it is added to the tolerance "
        "in quadrature, so an unreachable target does not decide the other parameters; *within* always uses the "
        "published tolerance.",
        "",
        "| code | target | published | tolerance | simulated (ensemble) | 90% ensemble | 90% replicate | error | within | role | source; mapping |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in fit.table:
        role = r["fitted_by"].replace("_", " ") + ("" if r["weight"] > 0 or r["fitted_by"] != "fit" else " (held out)")
        lines.append(
            f"| {r['code']} | {r['label']} | {_fmt(r['published'])} | ±{_fmt(r['tolerance'])}{_discrepancy(r)} | {_fmt(r['simulated'])} | "
            f"[{_fmt(r['low'])}, {_fmt(r['high'])}] | [{_fmt(r['point_low'])}, {_fmt(r['point_high'])}] | "
            f"{r['error']:+.3f} | {'yes' if r['within'] else '**no**'} | {role} | {r['source']}"
            f"{'; ' + r['mapping'] if r['mapping'] else ''} |"
        )
    if "targets" in figure:
        lines += ["", f"![targets]({figure['targets']})"]
    lines += [
        "", "## Parameters", "",
        "Bounds are the support of the uniform prior; their defence is in the last column (and docs/model.md).",
        "", "| parameter | key | bounds | point | ensemble median [90%] | identified | defence of the bounds |",
        "|---|---|---|---|---|---|---|",
    ]
    recovered = {r["parameter"]: r for r in fit.recovery or []}
    for name, p in cfg.parameters.items():
        low, median, high = post.quantiles(name)
        key = " = ".join(p.place.paths) + (f" (from {p.place.start}" + (f" until {p.place.until})" if p.until else ")")
                                            if p.start else "")
        rec = recovered.get(name)
        ident = "–" if rec is None else ("yes" if rec["recovered_within"] else "**no**") + f" ({rec['error_share_of_range']:.0%} off)"
        lines.append(f"| {p.label or name} | `{key}` | [{_fmt(p.bounds[0])}, {_fmt(p.bounds[1])}] {p.unit} | "
                     f"{_fmt(fit.point[name])} | {_fmt(median)} [{_fmt(low)}, {_fmt(high)}] | {ident} | {p.defence} |")
    if "ensemble_parameters" in figure:
        lines += ["", f"![ensemble parameters]({figure['ensemble_parameters']})"]
    corr = None
    if k > 1:
        cov = np.cov(post.particles.to_numpy().T, aweights=post.weights)
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
    if corr is not None:
        names = list(cfg.parameters)
        lines += ["", "Weighted correlations across the ensemble (a strong correlation is a ridge the targets do not "
                  "resolve):", "", "| | " + " | ".join(names) + " |", "|---" * (k + 1) + "|"]
        for i, name in enumerate(names):
            lines.append(f"| {name} | " + " | ".join(f"{corr[i, j]:+.2f}" for j in range(k)) + " |")
    lines += _identification(calibration, fit, figure)
    lines += _holdouts(fit)
    lines += _projections(calibration, fit, figure)
    lines += _cost(calibration, fit)
    return "\n".join(lines) + "\n"


def _discrepancy(row: dict) -> str:
    """Return the note of a target's declared structural discrepancy, if any."""
    return f" (discrepancy ±{_fmt(row['discrepancy'])})" if row.get("discrepancy") else ""


def _identification(calibration: Calibration, fit: Fit, figure: dict[str, str]) -> list[str]:
    cfg = calibration.config
    lines: list[str] = ["", "## Identification", ""]
    if fit.sensitivity:
        names = list(cfg.parameters)
        effect = {(r["parameter"], r["target"]): r["effect"] for r in fit.sensitivity}
        lines += [
            "### Which targets pin which parameter",
            "",
            f"Change of each target across the parameter's bounds (others at the point estimate; least-squares slope "
            f"along the profile, {cfg.profiles.replicates} common-seed replicates per value), in units of the target's "
            "tolerance. |effect| ≥ 1 (bold) means the target alone constrains the parameter.",
            "",
            "| target | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
        ]
        for name, target in calibration.targets.items():
            cells = []
            for p in names:
                e = effect[(p, name)]
                cells.append("–" if np.isnan(e) else (f"**{e:+.1f}**" if abs(e) >= 1 else f"{e:+.1f}"))
            marker = "" if target.weight > 0 else " (not fitted)"
            lines.append(f"| {name}{marker} | " + " | ".join(cells) + " |")
        pins = []
        for p in names:
            strong = [t for t in calibration.fitted if abs(effect[(p, t)]) >= 1]
            pins.append(f"- **{p}**: " + (", ".join(strong) if strong else "no fitted target moves by a tolerance — "
                                          "not pinned by the targets"))
        lines += ["", *pins]
    if "profiles" in figure:
        lines += ["", f"![profiles]({figure['profiles']})"]
    if fit.recovery is not None:
        rec = cfg.recovery
        worst = max(r["error_share_of_range"] for r in fit.recovery)
        lines += [
            "", "### Recovery check", "",
            f"Targets simulated at known values (mean of {rec.replicates} replicates, seed {rec.seed}, not the fit's), "
            f"then estimated back with the same "
            f"ABC-SMC ({rec.abc.population} particles, at most {rec.abc.generations} generations). Recovered: posterior "
            f"median within {rec.threshold:.0%} of the parameter's range of the truth. Worst error {worst:.1%}.",
            "", "| parameter | true | recovered (median) | 90% interval | error (share of range) | recovered | truth in interval |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in fit.recovery:
            lines.append(f"| {r['parameter']} | {_fmt(r['true'])} | {_fmt(r['recovered'])} | [{_fmt(r['low'])}, "
                         f"{_fmt(r['high'])}] | {r['error_share_of_range']:.1%} | {'yes' if r['recovered_within'] else '**no**'} | "
                         f"{'yes' if r['covered'] else 'no'} |")
        failed = [r["parameter"] for r in fit.recovery if not r["recovered_within"]]
        lines += ["", ("Not identified by these targets: " + ", ".join(failed) + ". Their ensemble spread is carried "
                       "into every answer run with `--ensemble`; fixing them needs a sourced value or a new target.")
                  if failed else "Every free parameter is recovered within the threshold."]
    return lines


def _holdouts(fit: Fit) -> list[str]:
    if not fit.holdouts:
        return []
    lines = [
        "", "## Held-out checks", "",
        "Each group of targets is left out of the distance; the ensemble fitted without it predicts it (median and "
        "90% interval of the accepted simulations, which the held-out values did not influence).",
        "", "| check | target | published | predicted | 90% interval | error | within tolerance |", "|---|---|---|---|---|---|---|",
    ]
    for r in fit.holdouts:
        lines.append(f"| {r['group']} | {r['label']} ({r['code']}) | {_fmt(r['published'])} ± {_fmt(r['tolerance'])} | "
                     f"{_fmt(r['predicted'])} | [{_fmt(r['low'])}, {_fmt(r['high'])}] | {r['error']:+.3f} | "
                     f"{'yes' if r['within'] else '**no**'} |")
    described = {r["group"]: r["description"] for r in fit.holdouts if r["description"]}
    lines += [""] + [f"- **{g}**: {d}" for g, d in described.items()]
    return lines


def _projections(calibration: Calibration, fit: Fit, figure: dict[str, str]) -> list[str]:
    lines = ["", "## Projections across the ensemble", ""]
    if fit.projections:
        lines += [
            "Each row: median and central 90% of the ensemble runs (parameter uncertainty and replicate noise), and "
            "for comparison the 90% interval of replicates at the point estimate (replicate noise alone).",
            "", "| outcome | median | 90% ensemble | 90% replicate (point estimate) |", "|---|---|---|---|",
        ]
        for r in fit.projections:
            lines.append(f"| {r['label']} | {_pct(r['median'])} | [{_pct(r['low'])}, {_pct(r['high'])}] | "
                         f"[{_pct(r['point_low'])}, {_pct(r['point_high'])}] |")
    if "ensemble_migration_curve" in figure:
        lines += ["", f"![ensemble migration curve]({figure['ensemble_migration_curve']})"]
    return lines


def _cost(calibration: Calibration, fit: Fit) -> list[str]:
    post = fit.posterior
    lines = [
        "", "## Estimation and cost", "",
        "| generation | threshold | simulations | acceptance |", "|---|---|---|---|",
    ]
    for row, acc in zip(post.history, post.acceptance):
        lines.append(f"| {row['generation']} | {row['epsilon']:.3f} | {row['samples']:,} | {acc:.1%} |")
    per_sim = fit.timings.get("estimation", 0.0) * fit.workers / max(post.simulations, 1)
    lines += [
        "",
        "Wall time by stage on " + f"{fit.workers} worker(s): " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in fit.timings.items())
        + f"; total {fit.wall_seconds / 60:.1f} min.",
        "",
        f"One simulation costs about {per_sim:.2f} worker-seconds. Every stage is a batch of independent "
        "simulations (ABC-SMC samples particles in parallel; profiles, ensemble runs and checks are batches), so "
        "with `--scheduler ADDRESS` on a Dask cluster the wall time falls roughly in proportion to the workers "
        "until a generation's population (the unit ABC waits for) is spread one particle per worker.",
    ]
    return lines
