"""Figures draw what the tables say: labels, lines, legends, data values, band order, colours, sizes and files."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.colors import to_hex
from PIL import Image

from simulation import run
from simulation.cli import main
from simulation.observe import ENTRY, EXIT
from simulation.plots import (
    cohort_stay_curve,
    evidence,
    flow_matrix,
    net_flows,
    plot_cohort_stay,
    plot_employer_headcounts,
    plot_flows,
    plot_migration_by_origin,
    plot_migration_curves,
    plot_retention_curves,
    plot_sweep_envelopes,
    plot_sweep_heatmap,
    plot_sweep_outcomes,
    run_figures,
    save_figure,
    sweep_figures,
)
from simulation.results import migration_curve
from simulation.style import COLUMN_WIDTH_IN, DPI, FIXED, caption_of, region_colours, title_of

from conftest import small_version

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result(baseline):
    """Three replicates of a small baseline, 2019-2027: enough for bands, cohorts and flows."""
    return run(small_version(baseline, researchers=2000, end="2027-01"), replicates=3)


@pytest.fixture(autouse=True)
def no_open_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------------------------------------------
# Helpers that read back what was drawn


def by_gid(fig, prefix: str) -> dict[str, matplotlib.artist.Artist]:
    """Return the artists of ``fig`` whose gid starts with ``prefix``, by the rest of the gid."""
    found = {}
    for artist in fig.findobj():
        gid = artist.get_gid()
        if isinstance(gid, str) and gid.startswith(prefix):
            found[gid[len(prefix):]] = artist
    return found


def legend_texts(fig) -> list[str]:
    legends = [artist for artist in fig.findobj(matplotlib.legend.Legend)]
    assert len(legends) == 1, f"expected one legend, found {len(legends)}"
    return [t.get_text() for t in legends[0].get_texts()]


def band_limits(band: PolyCollection, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the lower and upper edge of a filled band at each of ``xs``."""
    vertices = band.get_paths()[0].vertices
    low = np.array([vertices[np.isclose(vertices[:, 0], x), 1].min() for x in xs])
    high = np.array([vertices[np.isclose(vertices[:, 0], x), 1].max() for x in xs])
    return low, high


