"""The calibrated baseline does not drift silently: a fresh run matches the pinned summary.

If a change is meant to move results, rewrite the summary with `python tests/pin_baseline.py` and commit it.
"""

from __future__ import annotations

import json

import pytest
from pin_baseline import PINNED, summary


def test_baseline_matches_the_pinned_summary():
    pinned = json.loads(PINNED.read_text())
    fresh = json.loads(json.dumps(summary(), sort_keys=True))
    assert fresh["settings"] == pinned["settings"]
    assert fresh["researchers"] == pinned["researchers"], "population sizes drifted; see tests/pin_baseline.py"
    for table in ("top_tier_share", "home_retention"):
        for year, values in pinned[table].items():
            for key, value in values.items():
                assert fresh[table][year][key] == pytest.approx(value, abs=1e-9), (
                    f"{table} {key} {year} drifted from {value} to {fresh[table][year][key]}; "
                    "if intended, run `python tests/pin_baseline.py`"
                )
