"""What run, plot, compare and report write: one statistic, readable file modes, spreadsheets that hold every table."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulation import load_results, run
from simulation.cli import main
from simulation.results import TABLES, format_headline, migration_curve

from conftest import SCENARIOS, small_version

openpyxl = pytest.importorskip("openpyxl")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    """A small policy scenario an analyst might write: the baseline, shortened, with one lever changed."""
    folder = tmp_path_factory.mktemp("scenario")
    path = folder / "small_cut.yaml"
    path.write_text(textwrap.dedent(f"""
        name: small_cut
        description: The baseline with US visa odds of 0.3 for Chinese-origin researchers from 2021.
        extends: {(SCENARIOS / "baseline.yaml").as_posix()}
        run: {{end: 2023-01, researchers: 1500, replicates: 3}}
        levers:
          visa_odds:
            US:
              China:
                - {{from: 2021-01, value: 0.3}}
        """))
    return path


@pytest.fixture(scope="module")
def saved(scenario_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "small_cut"
    assert main(["run", str(scenario_file), "--out", str(out), "--format", "parquet,xlsx", "--quiet"]) == 0
    return out


# --------------------------------------------------------------------------------------------------------------
# One statistic


def test_headline_is_the_replicate_median_with_the_90_percent_range(small):
    result = run(small, replicates=4)
    table = result.headline()
    shares = migration_curve(result.stocks[result.stocks.step == 0], "top_tier")
    us = shares[shares.region == "US"]["share"]
    row = table[(table.indicator == "share of top-tier researchers working in region") & (table.place == "US")
                & (table.step == 0)].iloc[0]
    assert row["median"] == pytest.approx(us.median())
    assert row["low"] == pytest.approx(us.quantile(0.05)) and row["high"] == pytest.approx(us.quantile(0.95))
    assert "mean" not in table.columns  # one statistic: the median
    assert (table["statistic"] == "Median of 4 replicates; 90% of replicates fall within the interval in brackets"
            ": it shows the spread between replicates, not a confidence interval for the median.").all()
    text = format_headline(table)
    assert f"{row['median']:.1%} [{row['low']:.1%}, {row['high']:.1%}]" in text and "Median of 4 replicates" in text


def test_a_single_replicate_gives_no_interval(small):
    table = run(small, replicates=1).headline()
    assert table["low"].isna().all() and table["high"].isna().all()
    assert table["statistic"].str.startswith("Value of a single replicate: no interval").all()
    assert "[" not in format_headline(table).split("\n\n")[0]


def test_the_baseline_runs_enough_replicates_for_an_interval():
    from simulation import load_scenario

    assert load_scenario(SCENARIOS / "baseline.yaml").run.replicates >= 10


# --------------------------------------------------------------------------------------------------------------
# Spreadsheets


def test_the_run_workbook_holds_every_table_and_a_notes_sheet(saved):
    result = load_results(saved)
    book = openpyxl.load_workbook(saved / "results.xlsx", read_only=True)
    assert book.sheetnames == ["Notes", "headline", *TABLES]
    for name in ["headline", *TABLES]:
        table = result.headline() if name == "headline" else getattr(result, name)
        rows = list(book[name].iter_rows(values_only=True))
        assert list(rows[0]) == list(table.columns), name
        assert len(rows) - 1 == len(table), name
        sheet = pd.DataFrame(rows[1:], columns=rows[0])
        for column in table.columns:  # every value, to the precision a spreadsheet keeps (15-17 digits)
            if pd.api.types.is_numeric_dtype(table[column]) and not pd.api.types.is_bool_dtype(table[column]):
                np.testing.assert_allclose(sheet[column].astype(float), table[column].astype(float), rtol=1e-12,
                                           equal_nan=True, err_msg=f"{name}.{column}")
            elif not pd.api.types.is_datetime64_any_dtype(table[column]):
                assert list(sheet[column].astype(str)) == list(table[column].astype(str)), f"{name}.{column}"
    notes = "\n".join(" ".join(str(v) for v in row if v is not None)
                      for row in book["Notes"].iter_rows(values_only=True))
    assert "What changed (against 'baseline')" in notes
    assert "United States visa odds for China-origin researchers:" in notes and "→ 0.30 from January 2021" in notes
    assert "Median of 3 replicates" in notes and "not a confidence interval" in notes
    assert "model researchers" in notes and "researchers represented" in notes  # units said once, apart
    assert str(result.manifest["root_seed"]) in notes and "talentsim" in notes
    manifest = json.loads((saved / "manifest.json").read_text())
    assert "results.xlsx" in manifest["files"]


def test_the_comparison_workbook_holds_findings_the_table_and_notes(saved, scenario_file, tmp_path):
    base = tmp_path / "base"
    result = load_results(saved)
    reference = run(small_version(result.scenario.model_copy(update={"levers": _baseline_levers(), "name": "baseline"}),
                                  researchers=1500, end="2023-01"), replicates=3)
    reference.save(base, formats=("parquet",))
    out = tmp_path / "cmp"
    assert main(["compare", str(base), str(saved), "--at", "2022", "--out", str(out), "--format", "png,xlsx",
                 "--quiet"]) == 0
    book = openpyxl.load_workbook(out / "compare.xlsx", read_only=True)
    assert book.sheetnames == ["Notes", "key findings", "comparison"]
    table = pd.read_csv(out / "compare.csv")
    sheet = pd.read_excel(out / "compare.xlsx", sheet_name="comparison")
    assert list(sheet.columns) == list(table.columns) and len(sheet) == len(table)
    np.testing.assert_allclose(sheet["median"], table["median"])
    notes = "\n".join(" ".join(str(v) for v in row if v is not None)
                      for row in book["Notes"].iter_rows(values_only=True))
    assert "What small_cut changes from baseline" in notes and "median of paired differences" in notes


def _baseline_levers():
    from simulation import load_scenario

    return load_scenario(SCENARIOS / "baseline.yaml").levers


# --------------------------------------------------------------------------------------------------------------
# File modes


def test_every_output_honours_the_umask(saved, tmp_path, monkeypatch):
    umask = 0o027  # neither the usual 022 nor owner-only: files must come out 0640
    import simulation.outputs

    monkeypatch.setattr(simulation.outputs, "_MODE", None)  # the mode is read once per process
    old = os.umask(umask)
    try:
        out = tmp_path / "run"
        assert main(["run", _scenario_of(saved), "--out", str(out), "--format", "csv,parquet,xlsx", "--quiet"]) == 0
        assert main(["plot", str(out), "--out", str(tmp_path / "figures"), "--format", "png,svg,pdf",
                     "--only", "migration_curve"]) == 0
        assert main(["report", str(out), "-o", str(tmp_path / "report.html")]) == 0
        assert main(["compare", str(saved), str(out), "--out", str(tmp_path / "cmp"), "--format", "png,xlsx",
                     "--report", str(tmp_path / "cmp.html"), "--quiet"]) == 0
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 20
    expected = 0o666 & ~umask
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert {name: oct(mode) for name, mode in modes.items() if mode != expected} == {}


def _scenario_of(saved: Path) -> str:
    return json.loads((saved / "manifest.json").read_text())["scenario_file"]


def test_the_replicate_band_is_the_median_and_central_90_percent_and_empty_for_one_replicate():
    from simulation.summary import excludes_zero, replicate_band

    rng = np.random.default_rng(0)
    values = pd.DataFrame({"k": ["a"] * 20 + ["b"], "v": [*rng.normal(size=20), 3.0]})
    band = replicate_band(values, ["k"], "v").set_index("k")
    a = values.loc[values.k == "a", "v"]
    assert band.loc["a", "median"] == pytest.approx(a.median())
    assert band.loc["a", "low"] == pytest.approx(np.quantile(a, 0.05))
    assert band.loc["a", "high"] == pytest.approx(np.quantile(a, 0.95))
    assert band.loc["b", "median"] == 3.0 and np.isnan(band.loc["b", "low"]) and np.isnan(band.loc["b", "high"])
    assert list(band["replicates"]) == [20, 1]
    # zero outside the interval at the precision shown: [0.0004, 0.01] reads "+0.0 pp" at its low end
    assert list(excludes_zero([0.001, 0.0004, -0.02, np.nan], [0.01, 0.01, -0.001, np.nan])) == [
        True, False, True, False]
