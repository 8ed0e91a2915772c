"""Self-contained HTML reports of a run or a comparison of runs.

A report is one HTML file: figures embedded as PNG data, styles inline, no script, no web font, no request to any
server; it opens from disk in any browser and prints as is. It opens with what the scenario changes (computed from
the scenario against the one it builds on, never from its description), the key findings (changes whose interval
excludes zero) and a short box of the model's limitations; then the headline indicators with replicate intervals,
the figures with their captions (sources in words), the published reference points used, and the provenance
recorded in the run's ``manifest.json``.
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
    REPRESENTED,
    comparison_note,
    compare_table,
    default_years,
    format_difference,
    format_value,
    indicator_summary,
    indicators,
    key_findings,
    scenario_labels,
    with_baseline_medians,
)
from .compare_plots import plot_compare_curves, plot_compare_difference
from .results import RunResult
from .style import display_name
from .summary import INTERVAL, MIN_REPLICATES_FOR_INTERVAL, excludes_zero, replicate_band, statistic_note

__all__ = ["comparison_report_html", "report_html", "report_years", "write_comparison_report", "write_report"]

REPORT_DPI = 200  # sharp on high-density screens and in print at the column width; keeps the file small

INDICATOR_TITLES = {
    "home retention (top-tier)": "Home retention of top-tier researchers, by origin",
    "net inflow per year": f"Net inflow of researchers from other regions ({REPRESENTED} per year, over the "
                           "preceding year)",
}



def checksum_table(paths) -> list[str]:
    """Return the HTML listing of the files among ``paths`` that exist, with their sizes and SHA-256 checksums."""
    files = [Path(p) for p in paths if Path(p).is_file()]
    if not files:
        return []
    listing = "".join(f"<tr><td><code>{_e(f.name)}</code></td><td>{f.stat().st_size:,}</td>"
                      f"<td><code>{sha256(f)}</code></td></tr>" for f in files)
    return ["<details><summary>Files and their SHA-256 checksums</summary>"
            '<table><thead><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr></thead>'
            f"<tbody>{listing}</tbody></table></details>"]

def indicator_title(indicator: str) -> str:
    """Return an indicator's heading: 'top-tier share' -> 'Share of top-tier researchers working in the region'."""
    if indicator in INDICATOR_TITLES:
        return INDICATOR_TITLES[indicator]
    if indicator.endswith(" share"):
        return f"Share of {indicator.removesuffix(' share')} researchers working in the region"
    return indicator[0].upper() + indicator[1:]

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
.box { border: 1px solid var(--rule); border-left: 4px solid var(--accent); background: var(--band);
  padding: 0.6rem 0.9rem; margin: 1rem 0; break-inside: avoid; }
