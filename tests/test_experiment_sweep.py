"""Sweeps on this process and on local worker processes: the result store, resuming, failures, the command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from simulation import read_experiment, sweep
from simulation.cli import main
from simulation.outputs import ResultsError
from simulation.experiment import expand, load_experiment
from simulation.store import ExperimentStore, SweepError

from conftest import SMALL_EXPERIMENT, assert_same_results, write_experiment

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"

SMALL = SMALL_EXPERIMENT

# pay.sd drawn from an unbounded normal: about a third of the draws are negative, which the scenario refuses
FAILING = SMALL.replace(
    "pay_weight: {path: preferences.default.pay.mean, range: [1.2, 1.8]}",
    "pay_sd: {path: preferences.default.pay.sd, distribution: {kind: normal, mean: 0.1, sd: 0.2}}",
).replace("samples: 2", "samples: 6")


def write(tmp_path: Path, text: str = SMALL, name: str = "exp.yaml") -> Path:
    return write_experiment(tmp_path, text, name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small experiment swept in this process: the results every other way of sweeping must reproduce."""
    tmp = tmp_path_factory.mktemp("reference")
    summary = sweep(write(tmp), tmp / "out", workers=0, progress=False)
    assert summary.ok
    return read_experiment(tmp / "out")


def test_a_sweep_stores_one_row_per_run(reference, tmp_path):
    experiment = load_experiment(write(tmp_path))
    plan = expand(experiment)
    outcomes, curves = reference  # unpacks as the two tables
    assert len(outcomes) == len(plan) == 2 * 2 * 2
    assert set(outcomes.run_id) == {r.run_id for r in plan}
    assert list(outcomes.columns) == ["run_id", "arm", "sample", "replicate", "seed", "us_visa", "pay_weight",
                                      "us_share", "china_retention", "net_us_china"]
    assert outcomes.us_share.between(0, 1).all() and outcomes.net_us_china.notna().all()
    assert set(curves.run_id) == set(outcomes.run_id) and set(curves.curve) == {"location"}
    assert reference.complete and (reference.runs.status == "done").all()
    assert (reference.runs.attempts == 1).all() and reference.runs.wall_time_s.gt(0).all()
    assert reference.label("us_share") == "Share of top-tier researchers working in US, 2021 [share]"
    # common random numbers: the two visa arms of each sample and replicate share seed and draws
    pairs = outcomes.groupby(["sample", "replicate"]).agg(seeds=("seed", "nunique"), draws=("pay_weight", "nunique"))
    assert (pairs.seeds == 1).all() and (pairs.draws == 1).all()


def test_the_store_is_plain_files(reference):
    folder = Path(reference.info["experiment_file"]).parent / "out"
    names = {p.name for p in folder.iterdir()}
    assert {"experiment.json", "index.parquet", "index.csv", "outcomes.parquet", "outcomes.csv", "curves.parquet",
            "runs"} <= names
    assert not [p for p in folder.rglob("*.tmp")]
    info = json.loads((folder / "experiment.json").read_text())
    assert info["base_scenario"]["run"]["researchers"] == 2000 and info["runs"] == 8
    record = json.loads(next((folder / "runs").glob("*.json")).read_text())
    assert record["status"] == "done" and set(record["outcomes"]) == {"us_share", "china_retention", "net_us_china"}
    assert pd.read_parquet(folder / "outcomes.parquet").equals(reference.outcomes)


def test_local_workers_give_identical_results(reference, tmp_path):
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        summary = sweep(write(tmp_path), out, workers=workers, progress=False)
        assert summary.ok and summary.done == 8
        results = read_experiment(out)
        assert_same_results(results, reference)
        pids = {w.split(":")[1] for w in results.runs.worker}
        assert 1 <= len(pids) <= workers and str(os.getpid()) not in pids  # run by worker processes


