"""Matching under capacity: who of the researchers choosing an offer gets the post.

Targeted offers (signing bonuses, return packages) bring their own post and are always kept. Ordinary vacancies
are scarce: an oversubscribed employer keeps its highest-quality acceptors until their weights fill its vacancies;
the others stay where they are, or try their next offer in another round.
"""

from __future__ import annotations

import numpy as np

from .choice import ChoiceSets, Offers
from .market import stable_argsort

__all__ = ["match", "match_under_capacity"]


def match_under_capacity(
    employer: np.ndarray, quality: np.ndarray, vacancies: np.ndarray, weight: np.ndarray | None = None
) -> np.ndarray:
    """Return which acceptors each employer keeps: its highest-quality ones, while their weights fit its vacancies.

    Args:
        employer: employer index chosen by each acceptor.
        quality: acceptor quality; higher is kept first (ties: the earlier row).
        vacancies: open positions of each employer, in model researchers.
        weight: model researchers each acceptor counts for (default 1 each).
    """
    if len(employer) == 0:
        return np.zeros(0, dtype=bool)
    weight = np.ones(len(employer)) if weight is None else weight
    demand = np.bincount(employer, weights=weight, minlength=len(vacancies))
    # Only oversubscribed employers need their acceptors ranked; the others keep everyone.
    over = demand > vacancies + 1e-9
    accepted = ~over[employer]
    if accepted.all():
        return accepted
    contested = np.flatnonzero(~accepted)
    # Grouped by employer, best first; equal quality: the earlier row first. A stable sort by employer, then each
    # employer's acceptors sorted by quality: faster than sorting them all by quality first.
    contested = contested[np.argsort(employer[contested], kind="stable")]
    group = employer[contested]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    for start, end in zip(starts.tolist(), [*starts[1:].tolist(), len(contested)]):
        members = contested[start:end]
        contested[start:end] = members[stable_argsort(-quality[members])]
    filled = np.cumsum(weight[contested])
    filled -= np.repeat(np.r_[0.0, filled[starts[1:] - 1]], np.diff(np.r_[starts, len(contested)]))
    accepted[contested[np.flatnonzero(filled <= vacancies[group] + 1e-9)]] = True
    return accepted


def match(choices: ChoiceSets, chosen: np.ndarray, quality: np.ndarray, weight: np.ndarray, vacancies: np.ndarray):
    """Return the hires of one round and the choice sets left for another.

    Targeted offers are kept whatever the vacancies; acceptors of ordinary vacancies are matched under capacity,
    and ``vacancies`` (model researchers) is reduced by those hired. Rejected researchers keep their other offers,
    without the one that rejected them or any employer now full.
    """
    # Slot 0 is staying, the other slots are vacancies a search found, and choices from ``slots`` on are
    # targeted offers; only the researchers who move are picked out.
    ordinary = (chosen > 0) & (chosen < choices.slots)
    acceptors = choices.picked(chosen, np.flatnonzero(ordinary))
    rows = acceptors.researcher
    accepted = match_under_capacity(acceptors.employer, quality[rows], vacancies, weight[rows])
    hired_ordinary = acceptors.take(accepted)
    vacancies -= np.bincount(hired_ordinary.employer, weights=weight[hired_ordinary.researcher], minlength=len(vacancies))
    np.maximum(vacancies, 0.0, out=vacancies)
    rejected = np.zeros(len(choices), dtype=bool)
    rejected[np.flatnonzero(ordinary)[np.flatnonzero(~accepted)]] = True
    hired = Offers.concat([choices.picked(chosen, np.flatnonzero(chosen >= choices.slots)), hired_ordinary])
    return hired, choices.after_rejection(rejected, chosen, vacancies)
