"""Scenario comparison: paired differences, indicator tables with intervals, shared-axes figures, the command."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from simulation import load_scenario, run
from simulation.cli import main
from simulation.compare import (
    CompareError,
    UnpairedError,
    key_findings,
    pairing,
    compare_table,
    differences,
    format_compare_table,
    indicators,
    scenario_labels,
)
from simulation.compare_plots import curve_differences, plot_compare_curves, plot_compare_difference
from simulation.observe import TIERS
from simulation.results import migration_curve
from simulation.style import caption_of, region_colours, title_of

from conftest import SCENARIOS, small_version

LEVER_YEAR = 2025.0


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, baseline):
    """The small baseline and a variant that cuts US visa odds for Chinese-origin researchers from 2025-01."""
    folder = tmp_path_factory.mktemp("scenarios")
    path = folder / "visa_cut.yaml"
    path.write_text(
        "name: visa_cut\n"
        "description: Baseline with US visa odds of 0.2 for Chinese-origin researchers from 2025.\n"
        f"extends: {(SCENARIOS / 'baseline.yaml').as_posix()}\n"
        "levers:\n  visa_odds:\n    US:\n      China:\n        - {from: 2025-01, value: 0.2}\n"
    )
    size = {"researchers": 2000, "end": "2028-01"}
    return small_version(baseline, **size), small_version(load_scenario(path), **size)


@pytest.fixture(scope="module")
def results(scenarios):
    base, other = scenarios
    return [run(base, replicates=3), run(other, replicates=3)]


@pytest.fixture(autouse=True)
def no_open_figures():
    yield
    plt.close("all")


def by_gid(fig, prefix: str) -> dict:
    return {a.get_gid()[len(prefix):]: a for a in fig.findobj()
            if isinstance(a.get_gid(), str) and a.get_gid().startswith(prefix)}


def legend_texts(fig) -> list[str]:
    (legend,) = fig.findobj(matplotlib.legend.Legend)
    return [t.get_text() for t in legend.get_texts()]


# --------------------------------------------------------------------------------------------------------------
# Differences


def test_differences_are_paired_by_seed_when_runs_share_seeds():
    base = pd.DataFrame({"k": ["a", "a", "b", "b"], "seed": [1, 2, 1, 2], "v": [1.0, 2.0, 3.0, 4.0]})
    other = pd.DataFrame({"k": ["a", "a", "b", "b"], "seed": [2, 1, 2, 1], "v": [2.5, 1.5, 4.5, 3.5]})
    diff, paired = differences(base, other, ["k"], "v")
    assert paired
    assert sorted(diff["difference"]) == [0.5] * 4


def test_differences_take_every_pair_when_seeds_differ():
    base = pd.DataFrame({"k": "a", "seed": [1, 2], "v": [1.0, 2.0]})
    other = pd.DataFrame({"k": "a", "seed": [7, 8, 9], "v": [5.0, 6.0, 7.0]})
    diff, paired = differences(base, other, ["k"], "v")
    assert not paired
    assert len(diff) == 6 and sorted(diff["difference"]) == [3.0, 4.0, 4.0, 5.0, 5.0, 6.0]


def test_a_lever_changes_nothing_before_it_takes_effect(results):
    """Common random numbers: until 2025-01 the variant is the baseline, replicate by replicate."""
    table, paired = curve_differences(results)
    assert paired == {"visa_cut": True}
    before = table[table.year < LEVER_YEAR]
    assert len(before) > 0 and (before["difference"] == 0).all()
    after = table[table.year > LEVER_YEAR + 1]
    assert (after["difference"] != 0).any()


def test_scenario_labels_tell_repeated_names_apart(results):
    assert scenario_labels(results) == ["baseline", "visa_cut"]
    twice = scenario_labels([results[0], results[0]])
    assert len(set(twice)) == 2 and all(label.startswith("baseline") for label in twice)


# --------------------------------------------------------------------------------------------------------------
# Indicators


def test_indicators_hold_every_replicate_and_shares_sum_to_one(results):
    values = indicators(results[0], [2020, 2027])
    tiers = {f"{t.replace('_', '-')} share" for t in TIERS if t != "all"}  # every tier the results declare
    assert set(values["indicator"]) == tiers | {"home retention (top-tier)", "net inflow per year"}
    shares = values[values.indicator == "top-tier share"]
    assert shares.groupby(["year", "replicate"])["value"].sum().to_numpy() == pytest.approx(1.0)
    net = values[values.indicator == "net inflow per year"]
    assert net.groupby(["year", "replicate"])["value"].sum().abs().max() == pytest.approx(0, abs=1e-9)
    stocks = results[0].stocks
    at = stocks[(stocks.year == 2027) & (stocks.tier == "top_tier") & (stocks.replicate == 1)
                & (stocks.region != "unplaced")]  # shares are of researchers with a research post
    us = at[at.region == "US"]["researchers"].sum() / at["researchers"].sum()
    got = shares[(shares.year == 2027) & (shares.place == "US") & (shares.replicate == 1)]["value"].item()
    assert got == pytest.approx(us)
    with pytest.raises(CompareError, match="outside scenario 'baseline'"):
        indicators(results[0], [2040])


def test_compare_table_gives_intervals_and_paired_differences(results):
    table = compare_table(results, [2027])
    assert list(table["scenario"].unique()) == ["baseline", "visa_cut"]
    assert (table["low"] <= table["median"] + 1e-12).all() and (table["median"] <= table["high"] + 1e-12).all()
    base_rows = table[table.scenario == "baseline"]
    assert base_rows["diff_median"].isna().all()
    other_rows = table[table.scenario == "visa_cut"]
    assert other_rows["paired"].all()
    assert ((other_rows["diff_low"] <= other_rows["diff_median"] + 1e-12)
            & (other_rows["diff_median"] <= other_rows["diff_high"] + 1e-12)).all()
    # the difference is the median of replicate-by-replicate differences, not the difference of medians
    base = indicators(results[0], [2027]).set_index(["indicator", "place", "seed"])["value"]
    other = indicators(results[1], [2027]).set_index(["indicator", "place", "seed"])["value"]
    expected = (other - base).groupby(level=["indicator", "place"]).median()
    got = other_rows.set_index(["indicator", "place"])["diff_median"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    text = format_compare_table(table, {"US": "United States"})
    assert "top-tier share, 2027" in text and "United States" in text and "change visa_cut" in text and " pp" in text


def test_comparing_runs_with_other_regions_is_refused(results):
    import copy

    other = copy.copy(results[1])
    other.scenario = results[1].scenario.model_copy(update={"regions": dict(list(results[1].scenario.regions.items())[:3])})
    with pytest.raises(CompareError, match="same regions"):
        compare_table([results[0], other], [2027])


# --------------------------------------------------------------------------------------------------------------
# Figures


def test_compare_curves_draw_each_scenario_on_shared_axes(results):
    fig = plot_compare_curves(results)
    (ax,) = fig.axes
    regions = results[0].scenario.region_ids
    names = [results[0].scenario.regions[r].name for r in regions]
    lines = by_gid(fig, "median:")
    assert len(lines) == 2 * len(regions)
    assert legend_texts(fig) == [*names, "Baseline", "Visa cut"]  # human names, not ids
    assert ax.get_xlabel() == "Year" and ax.get_ylabel() == "Share of top-tier researchers (%)"
    colours = region_colours(regions)
    for label, result in zip(["baseline", "visa_cut"], results):
        curve = migration_curve(result.stocks, "top_tier")
        expected = curve.groupby(["region", "year"])["share"].median()
        for region in regions:
            line = lines[f"{label}:{region}"]
            np.testing.assert_allclose(line.get_ydata(), expected.loc[region].to_numpy())
            assert to_hex(line.get_color()) == colours[region].lower()
    assert lines["baseline:US"].get_linestyle() == "-" and lines["visa_cut:US"].get_linestyle() == "--"
    markers = {lines[f"baseline:{r}"].get_marker() for r in regions}
    assert len(markers) == len(regions)  # regions differ by marker too: they stay apart in greyscale
    assert sorted(by_gid(fig, "end_label:")) == sorted(names)  # each region named at its line's end
    assert by_gid(fig, "policy:")["2025"].get_xdata()[0] == pytest.approx(LEVER_YEAR)  # the lever's start marked
    assert by_gid(fig, "fitted_period")  # the fitted years shaded
    assert "Visa cut (visa_cut): 3 replicates" in caption_of(fig) and "Median of 3 replicates" in caption_of(fig)


def test_compare_difference_draws_the_paired_median_and_band_in_percentage_points(results):
    fig = plot_compare_difference(results)
    regions = results[0].scenario.region_ids
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(regions)
    assert "percentage points" in fig.talentsim_body.get_supylabel()
    table, _ = curve_differences(results)
    lines, bands = by_gid(fig, "difference:"), by_gid(fig, "band:")
    assert len(lines) == len(regions)
    for region in regions:
        rows = table[table.region == region].assign(pp=lambda d: d.difference * 100).groupby("year")["pp"]
        np.testing.assert_allclose(lines[f"visa_cut:{region}"].get_ydata(), rows.median().to_numpy())
        band = bands.get(f"visa_cut:{region}")
        if band is not None:
            vertices = band.get_paths()[0].vertices
            for year, median in rows.median().items():
                ys = vertices[np.isclose(vertices[:, 0], year), 1]
                assert ys.min() <= median + 1e-9 <= ys.max() + 2e-9
    assert legend_texts(fig) == ["Visa cut minus Baseline"]
    assert "median of paired differences" in caption_of(fig) and "UNPAIRED" not in caption_of(fig)
    with pytest.raises(CompareError, match="at least one other"):
        plot_compare_difference(results[:1])


# --------------------------------------------------------------------------------------------------------------
# The command


@pytest.fixture(scope="module")
def folders(results, tmp_path_factory):
    out = []
    for result in results:
        folder = tmp_path_factory.mktemp(result.scenario.name)
        result.save(folder, formats=("parquet",))
        out.append(folder)
    return out


def test_compare_command_writes_figures_and_the_indicator_table(folders, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(folders[0]), str(folders[1]), "--at", "2026,2027", "--out", str(out),
                 "--format", "png"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare_curves.png", "compare_difference.png"]
    table = pd.read_csv(out / "compare.csv")
    assert sorted(table["year"].unique()) == [2026, 2027]
    assert set(table["unit"]) == {"share", "researchers represented per year"}
    assert table.loc[table.scenario == "visa_cut", "paired"].all()
    assert table["statistic"].str.startswith("median of 3 replicates; low, high: 90% of replicates").all()
    assert table.loc[table.scenario == "visa_cut", "statistic"].str.contains("median of paired differences").all()
    printed = capsys.readouterr().out
    assert "top-tier share, 2026" in printed and "visa_cut" in printed
    # what changed comes first, then the key findings, then the full table and what the numbers are
    changes = printed.index("'visa_cut' changes from 'baseline'")
    assert "visa odds for China-origin researchers" in printed and "→ 0.20 from January 2025" in printed
    assert changes < printed.index("Key findings") < printed.index("top-tier share, 2026")
    assert "Median of 3 replicates" in printed and "median of paired differences" in printed


def test_compare_command_explains_a_year_outside_the_runs(folders, tmp_path, capsys):
    assert main(["compare", str(folders[0]), str(folders[1]), "--at", "2040", "--out", str(tmp_path)]) == 2
    assert "year 2040 is outside" in capsys.readouterr().err
    assert main(["compare", str(folders[0]), str(folders[1]), "--at", "soon"]) == 2


# --------------------------------------------------------------------------------------------------------------
# Pairing: compared replicates share their seeds, or the comparison says loudly that they do not


@pytest.fixture(scope="module")
def other_seed(scenarios):
    """The variant run with another root seed: no replicate in common with the baseline runs."""
    return run(scenarios[1], replicates=3, seed=12345)


def test_compare_refuses_runs_that_share_no_replicate_seed(results, other_seed):
    with pytest.raises(UnpairedError, match="shares no replicate seed.*--unpaired"):
        compare_table([results[0], other_seed], [2027])
    with pytest.raises(UnpairedError):
        plot_compare_difference([results[0], other_seed])


def test_unpaired_comparisons_are_labelled_everywhere(results, other_seed):
    table = compare_table([results[0], other_seed], [2027], unpaired=True)
    rows = table[table.scenario == "visa_cut"]
    assert not rows["paired"].any()
    assert (rows["pairs"] == 9).all()  # every replicate against every replicate: 3 x 3
    text = format_compare_table(table)
    assert "change visa_cut UNPAIRED" in text and "UNPAIRED: the runs share no replicate seeds" in text
    fig = plot_compare_difference([results[0], other_seed], unpaired=True)
    assert "(UNPAIRED)" in title_of(fig) and legend_texts(fig) == ["Visa cut minus Baseline (UNPAIRED)"]
    assert "UNPAIRED" in caption_of(fig)


def test_replicates_pair_on_the_seeds_both_runs_hold(results, scenarios):
    """Five replicates against three with the same root seed: the first three seeds are shared and paired; the
    other two are left out, and the comparison says so."""
    five = run(scenarios[1], replicates=5)
    how = pairing(results[0], five)
    assert how.paired and how.shared == 3 and how.keys == ("seed",)
    assert "2 replicate(s) held by one run only are left out" in how.describe("visa_cut", "baseline")
    table = compare_table([results[0], five], [2027])
    assert (table.loc[table.scenario == "visa_cut", "pairs"] == 3).all()


def test_pairing_keys_come_from_the_manifest_so_a_parameter_draw_joins_them(results):
    """A calibration ensemble records a parameter draw beside each replicate's seed: pairing then needs both."""
    import copy

    def with_draws(result, draws):
        out = copy.copy(result)
        out.manifest = {**result.manifest, "replicates": [
            {**r, "draw": d} for r, d in zip(result.manifest["replicates"], draws)]}
        out.stocks = result.stocks.assign(draw=result.stocks["replicate"].map(dict(enumerate(draws))))
        return out

    base, other = with_draws(results[0], [0, 1, 2]), with_draws(results[1], [0, 1, 2])
    assert pairing(base, other).keys == ("seed", "draw") and pairing(base, other).shared == 3
    shuffled = with_draws(results[1], [2, 0, 1])  # same seeds, other draws: nothing to pair
    with pytest.raises(UnpairedError, match="seed and draw"):
        pairing(base, shuffled)


