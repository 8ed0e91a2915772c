"""The analysis of a sweep against known answers: Sobol indices of the Ishigami function, Morris effects of a
linear function, a planted PRIM box, regret of an arm that is best in every draw; and the same numbers as SALib
and prim give directly on the same table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulation.analysis import (
    AnalysisError,
    Condition,
    analyze,
    discover,
    morris_indices,
    outcome_values,
    regret,
    robustness,
    sobol_indices,
    variance_shares,
)
from simulation.experiment import design, salib_problem
from simulation.store import read_experiment

from synthetic import outcome, synthetic_sweep

SALib = pytest.importorskip("SALib")
prim = pytest.importorskip("prim")

# Ishigami (1990) with a = 7, b = 0.1 on [-pi, pi]^3: analytic Sobol indices (Saltelli et al. 2008, Global
# Sensitivity Analysis: The Primer, 4.2).
A, B = 7.0, 0.1
VARIANCE = A**2 / 8 + B * math.pi**4 / 5 + B**2 * math.pi**8 / 18 + 0.5
V1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * math.pi**8 * (1 / 18 - 1 / 50)
ISHIGAMI_S1 = {"x1": V1 / VARIANCE, "x2": V2 / VARIANCE, "x3": 0.0}
ISHIGAMI_ST = {"x1": (V1 + V13) / VARIANCE, "x2": V2 / VARIANCE, "x3": V13 / VARIANCE}


def ishigami(spec):
    x1, x2, x3 = (spec.uncertainties[k] for k in ("x1", "x2", "x3"))
    return {"y": float(np.sin(x1) + A * np.sin(x2) ** 2 + B * x3**4 * np.sin(x1))}


def _uniform(names, low, high):
    return {n: {"path": "preferences.default.pay.mean", "range": [low, high]} for n in names}


@pytest.fixture(scope="module")
def ishigami_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ishigami")
    return synthetic_sweep(folder, {
        "seed": 11, "uncertainties": _uniform(["x1", "x2", "x3"], -math.pi, math.pi),
        "sampling": {"method": "saltelli", "samples": 1024}, "outcomes": {"y": outcome()},
    }, ishigami)


def test_analytic_ishigami_values_are_what_the_primer_gives():
    assert ISHIGAMI_S1["x1"] == pytest.approx(0.3139, abs=1e-4)
    assert ISHIGAMI_S1["x2"] == pytest.approx(0.4424, abs=1e-4)
    assert ISHIGAMI_ST["x1"] == pytest.approx(0.5576, abs=1e-4)
    assert ISHIGAMI_ST["x3"] == pytest.approx(0.2437, abs=1e-4)


def test_sobol_indices_of_ishigami_agree_with_the_analytic_values_within_their_intervals(ishigami_sweep):
    table = sobol_indices(read_experiment(ishigami_sweep)).set_index("parameter")
    assert (table["base_samples"] == 1024).all()
    for name in ("x1", "x2", "x3"):
        row = table.loc[name]
        assert abs(row["S1"] - ISHIGAMI_S1[name]) <= row["S1_conf"], (name, row["S1"], row["S1_conf"])
        assert abs(row["ST"] - ISHIGAMI_ST[name]) <= row["ST_conf"], (name, row["ST"], row["ST_conf"])
        assert 0 < row["S1_conf"] < 0.1 and 0 < row["ST_conf"] < 0.1  # intervals narrow enough to mean something
    # the ranking an analyst reads off: x1 matters most in total, x3 only through its interaction with x1
    assert table["ST"].idxmax() == "x1" and table.loc["x3", "S1"] < 0.05 < table.loc["x3", "ST"]


def test_sobol_indices_are_salib_s_on_the_same_table(ishigami_sweep):
    from SALib.analyze import sobol

    results = read_experiment(ishigami_sweep)
    ours = sobol_indices(results, seed=5).set_index("parameter")
    table = results.outcomes.sort_values("sample")
    from simulation.analysis import _definition

    direct = sobol.analyze(salib_problem(_definition(results)), table["y"].to_numpy(), calc_second_order=False,
                           num_resamples=200, conf_level=0.95, seed=5)
    np.testing.assert_allclose(ours.loc[["x1", "x2", "x3"], "S1"], direct["S1"])
    np.testing.assert_allclose(ours.loc[["x1", "x2", "x3"], "ST_conf"], direct["ST_conf"])


def test_a_partly_finished_saltelli_sweep_uses_its_complete_blocks_only(tmp_path):
    step = 3 + 2
    folder = synthetic_sweep(tmp_path / "partial", {
        "seed": 11, "uncertainties": _uniform(["x1", "x2", "x3"], -math.pi, math.pi),
        "sampling": {"method": "saltelli", "samples": 64}, "outcomes": {"y": outcome()},
    }, ishigami, finished=lambda spec: spec.sample < 40 * step + 2)  # 40 blocks, and 2 runs of the 41st
    results = read_experiment(folder)
    assert not results.complete and len(results.outcomes) == 40 * step + 2
    table = sobol_indices(results, seed=1)
    assert (table["base_samples"] == 40).all()
    from SALib.analyze import sobol

    y = results.outcomes.sort_values("sample")["y"].to_numpy()[: 40 * step]
    direct = sobol.analyze(salib_problem(design_definition(results)), y, calc_second_order=False,
                           num_resamples=200, seed=1)
    np.testing.assert_allclose(table["ST"], direct["ST"])
    analysis = analyze(results, sensitivity="sobol")
    assert any("not complete" in note and "322 of 320" not in note for note in analysis.notes)


def design_definition(results):
    from simulation.analysis import _definition

    return _definition(results)


def test_second_order_indices_come_with_a_second_order_design(tmp_path):
    folder = synthetic_sweep(tmp_path / "second", {
        "uncertainties": _uniform(["x1", "x2", "x3"], -math.pi, math.pi),
        "sampling": {"method": "saltelli", "samples": 512, "second_order": True}, "outcomes": {"y": outcome()},
    }, ishigami)
    analysis = analyze(folder, sensitivity="sobol")
    pairs = analysis.second_order.set_index(["parameter", "other"])
    # only x1 and x3 interact in Ishigami: S13 = V13 / V, the others 0
    assert abs(pairs.loc[("x1", "x3"), "S2"] - V13 / VARIANCE) <= pairs.loc[("x1", "x3"), "S2_conf"]
    assert abs(pairs.loc[("x1", "x2"), "S2"]) <= pairs.loc[("x1", "x2"), "S2_conf"]


def test_morris_effects_of_a_linear_function_are_its_slopes_times_the_ranges(tmp_path):
    slopes = {"a": 3.0, "b": -1.0, "c": 0.0}
    folder = synthetic_sweep(tmp_path / "morris", {
        "uncertainties": {"a": {"path": "x", "range": [0.0, 10.0]}, "b": {"path": "x", "range": [5.0, 7.0]},
                          "c": {"path": "x", "range": [-1.0, 1.0]}},
        "sampling": {"method": "morris", "samples": 20, "levels": 4}, "outcomes": {"y": outcome()},
    }, lambda spec: {"y": sum(slopes[k] * v for k, v in spec.uncertainties.items())})
    table = morris_indices(read_experiment(folder)).set_index("parameter")
    # an elementary effect is the change over a move across the whole range: slope x width
    assert table.loc["a", "mu_star"] == pytest.approx(30.0)
    assert table.loc["b", "mu_star"] == pytest.approx(2.0) and table.loc["b", "mu"] == pytest.approx(-2.0)
    assert table.loc["c", "mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert table["sigma"].abs().max() == pytest.approx(0.0, abs=1e-9)  # linear: no interaction, no curvature
    assert (table["trajectories"] == 20).all()


def test_the_design_must_fit_the_analysis(tmp_path):
    folder = synthetic_sweep(tmp_path / "lhs", {
        "uncertainties": _uniform(["x1", "x2", "x3"], -math.pi, math.pi),
        "sampling": {"method": "latin_hypercube", "samples": 32}, "outcomes": {"y": outcome()},
    }, ishigami)
    with pytest.raises(AnalysisError, match=r"Sobol indices need a saltelli design, and this sweep's design is "
                                             r"latin_hypercube\. Sweep again with sampling: \{method: saltelli"):
        sobol_indices(read_experiment(folder))
    with pytest.raises(AnalysisError, match="Morris screening needs a morris design"):
        analyze(folder, sensitivity="morris")
    analysis = analyze(folder)  # auto: what the design supports, and says why there are no indices
    assert analysis.sensitivity is None
    assert any("not made for them" in note for note in analysis.notes)


# --------------------------------------------------------------------------------------------------------------
# Scenario discovery


def planted(spec):
    a, b, c = (spec.uncertainties[k] for k in "abc")
    return {"y": 1.0 if (a > 0.6 and b < 0.3) else 0.0, "noise": c}


@pytest.fixture(scope="module")
def planted_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    return synthetic_sweep(folder, {
        "seed": 2, "uncertainties": _uniform(["a", "b", "c"], 0.0, 1.0),
        "sampling": {"method": "latin_hypercube", "samples": 2000}, "outcomes": {"y": outcome(), "noise": outcome()},
    }, planted)


def test_prim_recovers_a_planted_box(planted_sweep):
    found = discover(read_experiment(planted_sweep), Condition("y", 0.5, above=True), density=0.95)
    limits = found.limits.set_index("parameter")
    assert set(limits.index) == {"a", "b"}  # c does not matter and is left free
    assert limits.loc["a", "low"] == pytest.approx(0.6, abs=0.02) and limits.loc["a", "high"] == pytest.approx(1, abs=0.01)
    assert limits.loc["b", "high"] == pytest.approx(0.3, abs=0.02) and limits.loc["b", "low"] == pytest.approx(0, abs=0.01)
    assert found.stats["density"] >= 0.95 and found.stats["coverage"] >= 0.9
    assert (limits["qp_value"] < 1e-6).all()  # both restrictions are significant
    assert found.cases == (read_experiment(planted_sweep).outcomes["y"] >= 0.5).sum() == pytest.approx(240, rel=0.1)


def test_prim_box_is_the_prim_package_s_on_the_same_table(planted_sweep):
    results = read_experiment(planted_sweep)
    found = discover(results, Condition("y", 0.5), density=0.95)
    x = results.outcomes[["a", "b", "c"]].astype(float).reset_index(drop=True)
    box = prim.Prim(x, results.outcomes["y"].to_numpy() >= 0.5).find_box()
    np.testing.assert_allclose(found.trajectory[["coverage", "density", "mass"]].to_numpy(dtype=float),
                               box.peeling_trajectory[["coverage", "density", "mass"]].to_numpy(dtype=float))
    box.select(found.chosen)
    direct = box.limits
    for row in found.limits.itertuples():
        assert (row.low, row.high) == pytest.approx(tuple(direct.loc[row.parameter, ["min", "max"]]))


@pytest.mark.filterwarnings("ignore::Warning")
def test_prim_box_matches_the_ema_workbench_s(planted_sweep):
    """Run where the EMA Workbench is installed (it is not in the test extra: it brings scikit-learn, statsmodels,
    seaborn and platypus-opt)."""
    ema = pytest.importorskip("ema_workbench.analysis.prim")
    results = read_experiment(planted_sweep)
    found = discover(results, Condition("y", 0.5), density=0.95)
    x = results.outcomes[["a", "b", "c"]].astype(float).reset_index(drop=True)
    finder = ema.Prim(x, results.outcomes["y"].to_numpy() >= 0.5, threshold=0.95)
    box = finder.find_box()
    ours = found.trajectory.iloc[found.chosen]
    theirs = box.peeling_trajectory.iloc[found.chosen]  # the same step of its peeling trajectory
    assert (ours["coverage"], ours["density"], ours["mass"]) == pytest.approx(
        (theirs["coverage"], theirs["density"], theirs["mass"]))
    limits = box.box_lims[found.chosen]
    for row in found.limits.itertuples():
        assert (row.low, row.high) == pytest.approx((limits.loc[0, row.parameter], limits.loc[1, row.parameter]), abs=1e-9)


def test_discovery_says_when_nothing_or_everything_meets_the_condition(planted_sweep):
    results = read_experiment(planted_sweep)
    with pytest.raises(AnalysisError, match=r"no finished run has y at least 2 .*ranges from 0 to 1"):
        discover(results, Condition("y", 2.0))
    with pytest.raises(AnalysisError, match=r"every finished run"):
        discover(results, Condition("y", -1.0))
    analysis = analyze(results, outcome="y", above=2.0)
    assert analysis.discovery is None and any(n.startswith("No scenario discovery") for n in analysis.notes)


# --------------------------------------------------------------------------------------------------------------
# Robustness and regret


@pytest.fixture(scope="module")
def arms_sweep(tmp_path_factory):
    """Three arms (effort 0, 1, 2) under 12 draws x 3 replicates: outcome = effort + draw's luck + seed noise."""
    folder = tmp_path_factory.mktemp("arms")

    def model(spec):
        noise = np.random.default_rng(spec.seed).normal(0, 0.1)
        return {"y": spec.levers["effort"] + spec.uncertainties["luck"] + noise}

    return synthetic_sweep(folder, {
        "seed": 4, "replicates": 3, "levers": {"effort": {"path": "x", "values": [0, 1, 2]}},
        "uncertainties": {"luck": {"path": "x", "range": [-3.0, 3.0]}},
        "sampling": {"method": "latin_hypercube", "samples": 12}, "outcomes": {"y": outcome()},
    }, model)


