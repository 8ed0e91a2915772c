"""A sweep's store heals: damaged, missing and foreign files, a lost index or description, then resume and read.

Every case damages a copy of one finished sweep, then checks that ``read_experiment`` still reads what is whole
(counting finished, failed, missing and damaged runs), that ``--resume`` redoes exactly the runs that are not
whole and reports them, and that the sweep's tables afterwards equal those of a sweep never damaged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from simulation.cli import main
from simulation.executors import RunOutput, sweep
from simulation.store import ExperimentStore, read_experiment

from conftest import SCENARIOS

EXPERIMENT = textwrap.dedent(f"""
    name: damage
    scenario: {SCENARIOS / "baseline.yaml"}
    run: {{researchers: 1000, end: 2021-01}}
    seed: 4
    replicates: 2
    levers:
      us_visa: {{path: levers.visa_odds.US.default, values: [0.3, 0.9]}}
    outcomes:
      us_share: {{kind: share, region: US, tier: top_tier, year: 2020}}
    curves:
      location: {{kind: migration, tier: top_tier}}
    """)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished sweep of four runs: (experiment file, results folder)."""
    folder = tmp_path_factory.mktemp("damage")
    experiment = folder / "exp.yaml"
    experiment.write_text(EXPERIMENT)
    summary = sweep(experiment, folder / "out", workers=0, progress=False)
    assert summary.ok
    return experiment, folder / "out"


@pytest.fixture
def copy(finished, tmp_path) -> tuple[Path, Path]:
    experiment, out = finished
    shutil.copytree(out, tmp_path / "out")
    return experiment, tmp_path / "out"


def _run_ids(out: Path) -> list[str]:
    return sorted(p.stem for p in (out / "runs").glob("*.json"))


def _same_tables(a, b) -> None:
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)
    pd.testing.assert_frame_equal(a.curves.reset_index(drop=True), b.curves.reset_index(drop=True))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


