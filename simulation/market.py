"""Market kernels: search, logit choice and capacity-limited matching as column operations.

Pure functions on numpy arrays, with no Mesa import, so each can be tested against its closed form.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "OfferKind",
    "choose_best",
    "logit_choice",
    "match_under_capacity",
    "offer_utility",
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


def search_probability(
    rate_per_year: float | np.ndarray,
    years: float,
    *,
    dissatisfaction: np.ndarray,
    offers_received: np.ndarray,
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
    co_nationals: np.ndarray,
    cost: np.ndarray,
) -> np.ndarray:
    """Return the systematic utility of each alternative (before Gumbel noise).

    ``V = b_pay ln(pay) + b_impact impact + b_home [home] + b_net ln(1 + co-nationals) - cost``, where
    ``pay`` includes the amortised bonus and ``cost`` the moving cost, visa friction and hostile climate.
    """
    return (
        b_pay * np.log(np.maximum(pay_usd, 1.0))
        + b_impact * impact
        + b_home * at_home
        + b_net * np.log1p(co_nationals)
        - cost
    )


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
    over = np.bincount(employer, minlength=len(vacancies)) > vacancies
    accepted = ~over[employer]
    contested = np.flatnonzero(~accepted)
    if len(contested):
        order = contested[np.lexsort((-quality[contested], employer[contested]))]
        sorted_emp = employer[order]
        starts = np.flatnonzero(np.r_[True, sorted_emp[1:] != sorted_emp[:-1]])
        first_of_group = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        rank = np.arange(len(order)) - first_of_group
        accepted[order] = rank < vacancies[sorted_emp]
    return accepted
