"""Self-contained HTML reports of a run or a comparison of runs.

A report is one HTML file: figures embedded as PNG data, styles inline, no script, no web font, no request to any
server; it opens from disk in any browser and prints as is. It holds the scenario's description, the headline
indicators with replicate intervals, the figures with their captions (sources included), the published reference
points used, and the provenance recorded in the run's ``manifest.json``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import yaml

from .outputs import sha256, write_text
from .compare import (
    compare_table,
    default_years,
    format_difference,
    format_value,
    indicator_summary,
    indicators,
    plot_compare_curves,
    plot_compare_difference,
    scenario_labels,
)
from .results import RunResult

__all__ = ["comparison_report_html", "report_html", "report_years", "write_comparison_report", "write_report"]

REPORT_DPI = 200  # sharp on high-density screens and in print at the column width; keeps the file small

INDICATOR_TITLES = {
    "top-tier share": "Share of top-tier researchers working in the region",
    "elite share": "Share of elite researchers working in the region",
    "home retention (top-tier)": "Home retention of top-tier researchers, by origin",
    "net inflow per year": "Net inflow of researchers from other regions (researchers per year, over the preceding year)",
}

CSS = """
:root { --ink: #1d1d1f; --muted: #5b5b60; --rule: #d9d9de; --band: #f4f4f6; --accent: #0072B2; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--ink); background: #fff;
  font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif;
  line-height: 1.5; }