.box h3 { margin: 0 0 0.3rem; font-size: 0.95rem; }
.box ul { margin: 0.2rem 0 0.2rem 1.1rem; padding: 0; }
.box li { margin: 0.15rem 0; }
.box.limits { border-left-color: #777; font-size: 0.86rem; }
.box.warning { border-left-color: #D55E00; background: #fff4ec; }
ul.changes li, ul.findings li { margin: 0.2rem 0; }
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
        title = indicator_title(indicator)
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
                            f'{_e(format_value(indicator, row["high"]))}]</span>') if multiple \
                    and pd.notna(row["low"]) else ""
                cells.append(f"<td>{_e(format_value(indicator, row['median']))}{interval}</td>")
            rows.append(f"<tr><td>{_e(names.get(place, place))}</td>{''.join(cells)}</tr>")
    return "\n".join(rows)


def _headline_html(result: RunResult, years: Sequence[float]) -> tuple[str, list[float]]:
    values = indicators(result, years)
    summary = indicator_summary(values)
    shown = sorted(summary["year"].unique())
    names = _place_names(result)
    head = "".join(f"<th>{_e(_year_text(y))}</th>" for y in shown)
    reps = int(summary["replicates"].max())
    table = (f'<table class="headline">\n<thead><tr><th>Indicator and region</th>{head}</tr></thead>\n<tbody>\n'
             f"{_indicator_rows(summary, shown, names)}\n</tbody></table>\n"
             f'<p class="note">{_e(statistic_note(reps))} Shares are of researchers in the tier; top-tier means the '
             "top 20% by quality (as MacroPolo's NeurIPS authors), elite the top 1%. Net inflows are in "
             f"{REPRESENTED}: model counts scaled to the {result.scenario.population.represents:,.0f} researchers "
             "the population stands for at the start.</p>")
    return table, shown


def _place_names(result: RunResult) -> dict[str, str]:
    from .plots import _names

    return _names(result)


def limitations() -> list[str]:
    """Return the model's limitations in brief (the list kept equal to docs/model.md's section)."""
    from importlib import resources

    text = resources.files("simulation").joinpath("data/limitations.md").read_text(encoding="utf-8")
    return [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]


def _limitations_html() -> str:
    items = "".join(f"<li>{_e(item)}</li>" for item in limitations())
    return (f'<aside class="box limits"><h3>What the model cannot tell you</h3><ul>{items}</ul>'
            '<p class="note">From the model description (docs/model.md, "Limitations in brief").</p></aside>')


def _changes_html(record: dict | None, scenario_name: str) -> str:
    from .changes import change_lines

    if not record:
        return (f"<p>The run's manifest does not record what '{_e(scenario_name)}' changes: it was not run from a "
                "scenario file that extends another. Its settings are listed in full under Provenance.</p>")
    levers = change_lines([c for c in record.get("changes", []) if c.get("lever")])
    others = change_lines([c for c in record.get("changes", []) if not c.get("lever")])
    reference = display_name(record.get("reference", ""))
    source = f" ({_e(record['reference_file'])})" if record.get("reference_file") else ""
    if not levers and not others:
        return f"<p>Nothing: the same levers and settings as {_e(reference)}{source}.</p>"
    out = [f"<p>Every lever that differs from {_e(reference)}{source}, computed from the two scenario files "
           "(not from the description):</p>"]
    out.append('<ul class="changes">' + "".join(f"<li>{_e(line)}</li>" for line in levers) + "</ul>"
               if levers else "<p>No lever differs.</p>")
    if others:
        out.append("<p>Other settings that differ:</p><ul class=\"changes\">"
                   + "".join(f"<li>{_e(line)}</li>" for line in others) + "</ul>")
    return "\n".join(out)


def run_findings(result: RunResult, interval: float = INTERVAL) -> pd.DataFrame:
    """Return the headline indicators that change between the first and the last year of the run by more than the
    spread between replicates: each replicate's change (last minus first, paired within the replicate), its median
    and central ``interval``, for the changes whose interval excludes zero, largest first."""
    first, last = float(result.stocks["year"].min()), float(result.stocks["year"].max())
    values = indicators(result, [first, last])
    values = values[values["indicator"] != "net inflow per year"]
    wide = values.pivot_table(index=["indicator", "place", "replicate"], columns="year", values="value").dropna()
    if wide.shape[1] < 2:
        return pd.DataFrame()
    change = (wide[last] - wide[first]).rename("difference").reset_index()
    band = replicate_band(change, ["indicator", "place"], "difference", interval)
    start = replicate_band(values[values.year == first], ["indicator", "place"], "value", interval)
    end = replicate_band(values[values.year == last], ["indicator", "place"], "value", interval)
    band = band.merge(start[["indicator", "place", "median"]].rename(columns={"median": "first"}),
                      on=["indicator", "place"])
    band = band.merge(end[["indicator", "place", "median"]].rename(columns={"median": "last"}),
                      on=["indicator", "place"])
    found = band[excludes_zero(band["low"], band["high"])].copy()  # shares only: to the 0.1 pp shown
    found["_size"] = -found["median"].abs()
    return found.sort_values("_size").drop(columns="_size").reset_index(drop=True)


def _run_findings_html(result: RunResult) -> str:
    reps = int(result.stocks["replicate"].nunique())
    first, last = float(result.stocks["year"].min()), float(result.stocks["year"].max())
    if reps < MIN_REPLICATES_FOR_INTERVAL:
        return ("<p>A single replicate has no interval, so no change can be told from the noise between replicates. "
                "Run more replicates (<code>--replicates 10</code>).</p>")
    found = run_findings(result)
    names = _place_names(result)
    intro = (f"<p>Headline indicators that change from {_year_text(first)} to {_year_text(last)} by more than the "
             f"spread between replicates (the interval holding {INTERVAL:.0%} of replicates' changes excludes zero), "
             "largest first. A run's own trajectory is not the effect of its policy: for that, compare it with its "
             "baseline (<code>talentsim compare BASELINE RESULTS --report FILE</code>).</p>")
    if found.empty:
        return intro + "<p>None.</p>"
    items = []
    for _, row in found.head(10).iterrows():
        indicator = row["indicator"]
        items.append(f"<li><strong>{_e(indicator_title(indicator))}, {_e(names.get(row['place'], row['place']))}"
                     f"</strong>: {_e(format_value(indicator, row['first']))} → "
                     f"{_e(format_value(indicator, row['last']))} ({_e(format_difference(indicator, row['median']))} "
                     f"[{_e(format_difference(indicator, row['low']))}, "
                     f"{_e(format_difference(indicator, row['high']))}])</li>")
    more = f"<p class=\"note\">{len(found) - 10} more in the table below.</p>" if len(found) > 10 else ""
    return intro + '<ul class="findings">' + "".join(items) + "</ul>" + more


def _evidence_html() -> str:
    from .plots import evidence

    rows = []
    for key, entry in evidence().items():
        if not entry.get("values"):
            continue
        for value in entry["values"]:
            what = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items()
                             if k not in ("share", "stay_rate", "note"))
            number = value.get("share", value.get("stay_rate"))
            note = value.get("note", "")
            rows.append(f"<tr><td>{_e(key.replace('_', ' ').capitalize())}</td><td>{_e(what)}</td>"
                        f"<td>{_e(f'{number:.0%}' if isinstance(number, (int, float)) else number)}</td>"
                        f"<td>{_e(note)}</td></tr>")
        rows.append(f'<tr><td colspan="4" class="note">Source: {_e(entry.get("source", ""))}</td></tr>')
    return ('<table class="evidence">\n<thead><tr><th>Figure</th><th>Where</th><th>Value</th><th>Note</th>'
            f"</tr></thead>\n<tbody>\n{''.join(rows)}\n</tbody></table>")