def medians(table: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    grouped = table.dropna(subset=[column]).groupby(keys)[column]
    out = grouped.median().rename("median").reset_index()
    out["low"] = grouped.quantile(0.05).to_numpy()
    out["high"] = grouped.quantile(0.95).to_numpy()
    return out


def saved_png(fig, tmp_path, name="figure") -> Image.Image:
    (path,) = save_figure(fig, tmp_path / name, ("png",))
    return Image.open(path)


def check_layout(fig) -> None:
    """Title, legend and caption lie inside the figure's width and do not overlap the axes or each other."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    legend = fig.findobj(matplotlib.legend.Legend)[0].get_window_extent(renderer)
    caption = by_gid(fig, "caption")[""].get_window_extent(renderer)
    assert legend.x0 >= -1 and legend.x1 <= width + 1, "legend sticks out of the figure's width"
    assert caption.x0 >= -1 and caption.x1 <= width + 1, "caption is wider than the figure"
    assert caption.y1 <= legend.y0 + 1, "caption overlaps the legend"
    for ax in fig.axes:
        if ax.get_visible():
            assert not ax.get_window_extent(renderer).overlaps(legend), "legend overlaps an axes"
            label = ax.xaxis.label
            if label.get_text():
                assert label.get_window_extent(renderer).y0 >= legend.y1 - 1, "legend overlaps an axis label"


# --------------------------------------------------------------------------------------------------------------
# Migration curves


def test_migration_curve_draws_the_replicate_medians_and_bands(result):
    fig = plot_migration_curves(result)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Year"
    assert ax.get_ylabel() == "Share of top-tier researchers (%)"
    regions = result.scenario.region_ids
    lines = by_gid(fig, "median:")
    bands = by_gid(fig, "band:")
    assert sorted(lines) == sorted(regions) and sorted(bands) == sorted(regions)
    expected = medians(migration_curve(result.stocks, "top_tier"), ["region", "year"], "share")
    for region in regions:
        rows = expected[expected.region == region].sort_values("year")
        np.testing.assert_allclose(lines[region].get_xdata(), rows["year"])
        np.testing.assert_allclose(lines[region].get_ydata(), rows["median"])
        low, high = band_limits(bands[region], rows["year"].to_numpy())
        np.testing.assert_allclose(low, rows["low"])
        np.testing.assert_allclose(high, rows["high"])
        assert np.all(low <= rows["median"].to_numpy() + 1e-12) and np.all(rows["median"].to_numpy() <= high + 1e-12)
        assert to_hex(lines[region].get_color()) == region_colours(regions)[region].lower()


def test_migration_curve_shows_the_published_shares_with_their_source(result):
    fig = plot_migration_curves(result)
    regions = result.scenario.region_ids
    names = [result.scenario.regions[r].name for r in regions]
    assert legend_texts(fig) == [*names, "Published (MacroPolo)"]
    published = [p for p in evidence()["top_tier_work_location"]["values"] if p["region"] in regions]
    points = by_gid(fig, "reference:")
    assert len(points) == len(published)
    for p in published:
        point = points[f"{p['region']}:{p['year']}"]
        assert point.get_xdata()[0] == p["year"] and point.get_ydata()[0] == p["share"]
    assert "MacroPolo Global AI Talent Tracker" in caption_of(fig)
    assert "median of 3 replicates" in caption_of(fig) and "90% of replicates fall inside" in caption_of(fig)
    assert "EVIDENCE" not in caption_of(fig)  # sources in words, not internal codes


def test_saved_figure_keeps_the_report_column_width(result, tmp_path):
    """The long caption is wrapped and the legend sits under the axes, so the PNG is no wider than the column."""
    fig = plot_migration_curves(result)
    check_layout(fig)
    image = saved_png(fig, tmp_path)
    assert image.width <= (COLUMN_WIDTH_IN + 0.15) * DPI
    assert image.height < image.width
    assert image.info["dpi"][0] == pytest.approx(DPI, abs=1)


def test_migration_by_origin_has_one_panel_per_origin_with_that_origins_shares(result):
    fig = plot_migration_by_origin(result)
    regions = result.scenario.region_ids
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(regions)
    assert [ax.get_title(loc="left") for ax in visible] == [f"{result.scenario.regions[o].name} origin"
                                                             for o in regions]
    lines = by_gid(fig, "median:")
    assert len(lines) == len(regions) ** 2
    assert legend_texts(fig) == [result.scenario.regions[r].name for r in regions]
    expected = medians(migration_curve(result.stocks, "top_tier", by_origin=True), ["origin", "region", "year"],
                       "share")
    for origin in regions:
        for region in regions:
            rows = expected[(expected.origin == origin) & (expected.region == region)].sort_values("year")
            np.testing.assert_allclose(lines[f"{origin}:{region}"].get_ydata(), rows["median"])
    assert all(ax.get_ylim() == (0, 1) for ax in visible)
    check_layout(fig)


# --------------------------------------------------------------------------------------------------------------
# Retention and cohort stay


def test_retention_curves_draw_each_origins_home_share(result):
    fig = plot_retention_curves(result, tier="top_tier")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Year" and "(%)" in ax.get_ylabel()
    retention = result.retention[result.retention.tier == "top_tier"]
    expected = medians(retention, ["origin", "year"], "retention")
    lines = by_gid(fig, "median:")
    assert sorted(lines) == sorted(result.scenario.region_ids)
    for origin, line in lines.items():
        rows = expected[expected.origin == origin].sort_values("year")
        np.testing.assert_allclose(line.get_ydata(), rows["median"])
    assert legend_texts(fig) == [f"{result.scenario.regions[o].name} origin" for o in result.scenario.region_ids]


def test_cohort_stay_curve_pools_cohorts():
    cohorts = pd.DataFrame({
        "replicate": 0, "training_region": "US", "origin": ["China", "RoW", "China", "RoW"],
        "cohort_year": [2019, 2019, 2020, 2020], "years_since_entry": [1.0, 1.0, 1.0, 1.0],
        "active": [10, 30, 20, 40], "in_host_region": [9, 15, 10, 36],
    })
    pooled = cohort_stay_curve(cohorts)
    assert pooled["stay_rate"].tolist() == [pytest.approx((9 + 15 + 10 + 36) / 100)]
    by_origin = cohort_stay_curve(cohorts, by_origin=True).set_index("origin")["stay_rate"]
    assert by_origin["China"] == pytest.approx(19 / 30) and by_origin["RoW"] == pytest.approx(51 / 70)


def test_cohort_stay_figure_draws_the_pooled_rates_and_the_published_stay_rates(result):
    fig = plot_cohort_stay(result, hosts=["US"])
    (ax,) = [a for a in fig.axes if a.get_visible()]
    assert ax.get_xlabel() == "Years since PhD" and "(%)" in ax.get_ylabel()
    pooled = cohort_stay_curve(result.cohorts)
    pooled = pooled[(pooled.training_region == "US") & (pooled.active >= 30) & (pooled.cohorts >= 5)]
    expected = medians(pooled, ["years_since_entry"], "stay_rate")
    line = by_gid(fig, "median:")["US:all"]
    np.testing.assert_allclose(line.get_xdata(), expected["years_since_entry"])
    np.testing.assert_allclose(line.get_ydata(), expected["median"])
    published = [p for p in evidence()["us_phd_stay_rates"]["values"] if p["host"] == "US"]
    points = by_gid(fig, "reference:")
    assert len(points) == len(published)
    for p in published:
        point = points[f"US:{p['origin']}:{p['years_since_entry']}:{p['stay_rate']}"]
        assert point.get_xdata()[0] == p["years_since_entry"] and point.get_ydata()[0] == p["stay_rate"]
    texts = legend_texts(fig)
    assert texts[0] == "All origins trained abroad"
    notes = {p["note"][0].upper() + p["note"][1:] for p in published}
    assert notes <= set(texts)
    assert "CSET" in caption_of(fig) and "ORISE" in caption_of(fig) and "EVIDENCE" not in caption_of(fig)
    check_layout(fig)


def test_cohort_stay_curves_stop_where_too_few_cohorts_remain(result):
    """A run 2019-2027 has eight entry cohorts: a point k years after entry pools only the cohorts that have been
    in research that long, so the curve must stop where fewer than five remain."""
    pooled = cohort_stay_curve(result.cohorts)
    us = pooled[pooled.training_region == "US"]
    assert us["cohorts"].max() >= 5 and us["cohorts"].min() < 5  # the run holds points on both sides of the cut
    last_enough = us.loc[us.cohorts >= 5, "years_since_entry"].max()
    for minimum in (5, 3):
        fig = plot_cohort_stay(result, hosts=["US"], min_cohorts=minimum)
        drawn = by_gid(fig, "median:")["US:all"].get_xdata()
        allowed = us.loc[(us.cohorts >= minimum) & (us.active >= 30), "years_since_entry"]
        assert drawn.max() == pytest.approx(allowed.max())
        if minimum == 5:
            assert drawn.max() <= last_enough
        assert f"fewer than {minimum} entry cohorts" in caption_of(fig)
        plt.close(fig)


# --------------------------------------------------------------------------------------------------------------
# Flows and employers


def test_flow_matrix_counts_the_moves_of_the_period(result):
    flows = result.flows
    scale = result.scenario.population.represents / result.scenario.run.researchers
    matrix = flow_matrix(flows, start=2020, end=2022, scale=scale)
    rows = flows[(flows.year > 2020) & (flows.year <= 2022) & (flows.replicate == 0)]
    us_china = rows[(rows.from_region == "US") & (rows.to_region == "China")]["moves"].sum() * scale / 2
    got = matrix[(matrix.replicate == 0) & (matrix.from_region == "US") & (matrix.to_region == "China")]
    assert got["moves_per_year"].item() == pytest.approx(us_china)
    net = net_flows(matrix, result.scenario.region_ids)
    # moves between regions only relocate researchers: the net inflows of a replicate sum to zero
    assert net.groupby("replicate")["net"].sum().abs().max() == pytest.approx(0, abs=1e-9)
    with pytest.raises(ValueError, match="must end after it starts"):
        flow_matrix(flows, start=2022, end=2020)


def test_flow_figure_shows_moves_between_regions_with_entries_and_exits_apart(result):
    fig = plot_flows(result, period=(2019, 2025))
    regions = result.scenario.region_ids
    scale = result.scenario.population.represents / result.scenario.run.researchers
    matrix = flow_matrix(result.flows, start=2019, end=2025, scale=scale)
    expected = matrix.groupby(["from_region", "to_region"])["moves_per_year"].median()
    image = by_gid(fig, "flow_matrix")[""]
    data = image.get_array()
    assert data.shape == (len(regions), len(regions))  # regions only: entries and exits are drawn apart
    for i, s in enumerate(regions):
        for j, t in enumerate(regions):
            if s == t:
                assert np.ma.is_masked(data[i, j])  # moves within a region are not moves between regions
            else:
                assert data[i, j] == pytest.approx(expected.get((s, t), 0.0))
    assert by_gid(fig, "colour_bar")  # the matrix has its colour bar
    net = net_flows(matrix, regions).groupby("region")["net"].median()
    bars = by_gid(fig, "net:")
    assert sorted(bars) == sorted(regions)
    for region, bar in bars.items():
        assert bar.get_width() == pytest.approx(net[region])
        assert to_hex(bar.get_facecolor()) == region_colours(regions)[region].lower()
    entering = matrix[matrix.from_region == ENTRY].groupby(["replicate", "to_region"])["moves_per_year"].sum()
    leaving = matrix[matrix.to_region == EXIT].groupby(["replicate", "from_region"])["moves_per_year"].sum()
    for region in regions:
        assert by_gid(fig, "entry:")[region].get_height() == pytest.approx(
            entering.xs(region, level="to_region").median())
        assert by_gid(fig, "exit:")[region].get_height() == pytest.approx(
            leaving.xs(region, level="from_region").median())
    names = [result.scenario.regions[r].name for r in regions]
    matrix_ax = image.axes
    assert matrix_ax.get_xlabel() == "To (region joined)" and matrix_ax.get_ylabel() == "From (region left)"
    assert [t.get_text() for t in matrix_ax.get_yticklabels()] == names  # one name per region, never the id
    assert "researchers represented per year" in by_gid(fig, "net:")[regions[0]].axes.get_xlabel().replace("\n", " ")
    assert "Jan 2019 to Jan 2025" in caption_of(fig) and "researchers represented" in caption_of(fig)


def test_flow_figure_defaults_to_the_years_after_the_first_policy_change(result):
    import copy

    changed = copy.copy(result)
    changed.manifest = {**result.manifest, "changes": {"reference": "baseline", "changes": [
        {"path": "levers.visa_odds.US.China", "label": "x", "old": "0.6", "new": "0.2", "start": "2023-01",
         "end": None, "lever": True, "text": "x"}]}}
    fig = plot_flows(changed)
    assert "Jan 2023 to Jan 2027" in title_of(fig) and "first policy change" in caption_of(fig)
    fig = plot_flows(result)  # no policy change recorded: the whole run
    assert "Jan 2019 to Jan 2027" in title_of(fig)


def test_employer_headcounts_show_first_and_last_medians(result):
    fig = plot_employer_headcounts(result)
    employers = result.scenario.employers
    scale = result.scenario.population.represents / result.scenario.run.researchers
    emp = result.employers
    first, last = emp.year.min(), emp.year.max()
    firsts, lasts = by_gid(fig, "first:headcount:"), by_gid(fig, "last:headcount:")
    assert sorted(firsts) == sorted(employers) and sorted(lasts) == sorted(employers)
    for employer in employers:
        rows = emp[emp.employer == employer]
        assert firsts[employer].get_xdata()[0] == pytest.approx(rows[rows.year == first].headcount.median() * scale)
        assert lasts[employer].get_xdata()[0] == pytest.approx(rows[rows.year == last].headcount.median() * scale)
        colour = region_colours(result.scenario.region_ids)[employers[employer].region]
        assert to_hex(lasts[employer].get_color()) == colour.lower()
    assert len(by_gid(fig, "last:top_tier_headcount:")) == len(employers)
    assert fig.axes[0].get_xlabel() == "Employed, log scale\n(researchers represented)"
    texts = legend_texts(fig)
    assert texts[:2] == [f"{first:.4g}", f"{last:.4g}"]
    check_layout(fig)


# --------------------------------------------------------------------------------------------------------------
# One style


def test_regions_keep_their_colour_whatever_the_scenario():
    one = region_colours(["US", "China", "Europe", "RoW"])
    other = region_colours(["Canada", "RoW", "UK", "China", "India", "Europe", "US"])
    for region, colour in one.items():
        assert other[region] == colour == FIXED[region]
    unusual = region_colours(["US", "Japan", "Korea", "Israel"])
    assert region_colours(["Israel", "Korea", "Japan"]) == {k: unusual[k] for k in ("Israel", "Korea", "Japan")}
    assert len(set(unusual.values())) == 4
    many = region_colours([f"R{i}" for i in range(11)])
    assert len(set(many.values())) == 11


def test_every_run_figure_uses_the_same_region_colours(result):
    regions = result.scenario.region_ids
    colours = region_colours(regions)
    for name, fig in run_figures(result, names=["migration_curve", "retention_curve", "migration_by_origin"]):
        for gid, line in by_gid(fig, "median:").items():
            region = gid.split(":")[-1]
            assert to_hex(line.get_color()) == colours[region].lower(), (name, gid)


def test_every_run_figure_has_labelled_axes_a_caption_and_fits_the_column(result, tmp_path):
    names = []
    for name, fig in run_figures(result):
        names.append(name)
        for ax in fig.axes:
            if ax.get_visible() and ax.get_xlabel():
                assert ax.get_xlabel()[0].isupper()
        y_labelled = any(ax.get_ylabel() for ax in fig.axes) or fig.talentsim_body.get_supylabel()
        y_named = name == "employers" and all(t.get_text() for t in fig.axes[0].get_yticklabels())
        assert y_labelled or y_named, name
        assert "Scenario: Baseline (baseline)" in caption_of(fig)
        assert "EVIDENCE" not in caption_of(fig) and "Baseline" in title_of(fig)
        image = saved_png(fig, tmp_path, name)
        assert image.width <= (COLUMN_WIDTH_IN + 0.15) * DPI, name
    assert names == ["migration_curve", "migration_by_origin", "retention_curve", "cohort_stay", "flows",
                     "employers"]
    assert plt.get_fignums() == []  # save_figure closes what it saved


def test_figures_export_as_png_svg_and_pdf(result, tmp_path):
    paths = save_figure(plot_migration_curves(result), tmp_path / "curve", ("png", "svg", "pdf"))
    assert [p.suffix for p in paths] == [".png", ".svg", ".pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths[1].read_text()
    assert "<svg" in svg and "Where top-tier AI researchers work" in svg  # glyphs as paths, text in comments
    assert paths[2].read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="unknown figure format"):
        save_figure(plot_migration_curves(result), tmp_path / "curve", ("gif",))


def test_a_figure_can_be_drawn_into_a_given_axes(result):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_migration_curves(result, ax=left) is fig
    plot_retention_curves(result, ax=right)
    assert left.get_legend() is not None and right.get_legend() is not None
    assert left.get_title() == "Where top-tier AI researchers work: Baseline"
    drawn = [a for a in fig.findobj(matplotlib.lines.Line2D) if str(a.get_gid()).startswith("median:")]
    assert len(drawn) == 2 * len(result.scenario.region_ids)


def test_library_code_never_opens_a_window():
    assert matplotlib.get_backend().lower() == "agg"
    for path in (ROOT / "simulation").glob("*.py"):
        assert not re.search(r"\bplt\.show\(|\.show\(\)", path.read_text()), path.name


# --------------------------------------------------------------------------------------------------------------
# Sweep figures, on synthetic experiment tables


@pytest.fixture(scope="module")
def sweep():
    """An outcome table (a 4 x 3 grid of two levers, 3 seeds each) and its curve table."""
    rng = np.random.default_rng(7)
    rows = []
    for visa in (0.2, 0.4, 0.6, 0.8):
        for funding in (0.0, 1500.0, 3000.0):
            for seed in range(3):
                share = 0.2 + 0.35 * visa - 0.00003 * funding + rng.normal(0, 0.01)
                rows.append({"run": f"r{len(rows)}", "visa_odds": visa, "state_funding": funding, "seed": seed,
                             "us_share_2030": share})
    outcomes = pd.DataFrame(rows)
    years = np.arange(2019, 2031, 0.25)
    curves = pd.concat([
        pd.DataFrame({"run": r.run, "year": years, "region": region,
                      "share": base + (r.us_share_2030 - 0.5) * (years - 2019) / 11 * (1 if region == "US" else -1)})
        for r in outcomes.itertuples() for region, base in (("US", 0.5), ("China", 0.2))
    ], ignore_index=True)
    return outcomes, curves


def test_sweep_heatmap_draws_cell_medians_and_the_threshold_contour(sweep):
    outcomes, _ = sweep
    fig = plot_sweep_heatmap(outcomes, "visa_odds", "state_funding", "us_share_2030", threshold=0.35)
    mesh = next(a for a in fig.findobj(QuadMesh) if a.get_gid() == "heatmap")
    expected = outcomes.groupby(["state_funding", "visa_odds"])["us_share_2030"].median().unstack()
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(expected.shape), expected.to_numpy())
    contour = by_gid(fig, "threshold")[""]
    assert list(contour.levels) == [0.35]
    # the contour runs between cells on either side of the threshold
    vertices = np.concatenate([p.vertices for p in contour.get_paths() if len(p.vertices)])
    assert len(vertices) > 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "visa odds" and ax.get_ylabel() == "state funding"
    assert legend_texts(fig) == ["Threshold 35%"]
    assert len(by_gid(fig, "cell:")) == expected.size
    check_layout(fig)


def test_sweep_heatmap_interpolates_scattered_samples(sweep):
    outcomes, _ = sweep
    rng = np.random.default_rng(3)
    scattered = outcomes.assign(visa_odds=outcomes.visa_odds + rng.uniform(-0.05, 0.05, len(outcomes)),
                                state_funding=outcomes.state_funding + rng.uniform(-300, 300, len(outcomes)))
    fig = plot_sweep_heatmap(scattered, "visa_odds", "state_funding", "us_share_2030", threshold=0.35)
    assert "threshold" in by_gid(fig, "threshold") or by_gid(fig, "threshold")
    samples = by_gid(fig, "samples")[""]
    assert len(samples.get_xdata()) == len(scattered)
    assert "interpolated" in caption_of(fig)
    with pytest.raises(ValueError, match="no column 'nope'"):
        plot_sweep_heatmap(outcomes, "visa_odds", "nope", "us_share_2030")


def test_sweep_envelopes_draw_medians_inside_their_bands(sweep):
    _, curves = sweep
    fig = plot_sweep_envelopes(curves, names={"US": "United States", "China": "China"})
    lines = by_gid(fig, "median:")
    assert sorted(lines) == ["China", "US"]
    assert legend_texts(fig) == ["United States", "China"]
    for region, line in lines.items():
        rows = curves[curves.region == region]
        expected = medians(rows, ["year"], "share")
        np.testing.assert_allclose(line.get_ydata(), expected["median"])
        xs = expected["year"].to_numpy()
        low, high = band_limits(by_gid(fig, "band:")[region], xs)
        lowest, highest = band_limits(by_gid(fig, "range:")[region], xs)
        assert np.all(lowest <= low + 1e-12) and np.all(low <= expected["median"] + 1e-12)
        assert np.all(expected["median"] <= high + 1e-12) and np.all(high <= highest + 1e-12)
        assert to_hex(line.get_color()) == FIXED[region].lower()


def test_sweep_outcomes_plot_every_run_against_each_parameter(sweep):
    outcomes, _ = sweep
    fig = plot_sweep_outcomes(outcomes, "us_share_2030", ["visa_odds", "state_funding"], threshold=0.35)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == ["visa odds", "state funding"]
    runs = by_gid(fig, "runs:")
    for parameter in ("visa_odds", "state_funding"):
        assert len(runs[parameter].get_xdata()) == len(outcomes)
        expected = outcomes.groupby(parameter)["us_share_2030"].median()
        np.testing.assert_allclose(by_gid(fig, "median:")[parameter].get_ydata(), expected.to_numpy())
    assert legend_texts(fig) == ["One run", "Median of runs", "Threshold 35%"]


# --------------------------------------------------------------------------------------------------------------
# The command


@pytest.fixture(scope="module")
def saved(result, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    result.save(folder, formats=("parquet",))
    return folder


def test_plot_command_writes_the_chosen_figures(saved, tmp_path, capsys):
    code = main(["plot", str(saved), "--out", str(tmp_path), "--format", "png,svg", "--only",
                 "migration_curve,flows", "--period", "2020:2024"])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows.png", "flows.svg", "migration_curve.png",
                                                          "migration_curve.svg"]
    assert "flows.png" in capsys.readouterr().out


@pytest.mark.parametrize("options, message", [
    (["--only", "nonsense"], "unknown figure"),
    (["--period", "2010:2012"], "the run covers"),
])
def test_plot_command_explains_bad_options(saved, tmp_path, capsys, options, message):
    assert main(["plot", str(saved), "--out", str(tmp_path), *options]) == 2
    assert message in capsys.readouterr().err


def test_plot_command_explains_a_missing_folder(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# Sweep figures of a real (tiny) sweep, through read_experiment and the command


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 2 x 2 lever sweep with one replicate each, small and short."""
    from simulation import sweep

    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "tiny.yaml"
    path.write_text(f"""name: tiny
description: US visa odds crossed with Chinese state funding, tiny.
scenario: {(ROOT / 'scenarios' / 'baseline.yaml').as_posix()}
run: {{researchers: 800, end: 2027-01}}
seed: 5
replicates: 1
levers:
  us_visa_odds:
    label: Probability a US visa is granted
    unit: probability
    from: 2025-01
    path: levers.visa_odds.US.default
    values: [0.3, 0.9]
  china_state_funding:
    label: Chinese state funding for AI research
    unit: USD million per year
    from: 2025-01
    path: levers.state_funding_usd_m_per_year.region.China
    values: [3000, 12000]
outcomes:
  us_top_tier_share_2026: {{kind: share, region: US, tier: top_tier, year: 2026}}
curves:
  top_tier_location: {{kind: migration, tier: top_tier}}
""")
    out = folder / "out"
    sweep(path, out, workers=0, progress=False)
    return out


def test_sweep_figures_read_an_experiment_folder(swept):
    from simulation import read_experiment

    experiment = read_experiment(swept)
    figures = dict(sweep_figures(experiment, threshold=0.5))
    assert list(figures) == ["sweep_heatmap_us_top_tier_share_2026", "sweep_outcome_us_top_tier_share_2026",
                             "sweep_envelope_top_tier_location"]
    heatmap = figures["sweep_heatmap_us_top_tier_share_2026"]
    ax = heatmap.axes[0]
    assert ax.get_xlabel().replace("\n", " ") == "Probability a US visa is granted [probability]"
    assert "Chinese state funding" in ax.get_ylabel().replace("\n", " ")
    mesh = next(a for a in heatmap.findobj(QuadMesh) if a.get_gid() == "heatmap")
    expected = experiment.outcomes.pivot(index="china_state_funding", columns="us_visa_odds",
                                         values="us_top_tier_share_2026")
    np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(2, 2), expected.to_numpy())
    envelope = figures["sweep_envelope_top_tier_location"]
    assert legend_texts(envelope) == ["United States", "China", "Europe", "Rest of world"]
    assert "Sweep 'tiny', 4 finished runs" in caption_of(envelope)