def test_regret_is_zero_for_the_arm_that_is_best_in_every_draw(arms_sweep):
    results = read_experiment(arms_sweep)
    runs = regret(results, Condition("y", 1.0, above=True))
    by_arm = runs.groupby("effort")["regret"]
    assert (by_arm.max().loc[2] == 0.0) and by_arm.count().loc[2] == 36
    # common random numbers: an arm's gap to the best is exactly the policy difference, in every draw
    np.testing.assert_allclose(runs.loc[runs.effort == 0, "regret"], 2.0)
    np.testing.assert_allclose(runs.loc[runs.effort == 1, "regret"], 1.0)
    table = robustness(results, Condition("y", 1.0, above=True)).set_index("effort")
    assert list(table.index) == [2, 1, 0]  # most robust first
    assert table.loc[2, "best_share"] == 1.0 and table.loc[0, "best_share"] == 0.0
    assert table.loc[0, "regret_mean"] == pytest.approx(2.0) and table.loc[0, "regret_max"] == pytest.approx(2.0)
    y = results.outcomes
    assert table.loc[1, "share_meeting"] == pytest.approx((y.loc[y.effort == 1, "y"] >= 1.0).mean())
    assert table.loc[1, "median"] == pytest.approx(y.loc[y.effort == 1, "y"].median())
    assert table.loc[1, "p5"] == pytest.approx(y.loc[y.effort == 1, "y"].quantile(0.05))


