"""Run the scenario library against the baseline and write its table of paired differences at a year.

    python experiments/scenario_library.py                      # 10 replicates x 20,000 researchers, 2030
    python experiments/scenario_library.py --replicates 4 --year 2030 --out docs/scenario_library.csv

Every scenario runs with the baseline's seeds and parameter draws: replicate i of a scenario and of the baseline
share their random streams and their draw of the calibrated parameter ensemble
(scenarios/base/calibrated.ensemble.parquet), so the difference of a replicate pair is the policy, and the spread of
the differences carries both replicate noise and parameter uncertainty (``--no-ensemble``: replicate noise alone, at
the point estimate). For each scenario the table gives, at the year, the share of top-tier, elite and frontier
researchers working in the US and in China, the home retention of Chinese-origin top-tier researchers, and the elite
and frontier staff of the employers the scenario's own levers name (for exit restrictions also their departures and
hires per year from 2025) — each as the median and 90% range over replicates, and as the median and 90% range of
the paired differences from the baseline. The README table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulation import load_scenario, run  # noqa: E402
from simulation.results import migration_curve  # noqa: E402
from simulation.summary import excludes_zero, replicate_band, statistic_note  # noqa: E402

TIERS = {"top_tier": "top-tier", "elite": "elite", "frontier": "frontier"}
LEVERS_FROM = 2025.0  # every library scenario changes its levers from 2025 on: flows are counted from then
ENSEMBLE = ROOT / "scenarios" / "base" / "calibrated.ensemble.parquet"


def measures(result, year: float, employers: list[str], scale: float) -> pd.DataFrame:
    """Return one row per replicate and one column per measure at ``year`` (staff in real researchers: ``scale``)."""
    out = {}
    for tier, word in TIERS.items():
        curve = migration_curve(result.stocks, tier)
        curve = curve[np.isclose(curve.year, year)]
        for region in ("US", "China"):
            out[f"{region} {word} share"] = curve[curve.region == region].set_index("replicate").share
    retention = result.retention
    at = retention[np.isclose(retention.year, year) & (retention.origin == "China") & (retention.tier == "top_tier")]
    out["China-origin top-tier at home"] = at.set_index("replicate").retention
    employers_table = result.employers
    table = employers_table[np.isclose(employers_table.year, year)].set_index(["replicate", "employer"])
    window = employers_table[(employers_table.year >= LEVERS_FROM) & (employers_table.year < year)]
    flows = window.groupby(["replicate", "employer"])[["departures", "arrivals"]].sum() / (year - LEVERS_FROM)
    for employer in employers:
        staff = table.xs(employer, level="employer")
        out[f"{employer} elite staff"] = staff.elite_headcount * scale
        out[f"{employer} frontier staff"] = staff.frontier_headcount * scale
        moved = flows.xs(employer, level="employer")
        out[f"{employer} departures per year"] = moved.departures * scale
        out[f"{employer} hires per year"] = moved.arrivals * scale
    return pd.DataFrame(out)


def _levers(path: Path) -> dict:
    """Return the levers a scenario file sets itself (not those it extends)."""
    import yaml

    return (yaml.safe_load(path.read_text()) or {}).get("levers", {}) or {}


def named_employers(path: Path) -> list[str]:
    """Return the employers a scenario file's own levers name (signing bonuses, exit restrictions, funding)."""
    levers = _levers(path)
    names = list(levers.get("signing_bonus", {}) or {})
    for lever in ("exit_restriction", "state_funding_usd_m_per_year"):
        names += list(((levers.get(lever) or {}).get("employer") or {}))
    return list(dict.fromkeys(names))


