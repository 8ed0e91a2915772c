"""The sweep report: one self-contained HTML file with a sweep's question, design, robustness table, sensitivity
and scenario-discovery results with their figures, and provenance.

It uses the run report's page (``simulation.report``): figures embedded as PNG data, styles inline, no script and
no request to any server, so it opens from disk in any browser and prints as is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .report import REPORT_DPI, _document, _e, _figure_html

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .analysis import Analysis

__all__ = ["sweep_report_html", "write_sweep_report"]

MAX_TABLE_ROWS = 60


def _number(value: Any, share: bool = False, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if share:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(head: list[str], rows: list[list[str]], css: str = "") -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def _facts(analysis: Analysis) -> str:
    r = analysis.results
    info = r.info
    d = info.get("experiment", {})
    run = d.get("run", {}) or {}
    base = info.get("base_scenario", {}) or {}
    settings = {**(base.get("run") or {}), **{k: v for k, v in run.items() if v is not None}}
    finished = len(r.outcomes)
    planned = len(r.runs)
    facts = [
        ("Base scenario", base.get("name", d.get("scenario", "–"))),
        ("Runs", f"{finished:,} finished of {planned:,} planned" + ("" if r.complete else " (sweep not complete)")),
        ("Design", f"{len(r.levers)} lever(s), {len(r.uncertainties)} uncertainty(ies), {analysis.design} "
                   f"sampling, {d.get('replicates', 1)} replicate(s), root seed {d.get('seed', 0)}"),
        ("Each run", f"{str(settings.get('start', '?'))[:7]} to {str(settings.get('end', '?'))[:7]}, "
                     f"{settings.get('researchers', 0):,} model researchers"),
    ]
    return '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"


def _question(analysis: Analysis) -> str:
    r = analysis.results
    description = r.info.get("description") or "No description given in the experiment."
    out = [f'<p class="description">{_e(description)}</p>']
    c = analysis.condition
    if c is not None and not math.isnan(c.threshold):
        from .analysis_plots import _threshold_text

        out.append(f"<p>Outcome analysed: <strong>{_e(analysis.label(c.outcome))}</strong>, and the condition a run "
                   f"meets when it is <strong>{_e(_threshold_text(analysis))}</strong>"
                   f"{' (the outcome is arithmetic of the sweep&#x27;s outcomes: <code>' + _e(c.outcome) + '</code>)' if c.outcome not in r.outcome_names else ''}."
                   " Robustness counts the runs meeting it; scenario discovery describes where they lie.</p>")
    elif c is not None:
        out.append(f"<p>Outcome analysed: <strong>{_e(analysis.label(c.outcome))}</strong> (no threshold given).</p>")
    return "\n".join(out)


def _design(analysis: Analysis) -> str:
    r = analysis.results
    d = r.info.get("experiment", {})
    rows = []
    for name, lever in (d.get("levers") or {}).items():
        start = f" from {str(lever['from'])[:7]}" if lever.get("from") else ""
        values = ", ".join(_number(v) for v in lever.get("values", []))
        rows.append([f"{_e(r.label(name))}", "lever", f"{_e(values)}{_e(start)}" + (" (x scenario value)" if lever.get("scale") else ""),
                     "<br>".join(f"<code>{_e(p)}</code>" for p in lever.get("path", []))])
    from .experiment import Uncertainty

    for name, uncertainty in (d.get("uncertainties") or {}).items():
        try:
            described = Uncertainty.model_validate(uncertainty).describe()
        except ValueError:
            described = json.dumps({k: v for k, v in uncertainty.items() if v is not None and k not in ("path", "label")})
        rows.append([f"{_e(r.label(name))}", "uncertainty", _e(described),
                     "<br>".join(f"<code>{_e(p)}</code>" for p in uncertainty.get("path", []))])
    table = _table(["Parameter", "Role", "Values", "Key path(s) in the scenario"], rows, "kv-wide")
    sampling = d.get("sampling") or {}
    method = sampling.get("method", "grid")
    explain = {
        "grid": "every combination of the uncertainties' grid values",
        "latin_hypercube": f"{sampling.get('samples')} Latin-hypercube draws",
        "quasi_random": f"{sampling.get('samples')} draws of a scrambled Sobol sequence",
        "saltelli": f"a Saltelli design of {sampling.get('samples')} base samples (for Sobol indices)",
        "morris": f"{sampling.get('samples')} Morris trajectories on {sampling.get('levels', 4)} levels",
    }.get(method, method)
    outcomes = "".join(f"<li><code>{_e(n)}</code>: {_e(r.label(n))}</li>" for n in r.outcome_names)
    return (f"{table}\n<p>Uncertainties: {_e(explain if r.uncertainties else 'none')}. Every lever arm runs under "
            f"the same uncertainty draws and seeds (common random numbers), so differences between arms are the "
            f"policy, not noise.</p>\n<p>Outcomes kept for every run:</p><ul>{outcomes}</ul>")


def _robustness(analysis: Analysis, figures: list[str]) -> str:
    from .analysis import is_share

    table = analysis.robustness
    c = analysis.condition
    share = is_share(analysis, c.outcome)
    low = next(col for col in table.columns if col.startswith("p") and col[1:2].isdigit())
    high = [col for col in table.columns if col.startswith("p") and col[1:2].isdigit()][-1]
    has = "share_meeting" in table.columns
    head = ["Lever arm", "Runs", "Median", "Central 90%"] + (["Meeting the threshold", "Mean regret",
                                                               "90th pct. regret", "Largest regret",
                                                               "Best in draws"] if has else [])
    rows = []
    for row in table.head(MAX_TABLE_ROWS).to_dict("records"):
        cells = [_e(row["arm_label"]), f"{row['runs']:,}", _number(row["median"], share),
                 f"{_number(row[low], share)} to {_number(row[high], share)}"]
        if has:
            cells += [f"{row['share_meeting']:.0%}", _number(row["regret_mean"], share),
                      _number(row["regret_p90"], share), _number(row["regret_max"], share),
                      _number(row["best_share"] * 100, False, 3) + "%" if math.isfinite(row["best_share"]) else "–"]
        rows.append(cells)
    note = ("Arms are ordered from the most robust: the largest share of runs meeting the threshold, then the "
            "smallest mean regret. Regret is how far an arm falls short of the best arm under the same uncertainty "
            "draw and seed; 'best in draws' is the share of draws in which the arm is the best."
            if has else "No threshold given: the spread of the outcome by arm only.")
    more = f" The first {MAX_TABLE_ROWS} of {len(table)} arms are shown." if len(table) > MAX_TABLE_ROWS else ""
    return _table(head, rows) + f'\n<p class="note">{_e(note + more)}</p>\n' + "\n".join(figures)


def _sensitivity(analysis: Analysis, figures: list[str]) -> str:
    out = []
    table = analysis.sensitivity
    if table is not None:
        sobol = analysis.sensitivity_method == "sobol"
        arms = table["arm"].nunique()
        for outcome, rows in table.groupby("outcome", sort=False):
            columns = ["S1", "S1_conf", "ST", "ST_conf"] if sobol else ["mu_star", "mu_star_conf", "sigma"]
            summary = rows.groupby("parameter", sort=False)[columns].mean()
            spread = rows.groupby("parameter", sort=False)["ST" if sobol else "mu_star"].agg(["min", "max"])
            summary = summary.sort_values("ST" if sobol else "mu_star", ascending=False)
            body = []
            for name, row in summary.iterrows():
                if sobol:
                    cells = [f"{row['S1']:.3f} ± {row['S1_conf']:.3f}", f"{row['ST']:.3f} ± {row['ST_conf']:.3f}"]
                else:
                    cells = [f"{row['mu_star']:.4g} ± {row['mu_star_conf']:.2g}", f"{row['sigma']:.4g}"]
                if arms > 1:
                    cells.append(f"{spread.loc[name, 'min']:.3g} to {spread.loc[name, 'max']:.3g}")
                body.append([_e(analysis.results.label(name)), *cells])
            head = (["Uncertainty", "First-order S1", "Total ST"] if sobol else ["Uncertainty", "mu*", "sigma"])
            if arms > 1:
                head.append(f"{'ST' if sobol else 'mu*'} range over {arms} arms")
            out.append(f"<h3>{_e(analysis.label(outcome))}</h3>\n" + _table(head, body))
        what = ("Sobol indices (SALib) with 95% bootstrap intervals, averaged over lever arms: S1 is the share of "
                "the outcome's variance an uncertainty causes alone, ST alone or with others."
                if sobol else "Morris screening (SALib): mu* ranks the uncertainties by the mean size of their "
                "effect across their range; sigma shows interactions and non-linearity.")
        out.append(f'<p class="note">{_e(what)} The outcome of each draw is its mean over replicates.</p>')
    else:
        out.append(f"<p>No Sobol indices or Morris effects: the sweep's design ({_e(analysis.design)}) is not made "
                   "for them. Sweep with <code>sampling: {method: saltelli, samples: N}</code> (Sobol indices) or "
                   "<code>{method: morris, samples: N}</code> (Morris screening).</p>")
    variance = analysis.variance
    if variance is not None and len(variance):
        rows = [[_e(analysis.label(row.outcome)), _e(analysis.results.label(row.source)
                                                             if row.kind == "lever" else row.source),
                 f"{row.share:.1%}"] for row in variance.itertuples()]
        out.append("<h3>Variance explained by each lever, and by seeds</h3>\n"
                   + _table(["Outcome", "Source", "Share of variance"], rows)
                   + '\n<p class="note">A lever&#x27;s share is the variance of the outcome&#x27;s mean at each of its '
                   "values over the outcome&#x27;s variance across all runs; replicate noise is the variance between "
                   "runs that differ only by seed.</p>")
    return "\n".join(out + figures)


def _discovery(analysis: Analysis, figures: list[str]) -> str:
    d = analysis.discovery
    if d is None:
        notes = [n for n in analysis.notes if n.startswith("No scenario discovery")]
        return (f"<p>{_e(notes[0] if notes else 'No scenario discovery: give an outcome and a threshold.')}</p>\n"
                + "\n".join(figures))
    r = analysis.results
    stats = d.stats
    labels = {p: r.label(p) for p in d.limits["parameter"]}
    rows = []
    for row in d.limits.itertuples():
        if row.kind == "categorical":
            rows.append([_e(labels[row.parameter]), _e(row.values), "–", f"{row.qp_value:.2g}"])
        else:
            rows.append([_e(labels[row.parameter]), f"{row.low:.4g} to {row.high:.4g}",
                         f"{row.full_low:.4g} to {row.full_high:.4g}", f"{row.qp_value:.2g}"])
    return (f"<p>PRIM finds the box <strong>{_e(d.describe(labels))}</strong>. It holds {stats['mass']:.0%} of the "
            f"runs and {stats['coverage']:.0%} of the {d.cases:,} runs meeting the condition (coverage); "
            f"{stats['density']:.0%} of its runs meet it (density), against {d.cases / d.runs:.0%} of all runs.</p>\n"
            + _table(["Parameter", "Box", "Range swept", "Quasi-p value"], rows)
            + '\n<p class="note">PRIM (Friedman &amp; Fisher 1999) by the prim package, the EMA Workbench&#x27;s '
            "algorithm; the box is the one of largest coverage with at least the target density on the peeling "
            "trajectory. Quasi-p values (Bryant &amp; Lempert 2010) test each restriction.</p>\n" + "\n".join(figures))


def _provenance(analysis: Analysis, folder: str | Path | None) -> str:
    info = analysis.results.info
    rows = [
        ("Experiment", info.get("name", "–")),
        ("Experiment file", info.get("experiment_file", "–")),
        ("Fingerprint", info.get("fingerprint", "–")),
        ("Sweep created (UTC)", info.get("created", "–")),
        ("Sweep updated (UTC)", info.get("updated", "–")),
        ("talentsim version of the sweep", info.get("talentsim_version", "–")),
        ("Runs finished / failed / planned", _status(analysis)),
    ]
    if folder is not None:
        rows.append(("Results folder", str(folder)))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    out = [f'<table class="kv"><tbody>{body}</tbody></table>']
    if folder is not None:
        from .report import checksum_table

        out += checksum_table(Path(folder) / n for n in ("experiment.json", "outcomes.parquet", "curves.parquet",
                                                          "index.parquet"))
    import yaml

    text = yaml.safe_dump(info.get("experiment", {}), sort_keys=False, allow_unicode=True, width=110)
    out.append(f"<details><summary>The experiment as run</summary><pre>{_e(text)}</pre></details>")
    return "\n".join(out)


def _status(analysis: Analysis) -> str:
    runs = analysis.results.runs
    if "status" not in runs.columns:
        return f"{len(analysis.results.outcomes):,} finished"
    counts = runs["status"].value_counts()
    return f"{counts.get('done', 0):,} / {counts.get('failed', 0):,} / {len(runs):,}"


def sweep_report_html(analysis: Analysis, *, folder: str | Path | None = None, dpi: int = REPORT_DPI) -> str:
    """Return the HTML report of a sweep's analysis (see ``simulation.analysis.analyze``)."""
    number = 0
    groups: dict[str, list[str]] = {"sensitivity": [], "robustness": [], "discovery": []}
    for name, fig in analysis.figures(caption=False):
        number += 1
        group = ("sensitivity" if name.startswith(("sobol", "morris")) else
                 "discovery" if name.startswith(("prim", "parallel")) else "robustness")
        groups[group].append(_figure_html(number, name, fig, dpi))
    r = analysis.results
    header = (f"<h1>Sweep '{_e(r.info.get('name', ''))}'</h1>\n{_facts(analysis)}")
    sections = [("question", "The question", _question(analysis)), ("design", "Design", _design(analysis))]
    if analysis.robustness is not None:
        sections.append(("robustness", "Robustness of each policy", _robustness(analysis, groups["robustness"])))
    elif groups["robustness"]:
        sections.append(("curves", "Curves by lever arm", "\n".join(groups["robustness"])))
    sections.append(("sensitivity", "What drives the outcomes", _sensitivity(analysis, groups["sensitivity"])))
    sections.append(("discovery", "Scenario discovery", _discovery(analysis, groups["discovery"])))
    notes = [n for n in analysis.notes if not n.startswith("No scenario discovery")]  # said in its section
    if notes:
        sections.append(("notes", "Notes", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"))
    sections.append(("provenance", "Provenance", _provenance(analysis, folder)))
    footer = (f"Made by talentsim from the sweep's tables and experiment.json"
              f"{f' in <code>{_e(folder)}</code>' if folder else ''}; analysis with SALib and prim.")
    return _document(f"talentsim sweep report: {r.info.get('name', '')}", "talentsim sweep report", header, sections,
                     footer)


def write_sweep_report(analysis: Analysis, path: str | Path, *, folder: str | Path | None = None,
                       dpi: int = REPORT_DPI) -> Path:
    """Write the sweep report to ``path`` (atomically); return the path."""
    from .outputs import write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, sweep_report_html(analysis, folder=folder, dpi=dpi))