def _provenance_html(result: RunResult, folder: str | Path | None, heading_level: int = 3) -> str:
    m = result.manifest
    reps = m.get("replicates", [])
    seeds = ", ".join(f"{r.get('replicate')}: {r.get('seed')}" for r in reps)
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    rows = [
        ("Scenario", f"{display_name(result.scenario.name)} ({result.scenario.name})"),
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
        out += checksum_table([Path(folder) / name for name in m.get("files", [])])
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
    """Return the HTML report of a run: what the scenario changes, key findings, limitations, the headline
    indicators, figures, reference points and provenance."""
    from .plots import RUN_FIGURES, run_figures

    years = list(years) if years else report_years(result)
    table, shown = _headline_html(result, years)
    figures = [_figure_html(i, name, fig, dpi)
               for i, (name, fig) in enumerate(run_figures(result, tier=tier, period=period, caption=False), start=1)]
    description = result.scenario.description or "No description given in the scenario."
    header = (f"<h1>Scenario: {_e(display_name(result.scenario.name))}</h1>\n"
              f'<p class="note">Scenario &#x27;{_e(result.scenario.name)}&#x27;</p>\n'
              f"<p class=\"description\">{_e(description)}</p>\n{_facts_html(result)}")
    summary = (f"<h3>Key findings</h3>\n{_run_findings_html(result)}\n{_limitations_html()}")
    sections = [
        ("changes", "What the scenario changes", _changes_html(result.manifest.get("changes"), result.scenario.name)),
        ("findings", "Key findings and limitations", summary),
        ("headline", "Headline indicators", table),
        ("figures", "Figures", "\n".join(figures)),
        ("evidence", "Published reference points", "<p>Published figures drawn in the figures above, as shipped "
         "with talentsim (<code>simulation/data/evidence.yaml</code>).</p>\n" + _evidence_html()),
        ("provenance", "Provenance", _provenance_html(result, folder)),
    ]
    version = result.manifest.get("talentsim_version", "")
    footer = (f"Made by talentsim {_e(version)} from the run's tables and manifest"
              f"{f' in <code>{_e(folder)}</code>' if folder else ''}. Figures: {_e(', '.join(RUN_FIGURES.values()))}.")
    return _document(f"talentsim report: {display_name(result.scenario.name)}", "talentsim scenario report", header,
                     sections, footer)


def write_report(result: RunResult, path: str | Path, **options) -> Path:
    """Write :func:`report_html` to ``path`` (UTF-8, atomically, honouring the umask); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, report_html(result, **options))


def _compare_rows(table: pd.DataFrame, scenarios: list[str], names: dict[str, str]) -> str:
    rows = []
    multiple = int(table["replicates"].max()) >= MIN_REPLICATES_FOR_INTERVAL
    columns = len(scenarios) * 2 - 1
    for (indicator, year), group in table.groupby(["indicator", "year"], sort=False):
        title = f"{indicator_title(indicator)}, {_year_text(year)}"
        rows.append(f'<tr class="group"><th colspan="{columns + 1}">{_e(title)}</th></tr>')
        for place, by_place in group.groupby("place", sort=False):
            cells = []
            for scenario in scenarios:
                row = by_place[by_place.scenario == scenario].iloc[0]
                interval = (f'<span class="interval">[{_e(format_value(indicator, row["low"]))}, '
                            f'{_e(format_value(indicator, row["high"]))}]</span>') if multiple \
                    and pd.notna(row["low"]) else ""
                cells.append(f"<td>{_e(format_value(indicator, row['median']))}{interval}</td>")
            for scenario in scenarios[1:]:
                row = by_place[by_place.scenario == scenario].iloc[0]
                interval = (f'<span class="interval">[{_e(format_difference(indicator, row["diff_low"]))}, '
                            f'{_e(format_difference(indicator, row["diff_high"]))}]</span>') if multiple \
                    and pd.notna(row["diff_low"]) else ""
                cells.append(f"<td>{_e(format_difference(indicator, row['diff_median']))}{interval}</td>")
            rows.append(f"<tr><td>{_e(names.get(place, place))}</td>{''.join(cells)}</tr>")
    return "\n".join(rows)


def _comparison_findings_html(table: pd.DataFrame, names: dict[str, str], baseline: str) -> str:
    reps = int(table["replicates"].max())
    if reps < MIN_REPLICATES_FOR_INTERVAL:
        return ("<p>Single replicates have no interval, so no change can be told from the noise between replicates. "
                "Run both scenarios with more replicates and the same seed.</p>")
    found = key_findings(with_baseline_medians(table))
    intro = (f"<p>Changes from {_e(display_name(baseline))} larger than the spread between replicates: the interval "
             f"holding {INTERVAL:.0%} of the paired differences excludes zero. Largest first; every indicator is in "
             "the full table below.</p>")
    if found.empty:
        return intro + "<p>None: no change is larger than the spread between replicates.</p>"
    items = []
    for _, row in found.head(12).iterrows():
        indicator = row["indicator"]
        unpaired = "" if bool(row["paired"]) else ' <strong class="unpaired">UNPAIRED</strong>'
        items.append(f"<li><strong>{_e(indicator_title(indicator))}, {_e(names.get(row['place'], row['place']))}, "
                     f"{_e(_year_text(row['year']))}</strong> — {_e(display_name(row['scenario']))}: "
                     f"{_e(format_value(indicator, row['baseline_median']))} → "
                     f"{_e(format_value(indicator, row['median']))}, change "
                     f"{_e(format_difference(indicator, row['diff_median']))} "
                     f"[{_e(format_difference(indicator, row['diff_low']))}, "
                     f"{_e(format_difference(indicator, row['diff_high']))}]{unpaired}</li>")
    more = (f'<p class="note">{len(found) - 12} more changes exclude zero; see the full table.</p>'
            if len(found) > 12 else "")
    return intro + '<ul class="findings">' + "".join(items) + "</ul>" + more


def comparison_report_html(results: Sequence[RunResult], *, at: Sequence[float] | None = None,
                           tier: str = "top_tier", folders: Sequence[str | Path | None] | None = None,
                           dpi: int = REPORT_DPI, unpaired: bool = False) -> str:
    """Return the HTML report comparing scenarios with the first (the baseline): what each changes, the key
    findings, the limitations, the comparison figures, the full indicator table with changes and intervals, the
    scenarios' descriptions and each run's provenance. Runs that share no replicate seeds are refused unless
    ``unpaired``, and then labelled UNPAIRED at the top and wherever a change appears."""
    from .changes import changes_between

    at = list(at) if at else default_years(results)
    labels = scenario_labels(results)
    table = compare_table(results, at, unpaired=unpaired)
    names = _place_names(results[0])
    head = "".join(f"<th>{_e(display_name(label))}</th>" for label in labels)
    pairings = table.attrs.get("pairings", {})
    head += "".join(f"<th>Change: {_e(display_name(label))}{' (UNPAIRED)' if not pairings[label].paired else ''}</th>"
                    for label in labels[1:])
    indicator_table = (f"<table>\n<thead><tr><th>Indicator and region</th>{head}</tr></thead>\n<tbody>\n"
                       f"{_compare_rows(table, labels, names)}\n</tbody></table>\n"
                       f"<p class=\"note\">{_e(comparison_note(table))}</p>")
    figures = [plot_compare_curves(results, tier=tier, caption=False)]
    if len(results) > 1:
        figures.append(plot_compare_difference(results, tier=tier, caption=False, unpaired=unpaired))
    figure_html = "\n".join(_figure_html(i, f"comparison_{i}", fig, dpi) for i, fig in enumerate(figures, start=1))
    changes = []
    for label, result in zip(labels[1:], results[1:]):
        record = {"reference": labels[0], "changes": [c.to_dict() for c in changes_between(results[0].scenario,
                                                                                            result.scenario)]}
        changes.append(f"<h3>{_e(display_name(label))}</h3>\n{_changes_html(record, label)}")
    warning = ""
    unpaired_labels = [label for label, how in pairings.items() if not how.paired]
    if unpaired_labels:
        warning = ('<aside class="box warning"><h3>UNPAIRED comparison</h3><p>'
                   + _e("; ".join(pairings[label].describe(label, labels[0]) for label in unpaired_labels))
                   + ". Run the scenarios with the same root seed to pair them.</p></aside>")
    summary = (f"{warning}{_comparison_findings_html(table, names, labels[0])}\n{_limitations_html()}")
    scenarios = "".join(
        f"<h3>{_e(display_name(label))}{' (baseline)' if i == 0 else ''}</h3>\n"
        f"<p>{_e(r.scenario.description or 'No description given in the scenario.')}</p>\n{_facts_html(r)}"
        for i, (label, r) in enumerate(zip(labels, results)))
    folders = list(folders) if folders is not None else [r.manifest.get("results_folder") for r in results]
    provenance = "".join(f"<h3>{_e(display_name(label))}</h3>\n{_provenance_html(r, folder)}"
                         for label, r, folder in zip(labels, results, folders))
    title = " vs ".join(display_name(label) for label in labels)
    header = (f"<h1>{_e(title)}</h1>\n<p class=\"description\">Comparison of "
              f"{len(results) - 1} scenario{'s' if len(results) > 2 else ''} with {_e(display_name(labels[0]))} "
              f"(the baseline) at {_e(', '.join(_year_text(y) for y in at))}.</p>")
    sections = [
        ("changes", "What each scenario changes", "\n".join(changes)),
        ("findings", "Key findings and limitations", summary),
        ("figures", "Figures", figure_html),
        ("indicators", "All headline indicators and changes", indicator_table),
        ("scenarios", "Scenarios", scenarios),
        ("provenance", "Provenance", provenance),
    ]
    version = results[0].manifest.get("talentsim_version", "")
    footer = f"Made by talentsim {_e(version)} from the runs' tables and manifests."
    return _document(f"talentsim comparison: {title}", "talentsim scenario comparison", header, sections, footer)


def write_comparison_report(results: Sequence[RunResult], path: str | Path, **options) -> Path:
    """Write :func:`comparison_report_html` to ``path`` (UTF-8, atomically, honouring the umask); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, comparison_report_html(results, **options))