def interval(values: pd.Series) -> tuple[float, float, float]:
    """Return the median over replicates and the range holding 90% of them (the project's one statistic)."""
    band = replicate_band(pd.DataFrame({"key": 0, "value": values.to_numpy()}), ["key"], "value").iloc[0]
    return float(band["median"]), float(band["low"]), float(band["high"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--researchers", type=int, default=20_000)
    parser.add_argument("--year", type=float, default=2030.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "scenario_library.csv")
    parser.add_argument("--no-ensemble", action="store_true",
                        help="run every replicate at the calibrated point estimate (replicate noise only)")
    args = parser.parse_args(argv)
    ensemble = None if args.no_ensemble else ENSEMBLE

    paths = sorted((ROOT / "scenarios").glob("*.yaml"))
    baseline_path = ROOT / "scenarios" / "baseline.yaml"
    everyone = sorted({e for p in paths for e in named_employers(p)})
    results = {}
    for path in [baseline_path] + [p for p in paths if p != baseline_path]:
        scenario = load_scenario(path).with_run(replicates=args.replicates, researchers=args.researchers)
        result = run(scenario, ensemble=ensemble)
        scale = scenario.population.represents / scenario.run.researchers
        results[path.stem] = (scenario, measures(result, args.year, everyone, scale))
        print(f"ran {path.stem}", file=sys.stderr)

    base = results["baseline"][1]
    rows = []
    for name, (_scenario, table) in results.items():
        own = set(named_employers(ROOT / "scenarios" / f"{name}.yaml"))
        restricted = "exit_restriction" in _levers(ROOT / "scenarios" / f"{name}.yaml")
        for measure in table.columns:
            employer = measure.split(" ")[0] if measure.split(" ")[0] in everyone else None
            if employer is not None and measure.endswith("per year") and not restricted:
                continue
            if employer is not None and employer not in own:
                continue
            median, low, high = interval(table[measure])
            row = {"scenario": name, "measure": measure, "year": args.year, "median": median, "low": low,
                   "high": high, "replicates": len(table)}
            if name != "baseline":
                d_median, d_low, d_high = interval(table[measure] - base[measure])
                precision = 0.0005 if measure.endswith(("share", "home")) else 0.5
                row.update(diff_median=d_median, diff_low=d_low, diff_high=d_high,
                           excludes_zero=bool(excludes_zero(d_low, d_high, precision)))
            rows.append(row)
    frame = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(markdown(frame, results))
    note = statistic_note(args.replicates, paired=True)
    if ensemble is not None:
        note += (" Each replicate runs with its own draw of the calibrated parameter ensemble, the same draw in a "
                 "scenario and in the baseline: intervals carry parameter uncertainty and replicate noise together.")
    print("\n" + note, file=sys.stderr)
    return 0


def markdown(frame: pd.DataFrame, results) -> str:
    """Return the README table: each scenario's paired differences from the baseline, in points."""
    columns = ["US top-tier share", "China top-tier share", "US elite share", "China elite share",
               "US frontier share", "China frontier share", "China-origin top-tier at home"]
    lines = ["| scenario | " + " | ".join(columns) + " | targeted employers (frontier staff; for exit "
             "restrictions, departures and hires per year 2025-2030) |",
             "|---|" + "---|" * (len(columns) + 1)]
    for name in results:
        rows = frame[frame.scenario == name].set_index("measure")
        if name == "baseline":
            cells = [f"{rows.loc[c, 'median']:.1%}" for c in columns]
            lines.append("| `baseline` (level) | " + " | ".join(cells) + " | |")
            continue
        cells = []
        for c in columns:
            r = rows.loc[c]
            mark = "**" if r.excludes_zero else ""
            cells.append(f"{mark}{100 * r.diff_median:+.1f}{mark} [{100 * r.diff_low:+.1f}, {100 * r.diff_high:+.1f}]")
        staff = [m for m in rows.index if m.endswith("frontier staff")]
        extra = "; ".join(f"{m.split(' ')[0]} {_signed(rows.loc[m])}" for m in staff)
        flows = [m for m in rows.index if m.endswith("departures per year")]
        if flows:  # an exit restriction: what it keeps and what it costs in recruiting
            extra = "; ".join(
                f"{m.split(' ')[0]} departures {_signed(rows.loc[m])}, hires "
                f"{_signed(rows.loc[m.replace('departures', 'hires')])}" for m in flows)
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {extra} |")
    return "\n".join(lines)


def _signed(row: pd.Series) -> str:
    """Return a paired difference in real researchers, bold where its 90% range excludes zero."""
    mark = "**" if row.excludes_zero else ""
    return f"{mark}{row.diff_median:+.0f}{mark}"


if __name__ == "__main__":
    raise SystemExit(main())
