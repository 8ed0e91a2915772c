"""Market kernels: random draws, quantiles, search hazards and utilities as column operations.

Pure functions on numpy arrays, with no Mesa import, so each can be tested against its closed form.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "OfferKind",
    "best_row",
    "choose_best",
    "gumbel",
    "inverse_cdf",
    "offer_utility",
    "search_probability",
    "stable_argsort",
    "stochastic_round",
    "weighted_quantiles",
]


class OfferKind:
    """Codes of the alternatives a researcher weighs."""

    STAY = 0
    VACANCY = 1  # an offer found by searching, from an employer with open positions
    BONUS = 2  # a signing-bonus offer targeted at a star
    RETURN = 3  # a return-programme package for an expatriate

    LABELS = {STAY: "stay", VACANCY: "vacancy", BONUS: "signing bonus", RETURN: "return programme"}
    TARGETED = (BONUS, RETURN)  # invitations that bring their own post


def stochastic_round(x: float, rng: np.random.Generator) -> int:
    """Return ``floor(x)`` or ``ceil(x)`` with the probabilities that make its mean ``x``."""
    whole = int(np.floor(x))
    return whole + int(rng.random() < x - whole)


def gumbel(rng: np.random.Generator, size) -> np.ndarray:
    """Return standard Gumbel draws, as -ln of standard exponential draws (faster than ``rng.gumbel``)."""
    draws = rng.standard_exponential(size)
    with np.errstate(divide="ignore"):  # an exact 0 (chance 2**-53) gives +inf: that alternative wins
        np.log(draws, out=draws)
    return np.negative(draws, out=draws)


def inverse_cdf(cumulative: np.ndarray, row: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Return the category each uniform draw ``u`` falls in, under the cumulative distribution of its ``row``.

    ``cumulative`` is (rows, categories), each row ascending and ending in 1; ``row`` gives each draw's row
    and broadcasts against ``u``. The result is ``searchsorted(cumulative[row], u, side="right")``, found
    through a table of equal slices of [0, 1) and a few vectorised steps forward, without a binary search
    per draw.
    """
    width = cumulative.shape[1]
    # More slices mean fewer steps forward; about one slice per 16 draws balances the table's cost.
    buckets = int(np.clip(2 ** np.ceil(np.log2(max(u.size, 1) / 16)), 16, 1024))
    edges = np.arange(buckets) / buckets
    start = np.concatenate([np.searchsorted(c, edges, side="right") for c in cumulative])
    row = row.astype(np.int64)
    slice_ = (u * buckets).astype(np.int64)
    slice_ += row * buckets
    category = np.take(start.ravel(), slice_)
    # A category whose cumulative value is at or below the draw lies wholly before it: step past it.
    position = category + row * width
    todo = np.flatnonzero(u >= np.take(cumulative.ravel(), position))
    if len(todo):
        category, position, u = category.ravel(), position.ravel(), np.broadcast_to(u, category.shape).ravel()
        flat = cumulative.ravel()
        while len(todo):
            category[todo] += 1
            position[todo] += 1
            todo = todo[u[todo] >= flat[position[todo]]]
    return category.reshape(slice_.shape)


def weighted_quantiles(x: np.ndarray, weight: np.ndarray, levels) -> np.ndarray:
    """Return, for each level p, the smallest ``x_i`` such that the weight of ``{x <= x_i}`` is at least p of the total.

    ``x`` must be positive. Values are binned on their floating-point exponent and top mantissa bits (256 bins
    an octave, without a logarithm), the bin holding each quantile is found from cumulative weights, and only
    that bin is sorted: exact, in a few passes over the data instead of a sort.
    """
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    bins = x.view(np.int64) >> 44
    bins -= bins.min()
    cumulative = np.cumsum(np.bincount(bins, weights=weight))
    total = cumulative[-1]
    targets = levels * total
    chosen = np.minimum(np.searchsorted(cumulative, targets * (1 - 1e-12)), len(cumulative) - 1)
    # One pass finds the members of every bin holding a quantile.
    holds = np.zeros(len(cumulative), dtype=bool)
    holds[chosen] = True
    candidates = np.flatnonzero(holds[bins])
    candidate_bins = bins[candidates]
    out = np.empty(len(levels))
    for k, (target, b) in enumerate(zip(targets, chosen.tolist())):
        members = candidates[candidate_bins == b]
        order = np.argsort(x[members], kind="stable")
        before = cumulative[b - 1] if b > 0 else 0.0
        running = before + np.cumsum(weight[members][order])
        i = min(int(np.searchsorted(running, target * (1 - 1e-12))), len(order) - 1)
        out[k] = x[members[order[i]]]
    return out