main { max-width: 7.2in; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
h1 { font-size: 1.7rem; margin: 0.2rem 0 0.6rem; line-height: 1.2; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 0.6rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1rem; margin: 1.4rem 0 0.4rem; }
.kicker { text-transform: uppercase; letter-spacing: 0.06em; font-size: 0.75rem; color: var(--muted); margin: 0; }
.description { font-size: 1.02rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 1rem 0;
  font-size: 0.9rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
nav ol { padding-left: 1.2rem; margin: 0.3rem 0; font-size: 0.9rem; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; font-size: 0.82rem; margin: 0.5rem 0 0.8rem;
  font-variant-numeric: tabular-nums; }
th, td { padding: 0.28rem 0.45rem; text-align: right; border-bottom: 1px solid var(--rule); vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid var(--ink); font-weight: 600; }
tr.group th { text-align: left; background: var(--band); font-weight: 600; padding-top: 0.45rem; }
td .interval { display: block; color: var(--muted); font-size: 0.74rem; }
table.kv td, table.kv th { text-align: left; }
table.kv th { width: 11rem; font-weight: 600; color: var(--muted); }
figure { margin: 1.6rem 0 2rem; break-inside: avoid; page-break-inside: avoid; }
figure img { display: block; width: 100%; height: auto; border: 0; }
figcaption { font-size: 0.84rem; color: var(--muted); margin-top: 0.5rem; }
figcaption strong { color: var(--ink); }
.note { font-size: 0.82rem; color: var(--muted); }
details { margin: 0.6rem 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: var(--band); padding: 0.8rem; overflow-x: auto; font-size: 0.74rem; line-height: 1.35;
  white-space: pre; }
code { font-size: 0.85em; }
footer { margin-top: 3rem; font-size: 0.78rem; color: var(--muted); border-top: 1px solid var(--rule);
  padding-top: 0.6rem; }
@media print {
  html { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav, details { display: none; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def report_years(result: RunResult) -> list[float]:
    """Return the years a report's headline table shows: the start, 2025 and 2030 when inside the run, the end."""
    first, last = float(result.stocks["year"].min()), float(result.stocks["year"].max())
    years = [first] + [y for y in (2025.0, 2030.0) if first < y < last] + [last]
    return list(dict.fromkeys(years))


def _year_text(year: float) -> str:
    return f"{year:g}" if float(year).is_integer() else f"{year:.2f}"


def _png_data(fig, dpi: int) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_html(number: int, name: str, fig, dpi: int) -> str:
    from .style import caption_of, title_of

    caption, title = caption_of(fig), title_of(fig) or name.replace("_", " ").capitalize()
    data = _png_data(fig, dpi)
    return (f'<figure id="figure-{_e(name)}">\n<img src="data:image/png;base64,{data}" alt="{_e(title)}">\n'
            f"<figcaption><strong>Figure {number}. {_e(title)}.</strong> {_e(caption)}</figcaption>\n</figure>")


def _indicator_rows(summary: pd.DataFrame, years: Sequence[float], names: dict[str, str]) -> str:
    rows = []
    for indicator, group in summary.groupby("indicator", sort=False):
        multiple = int(group["replicates"].max()) > 1
        title = INDICATOR_TITLES.get(indicator, indicator)
        rows.append(f'<tr class="group"><th colspan="{len(years) + 1}">{_e(title)}</th></tr>')
        for place, by_place in group.groupby("place", sort=False):
            cells = []
            for year in years:
                row = by_place[(by_place.year - year).abs() < 1e-6]
                if row.empty:
                    cells.append("<td>–</td>")
                    continue
                row = row.iloc[0]
                interval = (f'<span class="interval">[{_e(format_value(indicator, row["low"]))}, '
                            f'{_e(format_value(indicator, row["high"]))}]</span>') if multiple else ""
                cells.append(f"<td>{_e(format_value(indicator, row['median']))}{interval}</td>")
            rows.append(f"<tr><td>{_e(names.get(place, place))}</td>{''.join(cells)}</tr>")
    return "\n".join(rows)


def _headline_html(result: RunResult, years: Sequence[float]) -> tuple[str, list[float]]:
    values = indicators(result, years)
    summary = indicator_summary(values)
    shown = sorted(summary["year"].unique())
    names = {k: r.name for k, r in result.scenario.regions.items()}
    head = "".join(f"<th>{_e(_year_text(y))}</th>" for y in shown)
    reps = int(summary["replicates"].max())
    note = (f"Median of {reps} replicates; below it, the central 90% of replicates in brackets."
            if reps > 1 else "One replicate: no interval.")
    table = (f'<table class="headline">\n<thead><tr><th>Indicator and region</th>{head}</tr></thead>\n<tbody>\n'
             f"{_indicator_rows(summary, shown, names)}\n</tbody></table>\n"
             f'<p class="note">{_e(note)} Shares are of researchers in the tier; top-tier means the top 20% by '
             "quality (as MacroPolo's NeurIPS authors), elite the top 1%. Net inflows are scaled to the "
             f"{result.scenario.population.represents:,.0f} researchers the population represents.</p>")
    return table, shown


def _evidence_html() -> str:
    from .plots import evidence

    rows = []
    for key, entry in evidence().items():
        for value in entry.get("values", []):
            what = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items()
                             if k not in ("share", "stay_rate", "note"))
            number = value.get("share", value.get("stay_rate"))
            note = value.get("note", "")
            rows.append(f"<tr><td>{_e(key.replace('_', ' '))}</td><td>{_e(what)}</td>"
                        f"<td>{_e(f'{number:.0%}' if isinstance(number, (int, float)) else number)}</td>"
                        f"<td>{_e(note)}</td><td>{_e(entry.get('code', ''))}</td></tr>")
        rows.append(f'<tr><td colspan="5" class="note">Source: {_e(entry.get("source", ""))}</td></tr>')
    return ('<table class="evidence">\n<thead><tr><th>Figure</th><th>Where</th><th>Value</th><th>Note</th>'
            f"<th>Code</th></tr></thead>\n<tbody>\n{''.join(rows)}\n</tbody></table>")


def _provenance_html(result: RunResult, folder: str | Path | None, heading_level: int = 3) -> str:
    m = result.manifest
    reps = m.get("replicates", [])
    seeds = ", ".join(f"{r.get('replicate')}: {r.get('seed')}" for r in reps)
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    rows = [
        ("Scenario", result.scenario.name),
        ("Scenario file", m.get("scenario_file") or "–"),
        ("Command", m.get("command") or "–"),
        ("talentsim version", m.get("talentsim_version", "–")),
        ("Run created (UTC)", m.get("created", "–")),
        ("Root seed", m.get("root_seed", "–")),
        ("Replicate seeds", seeds or "–"),
        ("Model researchers", f"{m.get('researchers', result.scenario.run.researchers):,}"),
        ("Steps", f"{m.get('steps', result.scenario.run.steps)} of {result.scenario.run.step_months} months"),
        ("Wall time", f"{m['wall_time_seconds']:.1f} s" if "wall_time_seconds" in m else "–"),
        ("Python and packages", f"Python {m.get('python', '?')}; {packages}" if packages else "–"),
    ]
    if folder is not None:
        rows.append(("Results folder", str(folder)))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    out = [f'<table class="kv"><tbody>{body}</tbody></table>']
    if folder is not None:
        files = [Path(folder) / name for name in m.get("files", []) if (Path(folder) / name).is_file()]
        if files:
            listing = "".join(f"<tr><td><code>{_e(f.name)}</code></td><td>{f.stat().st_size:,}</td>"
                              f"<td><code>{sha256(f)}</code></td></tr>" for f in files)
            out.append("<details><summary>Files and their SHA-256 checksums</summary>"
                       '<table><thead><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr></thead>'
                       f"<tbody>{listing}</tbody></table></details>")
    scenario = m.get("scenario") or result.scenario.to_dict()
    text = yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True, width=110)
    out.append("<details><summary>Resolved scenario (every setting the run used)</summary>"
               f"<pre>{_e(text)}</pre></details>")
    return "\n".join(out)


def _facts_html(result: RunResult) -> str:
    run = result.scenario.run
    reps = int(result.stocks["replicate"].nunique())
    regions = ", ".join(f"{r.name} ({k})" for k, r in result.scenario.regions.items())
    facts = [
        ("Period", f"{run.start:%Y-%m} to {run.end:%Y-%m}, steps of {run.step_months} months"),
        ("Replicates", f"{reps} (root seed {result.manifest.get('root_seed', run.seed)})"),
        ("Researchers", f"{run.researchers:,} model researchers standing for "
                        f"{result.scenario.population.represents:,.0f}"),
        ("Regions", regions),
        ("Employers", f"{len(result.scenario.employers)}"),
    ]
    return '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"


def _document(title: str, kicker: str, header: str, sections: Iterable[tuple[str, str, str]], footer: str) -> str:
    sections = list(sections)
    nav = "".join(f'<li><a href="#{_e(anchor)}">{_e(heading)}</a></li>' for anchor, heading, _ in sections)
    body = "\n".join(f'<section id="{_e(anchor)}">\n<h2>{_e(heading)}</h2>\n{content}\n</section>'
                     for anchor, heading, content in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<p class="kicker">{_e(kicker)}</p>
{header}
</header>
<nav aria-label="Contents"><ol>{nav}</ol></nav>
{body}
<footer>{footer}</footer>
</main>
</body>
</html>
"""


def report_html(result: RunResult, *, years: Sequence[float] | None = None, tier: str = "top_tier",
                period: tuple[float, float] | None = None, folder: str | Path | None = None,
                dpi: int = REPORT_DPI) -> str:
    """Return the HTML report of a run: description, headline indicators, figures, reference points, provenance."""
    from .plots import RUN_FIGURES, run_figures

    years = list(years) if years else report_years(result)
    table, shown = _headline_html(result, years)
    figures = [_figure_html(i, name, fig, dpi)
               for i, (name, fig) in enumerate(run_figures(result, tier=tier, period=period, caption=False), start=1)]
    description = result.scenario.description or "No description given in the scenario."
    header = (f"<h1>Scenario '{_e(result.scenario.name)}'</h1>\n<p class=\"description\">{_e(description)}</p>\n"
              f"{_facts_html(result)}")
    sections = [
        ("headline", "Headline indicators", table),
        ("figures", "Figures", "\n".join(figures)),
        ("evidence", "Published reference points", "<p>Published figures drawn in the figures above, as shipped "
         "with talentsim (<code>simulation/data/evidence.yaml</code>).</p>\n" + _evidence_html()),
        ("provenance", "Provenance", _provenance_html(result, folder)),
    ]
    version = result.manifest.get("talentsim_version", "")
    footer = (f"Made by talentsim {_e(version)} from the run's tables and manifest"
              f"{f' in <code>{_e(folder)}</code>' if folder else ''}. Figures: {_e(', '.join(RUN_FIGURES.values()))}.")
    return _document(f"talentsim report: {result.scenario.name}", "talentsim scenario report", header, sections,
                     footer)


def write_report(result: RunResult, path: str | Path, **options) -> Path:
    """Write :func:`report_html` to ``path`` (UTF-8); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, report_html(result, **options))
    return path


def _compare_rows(table: pd.DataFrame, scenarios: list[str], names: dict[str, str]) -> str:
    rows = []
    multiple = int(table["replicates"].max()) > 1
    columns = len(scenarios) * 2 - 1
    for (indicator, year), group in table.groupby(["indicator", "year"], sort=False):
        title = f"{INDICATOR_TITLES.get(indicator, indicator)}, {_year_text(year)}"
        rows.append(f'<tr class="group"><th colspan="{columns + 1}">{_e(title)}</th></tr>')
        for place, by_place in group.groupby("place", sort=False):
            cells = []
            for scenario in scenarios:
                row = by_place[by_place.scenario == scenario].iloc[0]
                interval = (f'<span class="interval">[{_e(format_value(indicator, row["low"]))}, '
                            f'{_e(format_value(indicator, row["high"]))}]</span>') if multiple else ""
                cells.append(f"<td>{_e(format_value(indicator, row['median']))}{interval}</td>")
            for scenario in scenarios[1:]:
                row = by_place[by_place.scenario == scenario].iloc[0]
                interval = (f'<span class="interval">[{_e(format_difference(indicator, row["diff_low"]))}, '
                            f'{_e(format_difference(indicator, row["diff_high"]))}]</span>') if multiple else ""
                cells.append(f"<td>{_e(format_difference(indicator, row['diff_median']))}{interval}</td>")
            rows.append(f"<tr><td>{_e(names.get(place, place))}</td>{''.join(cells)}</tr>")
    return "\n".join(rows)


def comparison_report_html(results: Sequence[RunResult], *, at: Sequence[float] | None = None,
                           tier: str = "top_tier", folders: Sequence[str | Path | None] | None = None,
                           dpi: int = REPORT_DPI) -> str:
    """Return the HTML report comparing scenarios with the first (the baseline): the scenarios' descriptions, the
    indicator table with differences and intervals, the comparison figures and each run's provenance."""
    at = list(at) if at else default_years(results)
    labels = scenario_labels(results)
    table = compare_table(results, at)
    names = {k: r.name for k, r in results[0].scenario.regions.items()}
    head = "".join(f"<th>{_e(label)}</th>" for label in labels)
    head += "".join(f"<th>{_e(label)} minus {_e(labels[0])}</th>" for label in labels[1:])
    paired = table["paired"].dropna()
    how = ("Differences are paired by replicate seed (common random numbers)." if len(paired) and paired.all()
           else "Differences are taken over all pairs of replicates (the runs do not share seeds).")
    note = (f"Medians over replicates, with the central 90% in brackets. {how} Differences of shares are in "
            "percentage points (pp).")
    indicator_table = (f"<table>\n<thead><tr><th>Indicator and region</th>{head}</tr></thead>\n<tbody>\n"
                       f"{_compare_rows(table, labels, names)}\n</tbody></table>\n<p class=\"note\">{_e(note)}</p>")
    figures = [plot_compare_curves(results, tier=tier, caption=False)]
    if len(results) > 1:
        figures.append(plot_compare_difference(results, tier=tier, caption=False))
    figure_html = "\n".join(_figure_html(i, f"comparison_{i}", fig, dpi) for i, fig in enumerate(figures, start=1))
    scenarios = "".join(
        f"<h3>{_e(label)}{' (baseline)' if i == 0 and label != 'baseline' else ''}</h3>\n"
        f"<p>{_e(r.scenario.description or 'No description given in the scenario.')}</p>\n{_facts_html(r)}"
        for i, (label, r) in enumerate(zip(labels, results)))
    folders = list(folders) if folders is not None else [r.manifest.get("results_folder") for r in results]
    provenance = "".join(f"<h3>{_e(label)}</h3>\n{_provenance_html(r, folder)}"
                         for label, r, folder in zip(labels, results, folders))
    header = (f"<h1>{_e(' vs '.join(labels))}</h1>\n<p class=\"description\">Comparison of "
              f"{len(results) - 1} scenario{'s' if len(results) > 2 else ''} with the baseline '{_e(labels[0])}' "
              f"at {_e(', '.join(_year_text(y) for y in at))}.</p>")
    sections = [
        ("scenarios", "Scenarios", scenarios),
        ("indicators", "Headline indicators and differences", indicator_table),
        ("figures", "Figures", figure_html),
        ("provenance", "Provenance", provenance),
    ]
    version = results[0].manifest.get("talentsim_version", "")
    footer = f"Made by talentsim {_e(version)} from the runs' tables and manifests."
    return _document(f"talentsim comparison: {' vs '.join(labels)}", "talentsim scenario comparison", header,
                     sections, footer)


def write_comparison_report(results: Sequence[RunResult], path: str | Path, **options) -> Path:
    """Write :func:`comparison_report_html` to ``path`` (UTF-8); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, comparison_report_html(results, **options))
    return path
