"""Market kernels: search, logit choice and capacity-limited matching as column operations.

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
    "logit_choice",
    "match_under_capacity",
    "offer_utility",
    "quantiles",
    "search_probability",
    "stochastic_round",
]


class OfferKind:
    """Codes of the alternatives a researcher weighs."""

    STAY = 0
    VACANCY = 1  # an offer found by searching, from an employer with open positions
    BONUS = 2  # a signing-bonus offer targeted at a star
    RETURN = 3  # a return-programme package for an expatriate

    LABELS = {STAY: "stay", VACANCY: "vacancy", BONUS: "signing bonus", RETURN: "return programme"}


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


def quantiles(x: np.ndarray, levels: list[float]) -> np.ndarray:
    """Return ``np.quantile(x, levels)`` (linear interpolation), from one partial sort and without its overhead."""
    levels = np.asarray(levels, dtype=float)
    position = levels * (len(x) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(x) - 1)
    part = np.partition(x, np.unique(np.concatenate([below, above])))
    a, b = part[below], part[above]
    t = position - below
    step = b - a
    return np.where(t >= 0.5, b - step * (1 - t), a + step * t)  # numpy's rounding, from the nearer end


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
    log_rate = a_d * dissatisfaction + a_o * offers_received - a_c * career_age - a_t * tenure
    rate = rate_per_year * np.exp(log_rate)
    return -np.expm1(-rate * years)


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


def best_row(score: np.ndarray) -> np.ndarray:
    """Return, for each column of a 2-D ``score``, the row of its highest value (ties: the later row)."""
    best = score[0].copy()
    row = np.zeros(score.shape[1], dtype=np.int64)
    for j in range(1, len(score)):
        better = score[j] >= best
        row[better] = j
        np.maximum(best, score[j], out=best)
    return row


def logit_choice(utility: np.ndarray, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return the row each group chooses, under multinomial logit over its rows.

    Adding independent Gumbel noise and taking the maximum chooses row ``j`` of a group with probability
    ``exp(V_j) / sum_k exp(V_k)``: the softmax of the group's utilities.
    """
    return choose_best(utility + rng.gumbel(size=len(utility)), group)


def match_under_capacity(employer: np.ndarray, quality: np.ndarray, vacancies: np.ndarray) -> np.ndarray:
    """Return which acceptors each employer keeps: its highest-quality ones, up to its vacancies.

    Args:
        employer: employer index chosen by each acceptor.
        quality: acceptor quality; higher is kept first.
        vacancies: open positions of each employer (indexed by employer).
    """
    if len(employer) == 0:
        return np.zeros(0, dtype=bool)
    # Only oversubscribed employers need their acceptors ranked; the others keep everyone.
    counts = np.bincount(employer, minlength=len(vacancies))
    over = counts > vacancies
    accepted = ~over[employer]
    if accepted.all():
        return accepted
    contested = np.flatnonzero(~accepted)
    contested = contested[np.argsort(employer[contested], kind="stable")]  # grouped by employer, in row order
    bounds = np.cumsum(counts[over])
    for e, stop, n in zip(np.flatnonzero(over), bounds, counts[over]):
        keep = int(vacancies[e])
        if keep <= 0:
            continue
        rows = contested[stop - n : stop]
        q = quality[rows]
        cutoff = np.partition(q, n - keep)[n - keep]  # the keep-th highest quality
        kept = q > cutoff
        ties = np.flatnonzero(q == cutoff)[: keep - int(kept.sum())]  # equal quality: the earlier row first
        kept[ties] = True
        accepted[rows[kept]] = True
    return accepted