def test_below_reverses_what_is_better(arms_sweep):
    table = robustness(read_experiment(arms_sweep), Condition("y", 0.0, above=False)).set_index("effort")
    assert table.loc[0, "regret_max"] == 0.0 and table.loc[2, "regret_mean"] == pytest.approx(2.0)
    assert list(table.index) == [0, 1, 2]


def test_regret_compares_arms_on_draws_every_arm_has_run(tmp_path):
    folder = synthetic_sweep(tmp_path / "partial_arms", {
        "levers": {"effort": {"path": "x", "values": [0, 1]}}, "uncertainties": {"luck": {"path": "x", "range": [0, 1]}},
        "sampling": {"method": "latin_hypercube", "samples": 6}, "outcomes": {"y": outcome()},
    }, lambda s: {"y": s.levers["effort"] + s.uncertainties["luck"]},
        finished=lambda s: not (s.sample == 5 and s.arm == 1))  # the better arm is missing in one draw
    runs = regret(read_experiment(folder), Condition("y", 0.5))
    assert runs.loc[runs["sample"] == 5, "regret"].isna().all()  # not counted as best
    assert (runs.loc[(runs["sample"] < 5) & (runs.effort == 0), "regret"] == 1.0).all()


def test_variance_shares_of_a_lever_and_of_seeds(arms_sweep):
    table = variance_shares(read_experiment(arms_sweep)).set_index("source")
    effort = np.array([0, 1, 2], float)
    luck_variance = 6.0**2 / 12  # uniform on [-3, 3], Latin-hypercube sampled
    expected = effort.var() / (effort.var() + luck_variance + 0.1**2)
    assert table.loc["effort", "share"] == pytest.approx(expected, rel=0.08)
    assert table.loc["replicate noise", "share"] == pytest.approx(0.1**2 / (effort.var() + luck_variance), rel=0.5)


