"""The one statistic of results over replicates: the median, with the range that holds 90% of replicates.

Every table, figure, report and terminal line that summarises replicates goes through :func:`replicate_band`, and
says what it shows with :func:`statistic_note`. One replicate gives a median (its own value) and no interval: an
interval of one value would look confident and mean nothing.

Replicates are identified by the keys their manifest records besides their number (today the ``seed``; a
parameter draw of a calibration ensemble adds its own key): :func:`replicate_keys` reads them, and comparisons pair
replicates on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "INTERVAL",
    "MIN_REPLICATES_FOR_INTERVAL",
    "excludes_zero",
    "interval_text",
    "replicate_band",
    "replicate_keys",
    "statistic_note",
]

INTERVAL = 0.9  # share of replicates inside the interval
MIN_REPLICATES_FOR_INTERVAL = 2  # fewer: no interval is shown


def replicate_band(values: pd.DataFrame, keys: Sequence[str], column: str, interval: float = INTERVAL) -> pd.DataFrame:
    """Return, per group of ``keys``, the median of ``column`` over replicates and the range holding the central
    ``interval`` of them.

    Columns: keys, median, low, high, replicates. ``low`` and ``high`` are empty (NaN) for a group with fewer than
    two replicates. Missing values (a share of nobody) are left out. Groups come out sorted by ``keys``.
    """
    keys = list(keys)
    low_q, high_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    table = values.dropna(subset=[column])
    grouped = table.groupby(keys, observed=True, sort=True)[column]
    out = grouped.median().rename("median").reset_index()
    count = grouped.count().to_numpy()
    enough = count >= MIN_REPLICATES_FOR_INTERVAL
    out["low"] = np.where(enough, grouped.quantile(low_q).to_numpy(), np.nan)
    out["high"] = np.where(enough, grouped.quantile(high_q).to_numpy(), np.nan)
    out["replicates"] = count
    return out


SHARE_PRECISION = 0.0005  # half of the 0.1 percentage point that shares and their changes are shown to
COUNT_PRECISION = 0.5  # half a researcher


def excludes_zero(low, high, precision=SHARE_PRECISION):
    """Return where an interval [low, high] excludes zero at the precision it is shown to (so that no key finding
    reads "+0.0 pp" at one end); an empty interval (one replicate) excludes nothing. Works elementwise."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return np.isfinite(low) & ((low >= precision) | (high <= -np.asarray(precision)))


def interval_text(interval: float = INTERVAL) -> str:
    """Return how the interval is defined, as a phrase: '90% of replicates fall in [low, high]'."""
    return f"{interval:.0%} of replicates fall in [low, high]"


def statistic_note(replicates: int, interval: float = INTERVAL, *, what: str = "replicates",
                   paired: bool | None = None, shown: str = "the interval in brackets") -> str:
    """Return the sentence that says which statistic and interval an output shows.

    ``paired`` (for differences from a baseline): True for differences paired replicate by replicate, False for
    differences over every pair of replicates of two runs that share none. ``shown`` names where the interval is
    drawn (a figure says "the band").
    """
    if replicates < MIN_REPLICATES_FOR_INTERVAL:
        text = f"Value of a single replicate: no interval (an interval needs at least {MIN_REPLICATES_FOR_INTERVAL} " \
               "replicates; run more with --replicates)."
    else:
        text = (f"Median of {replicates} {what}; {interval:.0%} of {what} fall within {shown}: it shows the "
                "spread between replicates, not a confidence interval for the median.")
    if paired is True:
        text += (" Differences are the median of paired differences: each replicate of a scenario minus the "
                 "baseline replicate with the same seed (common random numbers).")
    elif paired is False:
        text += (" UNPAIRED: the runs share no replicate seeds, so differences are taken over every pair of "
                 "replicates and include the noise between replicates.")
    return text


def replicate_keys(manifest: dict, columns: Sequence[str] | None = None) -> list[str]:
    """Return the keys that identify a replicate across runs, from the manifest's replicate records.

    Each record holds its number (``replicate``) and what determines its draws (``seed``; a calibration ensemble's
    parameter draw adds its own key, e.g. ``draw``). The number is left out: two runs' replicate 3 are the same
    replicate only if their seeds (and draws) are. With ``columns``, only keys present there are returned.
    """
    records = manifest.get("replicates") or []
    keys: list[str] = []
    for record in records:
        for key in record:
            if key != "replicate" and key not in keys:
                keys.append(key)
    keys = keys or ["seed"]
    return [k for k in keys if columns is None or k in set(columns)]
