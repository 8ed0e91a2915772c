"""Failures of the system, not of the input: each is one line, a documented exit code, and loses nothing.

Full and read-only disks are in test_output_folders.py (they are about the run folder); here: a closed pipe,
memory that does not suffice (estimated before a run, and running out during one), and permission errors.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

import simulation.resources as resources
from simulation.cli import main
from simulation.scenario import load_scenario

from hostile import ROOT, WORLD, assert_clean, experiment_text, talentsim


def test_a_closed_pipe_ends_quietly():
    """``talentsim schema | head -1``: no traceback, exit code 1 when the output could not all be written.

    The reading end is closed before the command starts writing, so the pipe is closed whatever its buffer holds.
    """
    process = subprocess.Popen([sys.executable, "-m", "simulation.cli", "schema"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in err and "Exception" not in err and "Error" not in err, err


# Commands that write to standard output, each with output large or small; a closed pipe ends each the same way.
PRINTING = {
    "schema": ["schema"],
    "validate": ["validate", "scenarios/baseline.yaml", "scenarios/decoupling.yaml"],
    "sweep --dry-run": ["sweep", "experiments/visa_policy_lhs.yaml", "--dry-run"],
    "--help": ["--help"],
    "run --help": ["run", "--help"],
    "--version": ["--version"],
}


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("name", list(PRINTING))
def test_a_reader_that_went_away_ends_every_command_quietly(name, buffered):
    """Output into a pipe whose reader has gone: no traceback, no 'Exception ignored', exit code 1 (the README's).

    Buffered output (the default into a pipe) fails only when it is flushed, which must happen while the command
    can still report it, not in the interpreter's last flush.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "simulation.cli", *PRINTING[name]], stdout=write,
                              stderr=subprocess.PIPE, cwd=ROOT, env=env, timeout=120)
    finally:
        os.close(write)
    err = done.stderr.decode()
    assert "Traceback" not in err and "Exception" not in err and "Error" not in err, err
    assert done.returncode == 1, (done.returncode, err)


def test_head_reads_one_line_and_the_command_stops_quietly():
    """``talentsim schema | head -1`` in a shell: one line out, nothing on stderr, 0 or 1 by whether it had finished."""
    done = subprocess.run(f"{shlex.quote(sys.executable)} -m simulation.cli schema | head -1; "
                          "echo exit=${PIPESTATUS[0]} >&2", shell=True, executable="/bin/bash", cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout == "# Scenario reference\n"
    lines = done.stderr.strip().splitlines()
    assert lines[-1] in ("exit=0", "exit=1") and len(lines) == 1, done.stderr


def test_a_run_too_large_for_memory_is_refused_before_it_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 2e9)
    out = tmp_path / "out"
    assert main(["run", str(WORLD), "--researchers", "5000000", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--researchers: 5,000,000 researchers need about" in err and "2.0 GB free" in err
    assert "at most about" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(resources.NotEnoughMemory, match="run.researchers"):
        from simulation.runner import run

        run(load_scenario(WORLD).with_run(researchers=5_000_000))


def test_a_sweep_counts_the_runs_that_share_the_machine(tmp_path, capsys, monkeypatch):
    one = resources.estimate_memory(load_scenario(WORLD).with_run(researchers=1000, end="2021-01"))
    monkeypatch.setattr(resources, "available_memory", lambda: one * 2.5)
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(experiment_text(WORLD))
    assert main(["sweep", str(experiment), "--out", str(tmp_path / "out"), "--workers", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "4 runs side by side" in err and "fewer --workers" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_address_space_limit_is_taken_into_account(tmp_path):
    """Under ``ulimit -v`` a run that cannot fit is refused at once, with no traceback (about 5 s)."""
    done = talentsim("run", WORLD, "--researchers", "20000000", "--out", tmp_path / "out", "--quiet",
                     cwd=tmp_path, memory_mb=2048)
    assert_clean(done)
    assert done.code == 2 and "need about" in done.err, done.err
    assert not (tmp_path / "out").exists()


def test_running_out_of_memory_during_a_run_is_one_line(tmp_path, capsys, monkeypatch):
    import simulation.runner

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(simulation.runner, "run", exhausted)
    assert main(["run", str(WORLD), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*.partial"))


def test_permission_denied_while_writing_is_one_line(tmp_path, capsys, monkeypatch):
    import simulation.results

    def denied(self, folder, formats=()):
        raise PermissionError(13, "Permission denied", str(folder / "stocks.parquet"))

    monkeypatch.setattr(simulation.results.RunResult, "write", denied)
    assert main(["run", str(WORLD), "--researchers", "1000", "--out", str(tmp_path / "out"), "--quiet",
                 "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "stocks.parquet: permission denied; choose another path" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
