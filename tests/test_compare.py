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
    compare_table,
    curve_differences,
    differences,
    format_compare_table,
    indicators,
    plot_compare_curves,
    plot_compare_difference,
    scenario_labels,
)
from simulation.results import migration_curve
from simulation.style import caption_of, region_colours

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
    assert set(values["indicator"]) == {"top-tier share", "elite share", "home retention (top-tier)",
                                        "net inflow per year"}
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
    assert legend_texts(fig) == [*names, "baseline", "visa_cut"]
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
    assert "'visa_cut' (3 replicates" in caption_of(fig)


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
    assert legend_texts(fig) == ["visa_cut minus baseline"]
    assert "paired by replicate seed" in caption_of(fig)
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
    printed = capsys.readouterr().out
    assert "top-tier share, 2026" in printed and "visa_cut" in printed


def test_compare_command_explains_a_year_outside_the_runs(folders, tmp_path, capsys):
    assert main(["compare", str(folders[0]), str(folders[1]), "--at", "2040", "--out", str(tmp_path)]) == 2
    assert "year 2040 is outside" in capsys.readouterr().err
    assert main(["compare", str(folders[0]), str(folders[1]), "--at", "soon"]) == 2
