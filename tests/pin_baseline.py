"""The pinned summary of the calibrated baseline, guarding it against silent drift.

``tests/test_baseline_pinned.py`` compares a fresh run with ``tests/data/baseline_summary.json``. When a change to
the model or the baseline is meant to change results, rewrite the pinned summary explicitly:

    python tests/pin_baseline.py

and commit the new file with the change that explains it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINNED = ROOT / "tests" / "data" / "baseline_summary.json"
SETTINGS = {"researchers": 5000, "replicates": 2, "seed": 2019, "end": "2031-01"}
YEARS = (2019, 2022, 2025, 2030)


def summary() -> dict:
    """Return shares of top-tier researchers by region and home retention by origin at ``YEARS`` (replicate means)."""
    from simulation import load_scenario, run

    scenario = load_scenario(ROOT / "scenarios" / "baseline.yaml").with_run(
        researchers=SETTINGS["researchers"], replicates=SETTINGS["replicates"], seed=SETTINGS["seed"], end=SETTINGS["end"]
    )
    result = run(scenario)
    out: dict = {"settings": SETTINGS, "top_tier_share": {}, "home_retention": {}, "researchers": {}}
    curve = result.migration_curve("top_tier")
    retention = result.retention_curve("top_tier")
    stocks = result.stocks[result.stocks.tier == "all"]
    for year in YEARS:
        at = curve[curve.year == year]
        out["top_tier_share"][str(year)] = {r: round(float(v), 10) for r, v in at.groupby("region").share.mean().items()}
        kept = retention[retention.year == year]
        out["home_retention"][str(year)] = {o: round(float(v), 10) for o, v in kept.groupby("origin").retention.mean().items()}
        total = stocks[stocks.year == year].groupby("replicate").researchers.sum()
        out["researchers"][str(year)] = int(total.sum())
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    PINNED.parent.mkdir(parents=True, exist_ok=True)
    PINNED.write_text(json.dumps(summary(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {PINNED}")
