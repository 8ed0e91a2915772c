"""The market kernels against closed forms: logit shares, weighted quantiles, capacity-limited matching, search hazard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulation.market import (
    best_row,
    choose_best,
    gumbel,
    inverse_cdf,
    search_probability,
    stochastic_round,
    weighted_quantiles,
)
from simulation.matching import match_under_capacity


def logit_choice(utility, group, rng):
    """Multinomial logit over rows grouped by decider, as targeted offers are chosen: Gumbel noise and the best row."""
    return choose_best(utility + gumbel(rng, len(utility)), group)


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


def test_dense_logit_choice_shares_match_softmax_probabilities():
    """Slots down a column, as the search's choice sets are laid out: same softmax shares."""
    rng = np.random.default_rng(11)
    utilities = np.array([0.5, -1.0, 1.5, 0.0])
    deciders = 40_000
    score = np.repeat(utilities[:, None], deciders, axis=1) + gumbel(rng, (len(utilities), deciders))
    counts = np.bincount(best_row(score), minlength=len(utilities))
    expected = np.exp(utilities) / np.exp(utilities).sum() * deciders
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < stats.chi2.ppf(0.999, df=len(utilities) - 1)


def test_gumbel_draws_follow_the_standard_gumbel_distribution():
    draws = gumbel(np.random.default_rng(5), 50_000)
    assert stats.kstest(draws, stats.gumbel_r.cdf).pvalue > 0.001
    assert np.isfinite(draws).all()


def test_best_row_agrees_with_choose_best_and_prefers_the_later_row_on_ties():
    rng = np.random.default_rng(2)
    score = rng.normal(size=(5, 300))
    score[3, :50] = score[1, :50] = 9.0  # ties between rows 1 and 3
    rows = best_row(score)
    flat = score.T.ravel()
    group = np.repeat(np.arange(300), 5)
    assert np.array_equal(rows, choose_best(flat, group) % 5)
    assert (rows[:50] == 3).all()


def test_inverse_cdf_is_searchsorted_of_the_draw_in_its_row():
    rng = np.random.default_rng(8)
    weights = rng.random((4, 19))
    weights[:, [2, 3, 7]] = 0.0  # categories that can never be drawn
    weights[1, -1] = 0.0
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    row = rng.integers(0, 4, 3000)
    u = rng.random((3, 3000))
    u[0, :20] = cumulative[row[:20], 4]  # draws exactly on a boundary
    u[1, :5] = 0.0
    got = inverse_cdf(cumulative, row, u)
    expected = np.array([[np.searchsorted(cumulative[r], x, side="right") for r, x in zip(row, line)] for line in u])
    assert np.array_equal(got, expected)
    for size in (10, 100_000):  # the table's resolution depends on the number of draws
        row = rng.integers(0, 4, size)
        u = rng.random(size)
        got = inverse_cdf(cumulative, row, u)
        assert np.array_equal(got, [np.searchsorted(cumulative[r], x, side="right") for r, x in zip(row, u)])


def _weighted_quantile_by_sorting(x, w, p):
    order = np.argsort(x, kind="stable")
    cumulative = np.cumsum(w[order])
    return x[order][np.searchsorted(cumulative, p * cumulative[-1] * (1 - 1e-12))]


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 12_345, 200_000])
def test_weighted_quantiles_equal_the_sorted_definition(n):
    rng = np.random.default_rng(n)
    x = rng.lognormal(sigma=1.5, size=n)
    w = np.where(rng.random(n) < 0.2, 0.05, 1.25)
    levels = [0.0, 0.01, 0.5, 0.8, 0.95, 0.99, 0.999, 1.0]
    expected = [_weighted_quantile_by_sorting(x, w, p) for p in levels]
    assert np.array_equal(weighted_quantiles(x, w, levels), expected)


def test_weighted_quantiles_with_equal_weights_are_order_statistics():
    x = np.random.default_rng(4).lognormal(size=10_001)
    got = weighted_quantiles(x, np.ones_like(x), [0.5, 0.9])
    assert got[0] == np.sort(x)[5000]
    assert got[1] == np.sort(x)[9000]


def test_matching_keeps_the_earlier_acceptor_among_equal_qualities():
    employer = np.array([0, 0, 0, 0, 1])
    quality = np.array([1.0, 2.0, 1.0, 1.0, 3.0])
    accepted = match_under_capacity(employer, quality, np.array([2, 1]))
    assert accepted.tolist() == [True, True, False, False, True]


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


@pytest.mark.parametrize("seed", range(5))
def test_weighted_matching_fills_vacancies_by_weight_best_first(seed):
    rng = np.random.default_rng(seed)
    n_employers = 5
    employer = rng.integers(0, n_employers, 400)
    quality = rng.lognormal(size=400)
    weight = np.where(rng.random(400) < 0.3, 0.05, 1.3)
    vacancies = rng.uniform(0, 40, n_employers)
    accepted = match_under_capacity(employer, quality, vacancies, weight)
    for e in range(n_employers):
        mine = employer == e
        kept = accepted & mine
        assert weight[kept].sum() <= vacancies[e] + 1e-9  # never past the vacancies
        rejected = mine & ~accepted
        if rejected.any():
            # The best rejected acceptor did not fit: keeping it would have overfilled the employer.
            best = np.flatnonzero(rejected)[np.argmax(quality[rejected])]
            assert weight[kept & (quality > quality[best])].sum() + weight[best] > vacancies[e] - 1e-9


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