def test_a_local_worker_killed_mid_sweep_has_its_runs_redone(reference, tmp_path):
    psutil = pytest.importorskip("psutil")
    exp, out = write(tmp_path, SLOW.replace("replicates: 6", "replicates: 2")), tmp_path / "out"
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    killed = []

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = [c for c in psutil.Process().children() if c.pid not in before and "spawn_main" in " ".join(c.cmdline())]
            if workers and (out / "runs").exists() and list((out / "runs").glob("*.json")):
                workers[0].kill()
                killed.append(workers[0].pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    summary = sweep(exp, out, workers=2, progress=False)
    killer.join(timeout=5)
    assert killed and summary.ok and summary.done == 8, summary.format()
    assert sweep(exp, tmp_path / "serial", workers=0, progress=False).ok
    assert_same_results(read_experiment(out), read_experiment(tmp_path / "serial"))


def test_resume_skips_finished_runs_and_redoes_missing_ones(reference, tmp_path):
    exp, out = write(tmp_path), tmp_path / "out"
    sweep(exp, out, workers=0, progress=False)
    store = ExperimentStore(out)
    records = sorted((out / "runs").glob("*.json"))
    for path in records[:3]:  # as if the sweep had been killed before these were written
        path.unlink()
    lost = records[3].with_suffix("").with_suffix(".curves.parquet")
    lost.unlink()  # curves lost: the run is not whole, so it is redone
    (out / "runs" / ".half-written.json.abc.tmp").write_text("{")  # left by a kill during a write
    before = {k: v["finished"] for k, v in store.records().items()}
    assert records[3].stem not in before
    with pytest.raises(SweepError, match="--resume"):
        sweep(exp, out, workers=0, progress=False)
    summary = sweep(exp, out, workers=0, progress=False, resume=True)
    assert (summary.skipped, summary.done, summary.failed) == (4, 4, [])
    assert [run_id for run_id, _ in summary.damaged] == [records[3].stem]
    assert "missing" in summary.damaged[0][1] and "run again" in summary.format()
    after = store.records()
    assert all(after[k]["finished"] == t for k, t in before.items())  # finished runs untouched
    assert not list((out / "runs").glob(".*.tmp"))
    assert_same_results_outcomes(read_experiment(out), reference)


def assert_same_results_outcomes(a, b) -> None:
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)


def test_resume_refuses_a_changed_experiment_but_takes_more_replicates(tmp_path):
    exp, out = write(tmp_path), tmp_path / "out"
    sweep(exp, out, workers=0, progress=False)
    changed = write(tmp_path, SMALL.replace("year: 2021}", "year: 2020}", 1), "changed.yaml")
    with pytest.raises(SweepError, match="has changed"):
        sweep(changed, out, workers=0, progress=False, resume=True)
    more = write(tmp_path, SMALL.replace("replicates: 2", "replicates: 3"), "more.yaml")
    summary = sweep(more, out, workers=0, progress=False, resume=True)
    assert (summary.skipped, summary.done) == (8, 4)
    assert len(read_experiment(out).outcomes) == 12


def test_two_sweeps_never_run_into_one_folder_at_once(tmp_path):
    exp, out = write(tmp_path), tmp_path / "out"
    experiment = load_experiment(exp)
    running = ExperimentStore.prepare(experiment, out, expand(experiment), resume=False)
    try:
        with pytest.raises(SweepError, match="another sweep is running"):
            sweep(exp, out, workers=0, progress=False, resume=True)
    finally:
        running.close()
    assert sweep(exp, out, workers=0, progress=False, resume=True).ok


def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    exp, out = write(tmp_path, FAILING), tmp_path / "out"
    summary = sweep(exp, out, workers=0, progress=False)
    results = read_experiment(out)
    failed = results.runs[results.runs.status == "failed"]
    assert 0 < len(summary.failed) == len(failed) < summary.planned
    assert summary.done == summary.planned - len(failed) == len(results.outcomes)
    assert not summary.ok and "--resume" in summary.format()
    assert (results.outcomes.pay_sd >= 0).all() and (failed.pay_sd < 0).all()
    assert failed.error.str.contains("pay.sd").all() and failed.error.str.contains("ScenarioError").all()
    record = json.loads((out / "runs" / f"{failed.run_id.iloc[0]}.json").read_text())
    assert "Traceback" in record["traceback"]
    again = sweep(exp, out, workers=0, progress=False, resume=True)  # failed runs are retried, finished ones kept
    assert again.skipped == summary.done and len(again.failed) == len(failed)
    assert (read_experiment(out).runs.query("status == 'failed'").attempts == 2).all()


def test_read_experiment_of_a_stopped_sweep_returns_what_is_finished(reference, tmp_path):
    exp, out = write(tmp_path), tmp_path / "out"
    sweep(exp, out, workers=0, progress=False)
    for name in ("outcomes.parquet", "curves.parquet"):
        (out / name).unlink()
    for path in sorted((out / "runs").glob("*.json"))[:2]:
        path.unlink()
    partial = read_experiment(out)
    assert not partial.complete and len(partial.outcomes) == 6
    assert (partial.runs.status == "pending").sum() == 2
    assert (partial.finished, partial.failed, partial.missing) == (6, 0, 2)
    expected = reference.outcomes[reference.outcomes.run_id.isin(partial.outcomes.run_id)].reset_index(drop=True)
    pd.testing.assert_frame_equal(partial.outcomes, expected)
    with pytest.raises(ResultsError, match="talentsim sweep"):
        read_experiment(tmp_path)