def test_an_outcome_may_be_arithmetic_of_outcomes_and_nothing_else(planted_sweep):
    results = read_experiment(planted_sweep)
    values = outcome_values(results, "y - 2 * noise + abs(noise)")
    np.testing.assert_allclose(values, results.outcomes["y"] - results.outcomes["noise"])
    for bad, message in (("__import__('os').system('true')", "not allowed"), ("y +", "not an outcome name"),
                         ("yy - noise", "did you mean 'y'")):
        with pytest.raises(AnalysisError, match=message):
            outcome_values(results, bad)


def test_the_analysis_writes_parquet_tables_and_figures(arms_sweep, tmp_path):
    analysis = analyze(arms_sweep, outcome="y", above=1.0)
    written = analysis.save(tmp_path / "analysis")
    names = sorted(p.name for p in written)
    assert "robustness.parquet" in names and "regret.parquet" in names and "variance_shares.parquet" in names
    assert "robustness.png" in names and "parallel_coordinates.png" in names and "prim_box.png" in names
    table = pd.read_parquet(tmp_path / "analysis" / "robustness.parquet")
    pd.testing.assert_frame_equal(table, analysis.robustness.reset_index(drop=True), check_dtype=False)
    assert not list((tmp_path / "analysis").glob(".*.tmp"))  # written atomically
    assert "effort" in analysis.summary() and "Scenario discovery (PRIM)" in analysis.summary()


def test_a_missing_extra_is_named_in_one_line(arms_sweep, monkeypatch):
    import sys

    from simulation.extras import MissingExtra

    monkeypatch.setitem(sys.modules, "prim", None)
    with pytest.raises(MissingExtra, match=r"^scenario discovery \(PRIM\) needs the optional package 'prim': "
                                           r"pip install 'talentsim\[sensitivity\]'$"):
        discover(read_experiment(arms_sweep), Condition("y", 1.0))


def test_the_design_of_a_stored_sweep_is_rebuilt_exactly(ishigami_sweep):
    from simulation.analysis import _definition

    results = read_experiment(ishigami_sweep)
    unit = design(_definition(results))
    table = results.outcomes.sort_values("sample")
    np.testing.assert_allclose(-math.pi + 2 * math.pi * unit[:, 0], table["x1"])