def search_probability(
    rate_per_year: float | np.ndarray,
    years: float,
    *,
    dissatisfaction: np.ndarray,
    offers_received: np.ndarray | int,
    career_age: np.ndarray,
    tenure: np.ndarray,
    coefficients: tuple[float, float, float, float],
) -> np.ndarray:
    """Return each researcher's probability of searching within ``years``.

    The hazard rises with dissatisfaction and offers received and falls with career age and tenure:
    ``rate = base * exp(a_d * dissatisfaction + a_o * offers - a_c * career_age - a_t * tenure)``.
    """
    a_d, a_o, a_c, a_t = coefficients
    shape = np.broadcast_shapes(*map(np.shape, (rate_per_year, dissatisfaction, offers_received, career_age, tenure)))
    # One float64 array worked in place, the formula's operations in its order: no temporary column per term.
    p = np.multiply(dissatisfaction, a_d, out=np.empty(shape))
    p += a_o * offers_received
    p -= a_c * career_age
    p -= a_t * tenure
    np.exp(p, out=p)
    p *= rate_per_year  # the rate
    p *= -years
    np.expm1(p, out=p)
    return np.negative(p, out=p)


def offer_utility(
    *,
    b_pay: np.ndarray,
    b_impact: np.ndarray,
    b_home: np.ndarray,
    b_net: np.ndarray,
    pay_usd: np.ndarray,
    impact: np.ndarray,
    at_home: np.ndarray,
    network: np.ndarray,
    cost: np.ndarray,
) -> np.ndarray:
    """Return the systematic utility of each alternative (before Gumbel noise).

    ``V = b_pay ln(pay) + b_impact impact + b_home [home] + b_net network - cost``, where ``pay`` includes the
    amortised bonus, ``network`` is ln(1 + co-nationals there) and ``cost`` the moving cost, visa friction and
    hostile climate. Arguments broadcast: researchers' weights of shape (n,) against alternatives of (slots, n).
    """
    return b_pay * np.log(np.maximum(pay_usd, 1.0)) + b_impact * impact + b_home * at_home + b_net * network - cost


def choose_best(score: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Return, for each group present, the row index of its highest score (ties: the later row)."""
    if len(score) == 0:
        return np.empty(0, dtype=np.int64)
    size = int(group.max()) + 1
    best = np.full(size, -np.inf)
    np.maximum.at(best, group, score)
    rows = np.flatnonzero(score == best[group])
    pick = np.full(size, -1, dtype=np.int64)
    np.maximum.at(pick, group[rows], rows)  # ties: the later row
    return pick[pick >= 0]


def stable_argsort(key: np.ndarray) -> np.ndarray:
    """Return the order that sorts ``key`` ascending, equal keys in their original order (as a stable sort does).

    numpy's stable sort of floats is a merge sort, about half as fast as its default sort, which orders equal keys
    arbitrarily. Equal real-valued keys (qualities, utilities with noise) are all but impossible, so the default
    sort is used and checked: only if two sorted keys are equal is the stable sort done instead.
    """
    order = np.argsort(key)
    ordered = key[order]
    if (ordered[1:] == ordered[:-1]).any():
        return np.argsort(key, kind="stable")
    return order


def best_row(score: np.ndarray) -> np.ndarray:
    """Return, for each column of a 2-D ``score``, the row of its highest value (ties: the later row)."""
    best = score[0].copy()
    row = np.zeros(score.shape[1], dtype=np.int64)
    for j in range(1, len(score)):
        better = score[j] >= best
        row[np.flatnonzero(better)] = j  # by positions: faster than by a scattered mask
        np.maximum(best, score[j], out=best)
    return row