def test_plot_command_draws_sweep_figures(swept, tmp_path, capsys):
    assert main(["plot", str(swept), "--out", str(tmp_path), "--format", "png", "--outcome",
                 "us_top_tier_share_2026", "--threshold", "0.5"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep_envelope_top_tier_location.png",
                                                          "sweep_heatmap_us_top_tier_share_2026.png",
                                                          "sweep_outcome_us_top_tier_share_2026.png"]
    assert main(["plot", str(swept), "--outcome", "nonsense"]) == 2
    assert "unknown outcome" in capsys.readouterr().err


def test_places_beyond_the_regions_get_a_name_and_their_own_style(result):
    """Categories the results declare besides regions (researchers without a research post) are placed after the
    regions, named in words and drawn with their own colour, marker and dash, with no change to the figure code."""
    from simulation.observe import UNPLACED
    from simulation.plots import _names, _places
    from simulation.style import region_styles

    table = pd.DataFrame({"region": [*result.scenario.region_ids, UNPLACED]})
    places = _places(result, table)
    assert places == [*result.scenario.region_ids, UNPLACED]
    assert _names(result)[UNPLACED] == "No research post"
    styles = region_styles(places)
    assert len({(str(s["ls"]), s["marker"]) for s in styles.values()}) == len(styles)
    assert len({s["color"] for s in styles.values()}) == len(styles)