def test_a_single_replicate_shows_no_interval(scenarios):
    one = [run(scenarios[0], replicates=1), run(scenarios[1], replicates=1)]
    table = compare_table(one, [2027])
    assert table["low"].isna().all() and table["high"].isna().all()
    assert table["diff_low"].isna().all() and table["diff_high"].isna().all()
    text = format_compare_table(table)
    assert "[" not in text and "single replicate: no interval" in text
    assert "none can be told from noise" in text


def test_key_findings_are_the_changes_whose_interval_excludes_zero(results):
    table = compare_table(results, [2027])
    found = key_findings(table)
    outside = table[(table.diff_low >= 0.0005) | (table.diff_high <= -0.0005)]
    outside = outside[outside.indicator.map(lambda i: i != "net inflow per year")]
    assert set(zip(found.loc[found.indicator != "net inflow per year", "indicator"],
                   found.loc[found.indicator != "net inflow per year", "place"])) == set(
        zip(outside["indicator"], outside["place"]))
    shares = found[found.indicator != "net inflow per year"]
    assert (shares["diff_median"].abs().diff().dropna() <= 1e-12).all()  # largest first


def test_compare_command_refuses_unpaired_runs_unless_asked(folders, other_seed, tmp_path, capsys):
    folder = tmp_path / "other_seed"
    other_seed.save(folder, formats=("parquet",))
    assert main(["compare", str(folders[0]), str(folder), "--out", str(tmp_path / "a"), "--format", "png"]) == 2
    assert "--unpaired" in capsys.readouterr().err
    assert main(["compare", str(folders[0]), str(folder), "--out", str(tmp_path / "b"), "--format", "png",
                 "--unpaired"]) == 0
    assert "UNPAIRED" in capsys.readouterr().out
    rows = pd.read_csv(tmp_path / "b" / "compare.csv").query("scenario == 'visa_cut'")
    assert not rows["paired"].any() and rows["statistic"].str.contains("UNPAIRED").all()
