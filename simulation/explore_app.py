"""The what-if explorer's web page (Solara). Started by ``talentsim explore``; needs the ``explore`` extra.

The page is built from :func:`simulation.explore.lever_controls`, so every lever of the schema has a control
without code of its own here. Runs go to a worker process (:class:`simulation.explore.Explorer`); the page only
shows what it sends back. The starting scenario file is named by the ``TALENTSIM_EXPLORE_SCENARIO`` environment
variable (set by the command).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from dataclasses import replace
from pathlib import Path

import solara
from solara.server import kernel_context

from .explore import (
    DEFAULT_REPLICATES,
    DEFAULT_RESEARCHERS,
    GROUPS,
    OTHER_GROUP,
    RESEARCHER_CHOICES,
    Control,
    Explorer,
    Request,
    change_months,
    changed_scenario,
    default_change_month,
    extends_path,
    lever_controls,
    save_scenario,
)
from .explore_server import SCENARIO_ENV, SIZE_ENV
from .scenario import ScenarioError, load_scenario

TIERS = {"top_tier": "top-tier (top 20%)", "elite": "elite (top 1%)", "all": "all researchers"}

CSS = """
.ts-lever { border-left: 3px solid #d9d9de; padding: 2px 0 6px 10px; margin: 6px 0 10px 0; }
.ts-control { margin: 2px 0 8px 0; }
.ts-control.changed { background: #fff4e0; border-radius: 4px; padding: 2px 4px; }
.ts-meaning { color: #5b5b60; font-size: 0.78rem; line-height: 1.25; }
.ts-unit { color: #5b5b60; font-size: 0.78rem; }
.ts-table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; width: 100%; }
.ts-table th, .ts-table td { padding: 3px 8px; text-align: right; border-bottom: 1px solid #e3e3e8; }
.ts-table th:first-child, .ts-table td:first-child { text-align: left; }
.ts-table tr.group th { text-align: left; background: #f4f4f6; }
.ts-table .interval { color: #5b5b60; font-size: 0.75rem; display: block; }
.ts-figure { width: 100%; max-width: 900px; }
.v-navigation-drawer .ts-control, .v-navigation-drawer .ts-lever { max-width: 100%; overflow: hidden; }
"""


def _scenario_file() -> Path:
    return Path(os.environ.get(SCENARIO_ENV, "scenarios/baseline.yaml"))


def _format(control: Control, value: float) -> str:
    if control.integer or (abs(value) >= 1000 and float(value).is_integer()):
        return f"{value:,.0f}"
    return f"{value:.4g}"


@solara.component
def LeverControl(control: Control, value: float | None, on_change):
    """One number: label, unit and range, meaning, a slider and an exact input."""
    current = control.reference if value is None else value
    changed = value is not None
    problem = control.check(current)

    def set_value(new):
        if new is None:
            return
        new = float(new)
        if control.integer:
            new = round(new)
        on_change(control, None if abs(new - control.reference) <= 1e-12 else new)

    with solara.Column(classes=["ts-control", "changed" if changed else ""], gap="0px"):
        with solara.Row(gap="6px", style={"align-items": "baseline"}):
            solara.Text(control.label, style={"font-weight": "600", "font-size": "0.9rem"})
            unit = f"{control.unit}; " if control.unit else ""
            solara.Text(f"({unit}{control.range_text})", classes=["ts-unit"])
        if control.description != control.lever_description:
            solara.Text(control.description, classes=["ts-meaning"])
        with solara.Row(gap="8px", style={"align-items": "center", "flex-wrap": "nowrap", "max-width": "100%"}):
            with solara.Div(style={"flex": "1 1 0", "min-width": "0"}):
                solara.SliderFloat("", value=min(max(current, control.low), control.high), min=control.low,
                                   max=control.high, step=control.step, on_value=set_value, thumb_label=False)
            with solara.Div(style={"width": "104px", "flex": "0 0 104px"}):
                solara.InputFloat("value", value=current, on_value=set_value, continuous_update=False)
        note = f"was {_format(control, control.reference)}" if changed else (
            "" if control.listed else "not set in the scenario: the value the model uses")
        if control.later:
            steps = ", ".join(f"{_format(control, v)} from {when}" for when, v in control.later)
            note += ("; " if note else "") + f"the scenario then has {steps}" + (
                ", which this change replaces" if changed else "")
        if problem:
            solara.Error(problem, dense=True)
        if note or changed:
            with solara.Row(gap="4px", style={"align-items": "center"}):
                solara.Text(note, classes=["ts-unit"])
                if changed:
                    solara.Button("Reset", icon_name="mdi-undo", text=True, small=True, classes=["ts-reset"],
                                  on_click=lambda: on_change(control, None))


@solara.component
def Lever(controls: list[Control], changes: dict, on_change, shown: list[str], on_show):
    """A lever: its title and meaning, the controls the scenario sets, and a picker for the entries it does not."""
    first = controls[0]
    visible = [c for c in controls if c.listed or c.key in shown or (c.path, c.part) in changes]
    hidden = [c for c in controls if c not in visible]
    n_changed = sum((c.path, c.part) in changes for c in controls)
    title = first.lever_title + (f"  ({n_changed} changed)" if n_changed else "")
    with solara.Details(summary=title, expand=n_changed > 0):
        with solara.Column(classes=["ts-lever"], gap="2px"):
            solara.Text(first.lever_description, classes=["ts-meaning"])
            for control in visible:
                LeverControl(control, changes.get((control.path, control.part)), on_change)
            if hidden:
                labels = {c.label: c.key for c in hidden}
                solara.Select(label=f"Set another entry ({len(hidden)})", values=list(labels), value=None,
                              on_value=lambda label: on_show(labels[label]) if label else None)


def _table_html(rows: list[dict], names: dict[str, str]) -> str:
    if not rows:
        return ""
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    from .compare import format_difference, format_value

    head = "".join(f"<th>{html.escape(s)}</th>" for s in scenarios)
    head += "".join(f"<th>{html.escape(s)} minus {html.escape(scenarios[0])}</th>" for s in scenarios[1:])
    out = [f'<table class="ts-table" id="headline"><thead><tr><th>Indicator and place</th>{head}</tr></thead><tbody>']
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["indicator"], r["year"]), []).append(r)
    for (indicator, year), group in groups.items():
        out.append(f'<tr class="group"><th colspan="{2 * len(scenarios)}">{html.escape(indicator)}, '
                   f'{year:g}</th></tr>')
        places = list(dict.fromkeys(r["place"] for r in group))
        for place in places:
            cells = []
            by = {r["scenario"]: r for r in group if r["place"] == place}
            for s in scenarios:
                r = by[s]
                cells.append(f"<td>{format_value(indicator, r['median'])}<span class=\"interval\">"
                             f"[{format_value(indicator, r['low'])}, {format_value(indicator, r['high'])}]</span></td>")
            for s in scenarios[1:]:
                r = by[s]
                cells.append(f"<td data-diff=\"{r['diff_median']:.6g}\">{format_difference(indicator, r['diff_median'])}"
                             f"<span class=\"interval\">[{format_difference(indicator, r['diff_low'])}, "
                             f"{format_difference(indicator, r['diff_high'])}]</span></td>")
            out.append(f"<tr><td>{html.escape(names.get(place, place))}</td>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "what_if"


@solara.component
def Page():
    path = _scenario_file()
    start = solara.use_memo(lambda: load_scenario(path), [str(path)])
    months = solara.use_memo(lambda: change_months(start), [start])
    month, set_month = solara.use_state(default_change_month(start))
    controls = solara.use_memo(lambda: lever_controls(start, month), [start, month])
    changes, set_changes = solara.use_state({})
    shown, set_shown = solara.use_state([])
    size = os.environ.get(SIZE_ENV, f"{DEFAULT_REPLICATES},{DEFAULT_RESEARCHERS}").split(",")
    replicates, set_replicates = solara.use_state(int(size[0]))
    researchers, set_researchers = solara.use_state(int(size[1]))
    seed, set_seed = solara.use_state(int(start.run.seed))
    tier, set_tier = solara.use_state("top_tier")
    default_name = f"{start.name}_what_if"
    name, set_name = solara.use_state(default_name)
    note, set_note = solara.use_state("")
    saved, set_saved = solara.use_state(None)
    # Held in a reactive that only the result components read, so progress news redraws them, not the controls.
    status = solara.use_reactive(None)
    context = kernel_context.get_current_context()

    def on_status(new):
        with context:
            status.set(replace(new))

    explorer = solara.use_memo(lambda: Explorer(on_status), [])

    def close():
        return explorer.close

    solara.use_effect(close, [])

    # The changed scenario, validated; a mistake is shown, not run.
    built, problem = None, None
    try:
        if changes:
            built = changed_scenario(start, controls, changes, month, name=_slug(name) or default_name,
                                     description=note or None, extends=extends_path(path, _save_path(path, name)))
    except (ScenarioError, ValueError) as exc:
        problem = str(exc)

    request_key = (repr(sorted((k, v) for k, v in changes.items())), month, replicates, researchers, seed, tier)

    def submit():
        if problem:
            return
        explorer.submit(Request(baseline=start.to_dict(), changed=built.scenario.to_dict() if built else None,
                                seed=seed, replicates=replicates, researchers=researchers, tier=tier))

    solara.use_effect(submit, [request_key, problem])

    def on_change(control: Control, value):
        new = dict(changes)
        if value is None:
            new.pop((control.path, control.part), None)
        else:
            new[(control.path, control.part)] = value
        set_changes(new)
        set_saved(None)

    def on_show(key):
        set_shown([*shown, key])

    def on_month(text):
        new = dt.date.fromisoformat(text + "-01")
        set_month(new)
        set_saved(None)

    def save():
        if built is None:
            return
        target = _save_path(path, name)
        command = (f"talentsim run {target} --seed {seed} --replicates {replicates} --researchers {researchers}")
        try:
            save_scenario(built, target, command=command)
            set_saved({"path": str(target), "command": command, "error": None})
        except (ScenarioError, ValueError, OSError) as exc:
            set_saved({"path": str(target), "command": command, "error": str(exc)})

    solara.Style(CSS)
    solara.Title(f"talentsim explore: {start.name}")
    with solara.Sidebar():
        with solara.Card("The change", margin=0):
            solara.Select(label="Levers change from (month)", values=[f"{m:%Y-%m}" for m in months],
                          value=f"{month:%Y-%m}", on_value=on_month)
            solara.Text(f"Before it, both runs follow '{start.name}' ({path}).", classes=["ts-meaning"])
        with solara.Card("Run size", margin=0):
            solara.SliderInt(f"Replicates: {replicates}", value=replicates, min=1, max=20, on_value=set_replicates)
            solara.Select(label="Researchers at the start",
                          values=[f"{n:,}" for n in sorted({*RESEARCHER_CHOICES, researchers})],
                          value=f"{researchers:,}", on_value=lambda t: set_researchers(int(t.replace(",", ""))))
            solara.InputInt("Root seed", value=seed, on_value=lambda v: set_seed(max(0, int(v))) if v is not None
                            else None, continuous_update=False)
            solara.Select(label="Tier of the migration curves", values=list(TIERS.values()), value=TIERS[tier],
                          on_value=lambda t: set_tier(next(k for k, v in TIERS.items() if v == t)))
        for group in [*GROUPS, OTHER_GROUP]:
            members = [c for c in controls if c.group == group]
            if not members:
                continue
            with solara.Card(group, margin=0):
                for lever in dict.fromkeys(c.lever for c in members):
                    Lever([c for c in members if c.lever == lever], changes, on_change, shown, on_show)

    _Results(start, status, built, changes, controls, problem, replicates, researchers, seed, month)
    _Record(start, path, built, status, explorer, name, set_name, note, set_note, save, saved)
    _Answer(start, status)


@solara.component
def _Record(start, path, built, shared, explorer, name, set_name, note, set_note, save, saved):
    status = shared.value
    with solara.Card("From exploration to record", margin=0):
        with solara.Row(gap="12px", style={"flex-wrap": "wrap", "align-items": "center"}):
            with solara.Div(style={"min-width": "260px"}):
                solara.InputText("Scenario name", value=name, on_value=set_name, continuous_update=False)
            with solara.Div(style={"min-width": "420px", "flex": "1"}):
                solara.InputText("Description (which question it answers)", value=note, on_value=set_note,
                                 continuous_update=False)
        with solara.Row(gap="12px", style={"flex-wrap": "wrap"}):
            solara.Button("Save as scenario", icon_name="mdi-content-save", on_click=save, disabled=built is None,
                          color="primary")
            ready = status is not None and status.state == "done"
            label = {"name": built.scenario.name, "description": built.scenario.description} if built else {}
            solara.FileDownload(lambda: explorer.report("run", **label).encode("utf-8"),
                                filename=f"{_slug(name) if built else start.name}_report.html",
                                label="Download report", mime_type="text/html") if ready else solara.Button(
                "Download report", disabled=True)
            if ready and built is not None:
                solara.FileDownload(lambda: explorer.report("comparison", **label).encode("utf-8"),
                                    filename=f"{_slug(name)}_vs_{start.name}.html",
                                    label="Download comparison report", mime_type="text/html")
        if built is None:
            solara.Text("Change a lever to save a scenario.", classes=["ts-meaning"])
        if saved:
            if saved["error"]:
                solara.Error(f"Not saved: {saved['error']}")
            else:
                solara.Success(f"Saved {saved['path']}. It extends {path.name} and holds only the changed levers. "
                               f"Reproduce what is shown here: {saved['command']}")


def _status_line(text: str, state: str, job: int) -> None:
    solara.HTML(tag="div", unsafe_innerHTML=html.escape(text),
                attributes={"id": "run-status", "data-state": state, "data-job": str(job)})


def _save_path(start_file: Path, name: str) -> Path:
    return start_file.parent / f"{_slug(name)}.yaml"


@solara.component
def _Results(start, shared, built, changes, controls, problem, replicates, researchers, seed, month):
    status = shared.value
    with solara.Card(margin=0):
        if problem:
            solara.Error(f"The change cannot be run: {problem}")
        if status is None or status.state in ("idle",):
            solara.Text("Starting the worker...")
        elif status.state == "running":
            solara.ProgressLinear(value=max(1.0, 100 * status.progress), color="primary")
            _status_line(f"Running {replicates} replicate(s) x {researchers:,} researchers... "
                         f"{100 * status.progress:.0f}%" + (f" ({status.cancelled} superseded run(s) cancelled)"
                                                           if status.cancelled else ""), "running", status.job)
        elif status.state == "error":
            solara.Error(f"The run failed: {status.error}")
        elif status.state == "done":
            ran = status.answer["scenarios"]
            what = f"'{ran[1]}' over '{ran[0]}'" if len(ran) > 1 else f"'{ran[0]}' (nothing changed yet)"
            _status_line(f"Showing {what}: {replicates} replicate(s) x {researchers:,} researchers, seed {seed}; "
                         f"updated in {status.seconds:.1f} s" + (f"; {status.cancelled} superseded run(s) cancelled"
                                                                 if status.cancelled else ""), "done", status.job)
        if changes:
            known = {(c.path, c.part): c for c in controls}
            items = []
            for key, value in changes.items():
                c = known.get(key)
                if c is not None:
                    items.append(f"<li><b>{html.escape(c.lever_title)}, {html.escape(c.label)}</b>: "
                                 f"{_format(c, c.reference)} → {_format(c, value)} {html.escape(c.unit)} "
                                 f"(<code>{html.escape(c.key)}</code>, from {month:%Y-%m})</li>")
            # plain HTML: solara.Markdown would fetch a maths renderer that is not shipped for offline use
            solara.HTML(tag="div", unsafe_innerHTML=f"<b>What changed</b><ul>{''.join(items)}</ul>",
                        attributes={"id": "what-changed"})


@solara.component
def _Answer(start, shared):
    status = shared.value
    names = {k: r.name for k, r in start.regions.items()}
    answer = status.answer if status is not None else None
    if not answer:
        return
    figures, captions = answer["figures"], answer.get("captions", {})

    def figure(kind: str, title: str, alt: str) -> None:
        with solara.Card(title, margin=0):
            solara.HTML(tag="img", attributes={"src": "data:image/png;base64," + figures[kind], "class": "ts-figure",
                                               "id": f"figure-{kind}", "alt": alt})
            if captions.get(kind):
                solara.HTML(tag="div", unsafe_innerHTML=html.escape(captions[kind]), classes=["ts-meaning"])

    figure("migration", "Migration: where researchers work", "migration curves")
    if "difference" in figures:
        figure("difference", "Paired difference from the baseline", "difference from the baseline")
    with solara.Card("Headline indicators", margin=0):
        solara.HTML(unsafe_innerHTML=_table_html(answer["table"], names))
        solara.Text("Medians over replicates with the central 90% in brackets; differences are paired by "
                    "replicate seed (common random numbers); shares' differences in percentage points.",
                    classes=["ts-meaning"])
    figure("retention", "Retention: who works at home", "retention curves")