DAMAGE = {
    "truncated curves": lambda runs, run_id: _truncate(runs / f"{run_id}.curves.parquet"),
    "missing curves": lambda runs, run_id: (runs / f"{run_id}.curves.parquet").unlink(),
    "truncated record": lambda runs, run_id: _truncate(runs / f"{run_id}.json"),
    "record of another run": lambda runs, run_id: (runs / f"{run_id}.json").write_text(
        json.dumps({"run_id": "0" * 16, "status": "done"})),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_run_is_read_around_then_redone_on_resume(how, finished, copy, capsys):
    experiment, out = copy
    reference = read_experiment(finished[1])
    victim = _run_ids(out)[1]
    DAMAGE[how](out / "runs", victim)

    partial = read_experiment(out)
    assert (partial.finished, partial.failed, partial.missing, partial.damaged) == (3, 0, 1, 1)
    assert not partial.complete and victim not in set(partial.outcomes.run_id)
    assert victim not in set(partial.curves.run_id)
    assert main(["plot", str(out), "--format", "png"]) == 0  # the figures of what is whole
    capsys.readouterr()

    assert main(["sweep", str(experiment), "--out", str(out), "--workers", "0", "--resume", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "1 finished now" in printed and "3 finished before" in printed
    assert f"{victim}: its" in printed and "run again" in printed
    healed = read_experiment(out)
    assert healed.complete and (healed.finished, healed.missing, healed.damaged) == (4, 0, 0)
    _same_tables(healed, reference)
    assert sorted(p.name for p in (out / "runs" / "damaged").iterdir())  # kept for inspection


def test_foreign_files_are_left_alone_and_not_counted(finished, copy, capsys):
    experiment, out = copy
    (out / "runs" / "notes.txt").write_text("mine")
    (out / "runs" / "summary.json").write_text("{}")
    (out / "results.csv").write_text("a,b\n")
    reading = read_experiment(out)
    assert reading.complete and reading.finished == 4
    assert main(["sweep", str(experiment), "--out", str(out), "--workers", "0", "--resume", "--quiet"]) == 0
    assert (out / "runs" / "notes.txt").read_text() == "mine" and (out / "runs" / "summary.json").exists()


@pytest.mark.parametrize("lost", ["index.parquet", "experiment.json", "both", "experiment.json damaged"])
def test_a_lost_index_or_description_is_rebuilt_from_the_run_files(lost, finished, copy, capsys):
    experiment, out = copy
    reference = read_experiment(finished[1])
    if lost in ("index.parquet", "both"):
        (out / "index.parquet").unlink()
        (out / "index.csv").unlink()
    if lost in ("experiment.json", "both"):
        (out / "experiment.json").unlink()
    if lost == "experiment.json damaged":
        (out / "experiment.json").write_text('{"name": "dam')
    reading = read_experiment(out)
    assert reading.finished == 4 and len(reading.runs) == 4
    assert list(reading.outcomes.us_share) == list(reference.outcomes.us_share)
    assert set(reading.runs.status) == {"done"}
    if "experiment.json" in lost or lost == "both":
        assert main(["sweep", str(experiment), "--out", str(out), "--workers", "0", "--quiet"]) == 2
        assert "--resume" in capsys.readouterr().err
    assert main(["sweep", str(experiment), "--out", str(out), "--workers", "0", "--resume", "--quiet"]) == 0
    assert "4 finished before" in capsys.readouterr().out
    healed = read_experiment(out)
    assert healed.complete and json.loads((out / "experiment.json").read_text())["name"] == "damage"
    _same_tables(healed, reference)


def test_a_sweep_with_failed_runs_is_not_complete(copy):
    _, out = copy
    record_path = out / "runs" / f"{_run_ids(out)[0]}.json"
    record = json.loads(record_path.read_text())
    record.update(status="failed", error="boom", outcomes={})
    record_path.write_text(json.dumps(record))
    reading = read_experiment(out)
    assert not reading.complete and (reading.finished, reading.failed, reading.missing) == (3, 1, 0)


def test_a_cancelled_run_is_not_finished_and_not_failed(tmp_path, monkeypatch):
    """A run the cluster took back (a cancelled future) is left for the next resume, not recorded as failed."""
    import simulation.executors as executors

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(EXPERIMENT)

    class Cancelling(executors.SerialExecutor):
        description = "a cluster that cancels the first run"

        def results(self, tasks):
            yield RunOutput(tasks[0].spec.run_id, "cancelled")
            yield from super().results(tasks[1:])

    monkeypatch.setattr(executors, "choose_executor", lambda *a, **k: Cancelling())
    summary = sweep(experiment, tmp_path / "out", progress=False)
    assert (summary.done, len(summary.failed), summary.cancelled, summary.pending) == (3, 0, 1, 1)
    assert not summary.ok and "cancelled" in summary.format()
    reading = read_experiment(tmp_path / "out")
    assert (reading.finished, reading.failed, reading.missing) == (3, 0, 1)
    monkeypatch.undo()
    assert sweep(experiment, tmp_path / "out", workers=0, progress=False, resume=True).done == 1


@pytest.mark.slow
def test_reading_a_running_sweep_always_gives_a_consistent_snapshot(tmp_path):
    """read_experiment, called again and again while a sweep runs and resumes, never fails (about 30 s)."""
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(EXPERIMENT.replace("replicates: 2", "replicates: 6"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "simulation.cli", "sweep", str(experiment), "--out", str(out), "--workers", "0",
               "--quiet"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    reads = 0
    seen_running = False
    while process.poll() is None or reads == 0:
        if (out / "experiment.json").exists():
            reading = read_experiment(out)
            reads += 1
            assert reading.finished + reading.failed + reading.missing == 12
            assert len(reading.outcomes) == reading.finished
            assert set(reading.curves.run_id) <= set(reading.outcomes.run_id)
            seen_running |= not reading.complete
        time.sleep(0.02)
    assert process.returncode == 0 and reads > 5 and seen_running
    assert read_experiment(out).complete
    store = ExperimentStore(out)
    assert not store.running()