def test_the_sweep_command(tmp_path, capsys):
    exp = write(tmp_path)
    assert main(["sweep", str(exp), "--out", str(tmp_path / "out"), "--workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert "Mean outcome by lever arm" in printed and "8 finished now, 0 failed" in printed
    assert main(["sweep", str(exp), "--out", str(tmp_path / "out"), "--workers", "0"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["sweep", str(exp), "--out", str(tmp_path / "out"), "--workers", "0", "--resume", "--quiet"]) == 0
    assert "8 finished before (resumed)" in capsys.readouterr().out
    assert main(["sweep", str(exp), "--dry-run"]) == 0
    assert "8 runs = 2 lever arm(s) x 2 uncertainty sample(s)" in capsys.readouterr().out


def test_the_sweep_command_with_failed_runs_exits_3(tmp_path, capsys):
    assert main(["sweep", str(write(tmp_path, FAILING)), "--out", str(tmp_path / "o"), "--workers", "0", "--quiet"]) == 3
    out = capsys.readouterr().out
    assert "failed" in out and "ScenarioError" in out


def test_the_sweep_command_reports_bad_input_without_a_traceback(tmp_path, capsys):
    bad = write(tmp_path, SMALL.replace("region: US,", "region: USA,"))
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "problem in the experiment" in err and "unknown region 'USA'" in err and "Traceback" not in err
    assert main(["sweep", str(write(tmp_path)), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert "--workers applies to local processes" in capsys.readouterr().err
    assert main(["sweep", str(write(tmp_path)), "--scheduler", "nonsense"]) == 2
    assert "tcp://HOST:PORT" in capsys.readouterr().err


def test_without_dask_a_cluster_sweep_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if the extra were not installed
    assert main(["sweep", str(write(tmp_path)), "--out", str(tmp_path / "o"), "--cluster", "local"]) == 2
    err = capsys.readouterr().err
    assert "optional extra" in err and "talentsim[dask]" in err
    assert not (tmp_path / "o").exists()  # nothing written before the executor is ready


def test_the_command_line_does_not_import_heavy_libraries():
    code = "import sys, simulation.cli; print(sorted(m for m in ('distributed', 'dask') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- interrupting a sweep process and resuming it

SLOW = SMALL.replace("researchers: 2000, end: 2022-01", "researchers: 20000, end: 2026-01").replace(
    "replicates: 2", "replicates: 6")  # enough runs that the interruptions below come mid-sweep


def _default_ctrl_c() -> None:
    # A shell starts background jobs with Ctrl-C ignored, and Python then never raises KeyboardInterrupt; the
    # sweep under test must see SIGINT as a terminal's Ctrl-C would deliver it, whatever started the tests.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(exp: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "simulation.cli", "sweep", str(exp), "--out", str(out), "--workers", "2", "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=_default_ctrl_c,
    )


def _wait_for_runs(out: Path, count: int, process: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = len(list((out / "runs").glob("*.json"))) if (out / "runs").exists() else 0
        if finished >= count:
            return finished
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no {count} finished runs within {timeout} s")


def _children(pid: int) -> list[int]:
    try:
        import psutil
    except ImportError:  # the check that workers stop with the sweep needs psutil (a dependency of the dask extra)
        return []
    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def _gone(pids: list[int], timeout: float = 10) -> bool:
    if not pids:
        return True
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_interrupted_and_killed_sweeps_resume_to_the_same_results(tmp_path):
    exp, out = write(tmp_path, SLOW), tmp_path / "out"
    plan = expand(load_experiment(exp))

    # Ctrl-C: what is finished is kept, and the command says how to go on
    process = _start(exp, out)
    _wait_for_runs(out, 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err

    # kill -9 of the sweep process: its worker processes stop too, and nothing half-written counts
    process = _start(exp, out, "--resume")
    first = _wait_for_runs(out, 1, process)
    workers = _children(process.pid)
    _wait_for_runs(out, first + 2, process)
    process.kill()
    process.wait(timeout=30)
    assert _gone(workers), "worker processes outlived the killed sweep"
    finished = len(list((out / "runs").glob("*.json")))
    assert finished < len(plan), "the sweep finished before it could be killed; make the runs slower"

    process = _start(exp, out, "--resume")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    resumed = read_experiment(out)
    assert resumed.complete and (resumed.runs.status == "done").all() and len(resumed.outcomes) == len(plan)

    uninterrupted = tmp_path / "uninterrupted"
    assert sweep(exp, uninterrupted, workers=0, progress=False).ok
    assert_same_results(resumed, read_experiment(uninterrupted))
