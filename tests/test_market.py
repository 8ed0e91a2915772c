"""The market kernels against closed forms: logit shares, capacity-limited matching, search hazard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulation.market import (
    choose_best,
    logit_choice,
    match_under_capacity,
    search_probability,
    stochastic_round,
)


def test_logit_choice_shares_match_softmax_probabilities():
    rng = np.random.default_rng(7)
    utilities = np.array([0.0, 1.0, -0.5, 2.0])
    groups = 40_000
    utility = np.tile(utilities, groups)
    group = np.repeat(np.arange(groups), len(utilities))
    chosen = logit_choice(utility, group, rng)
    assert len(chosen) == groups
    assert np.array_equal(group[chosen], np.arange(groups))  # one choice per group, from its own rows
    counts = np.bincount(chosen % len(utilities), minlength=len(utilities))
    expected = np.exp(utilities) / np.exp(utilities).sum() * groups
    # Pearson chi-square: a wrong kernel (e.g. uniform or argmax without noise) fails by a huge margin.
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.ppf(0.999, df=len(utilities) - 1)


def test_logit_choice_with_unequal_group_sizes():
    rng = np.random.default_rng(3)
    # Groups of 1, 2 and 3 alternatives, interleaved in the arrays.
    sizes = np.array([1, 2, 3] * 20_000)
    group = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(group)
    utility = np.zeros(len(group))
    chosen = logit_choice(utility, group, rng)
    assert np.array_equal(np.sort(group[chosen]), np.arange(len(sizes)))
    # With equal utilities, the first row of each 2-alternative group is chosen half the time.
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    first_row = order[starts]
    two = sizes[group[chosen]] == 2
    share = np.isin(chosen[two], first_row).mean()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / two.sum())


def test_choose_best_picks_the_maximum_of_each_group():
    score = np.array([3.0, 1.0, 5.0, 2.0, 2.5])
    group = np.array([1, 0, 1, 0, 2])
    chosen = choose_best(score, group)
    assert sorted(chosen.tolist()) == [2, 3, 4]


@pytest.mark.parametrize("seed", range(5))
def test_matching_never_exceeds_capacity_and_keeps_the_best(seed):
    rng = np.random.default_rng(seed)
    n_employers = 7
    employer = rng.integers(0, n_employers, 500)
    quality = rng.lognormal(size=500)
    vacancies = rng.integers(0, 60, n_employers)
    accepted = match_under_capacity(employer, quality, vacancies)
    for e in range(n_employers):
        mine = employer == e
        kept = accepted & mine
        assert kept.sum() == min(vacancies[e], mine.sum())
        if kept.any() and (mine & ~accepted).any():
            assert quality[kept].min() >= quality[mine & ~accepted].max()


def test_search_probability_moves_with_its_drivers():
    base = dict(
        dissatisfaction=np.array([0.0]), offers_received=np.array([0]), career_age=np.array([5.0]),
        tenure=np.array([2.0]), coefficients=(1.0, 1.5, 0.03, 0.1),
    )
    p0 = search_probability(0.2, 0.25, **base)[0]
    assert p0 == pytest.approx(1 - np.exp(-0.2 * np.exp(-0.03 * 5 - 0.1 * 2) * 0.25))
    assert search_probability(0.2, 0.25, **{**base, "dissatisfaction": np.array([1.0])})[0] > p0
    assert search_probability(0.2, 0.25, **{**base, "offers_received": np.array([1])})[0] > p0
    assert search_probability(0.2, 0.25, **{**base, "career_age": np.array([20.0])})[0] < p0
    assert search_probability(0.2, 0.25, **{**base, "tenure": np.array([8.0])})[0] < p0


def test_stochastic_round_is_unbiased():
    rng = np.random.default_rng(0)
    draws = [stochastic_round(2.3, rng) for _ in range(20_000)]
    assert set(draws) == {2, 3}
    assert abs(np.mean(draws) - 2.3) < 4 * np.sqrt(0.21 / 20_000)
