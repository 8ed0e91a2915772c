"""What the reliability tests share: the CLI in a separate process with limits, and every file kind it reads."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "scenarios" / "base" / "world.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TARGETS = ROOT / "experiments" / "calibration" / "targets.yaml"


@dataclass
class Done:
    code: int
    out: str
    err: str
    seconds: float


def talentsim(*args, cwd: Path, timeout: float = 120, memory_mb: int | None = None, file_mb: int | None = None,
              env: dict | None = None) -> Done:
    """Run ``talentsim ARGS`` in a new process (limited in address space and file size if asked)."""

    def limits() -> None:
        if memory_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        if file_mb is not None:
            import signal

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit then fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "simulation.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limits,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **(env or {})})
    return Done(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def assert_clean(done: Done) -> None:
    """Assert a process ended by our own hand: no traceback, no 'internal error'."""
    assert "Traceback" not in done.err, done.err[-3000:]
    assert "internal error" not in done.err, done.err[-3000:]


# --------------------------------------------------------------------------------------------------------------
# Every file kind the project reads, each with the command that reads it


def experiment_text(scenario: Path = BASELINE) -> str:
    return textwrap.dedent(f"""\
        name: hostile
        scenario: {scenario}
        run: {{researchers: 1000, end: 2021-01}}
        levers:
          visa: {{path: levers.visa_odds.US.default, values: [0.3, 0.9]}}
        outcomes:
          us_share: {{kind: share, region: US, tier: top_tier, year: 2020}}
        """)


def calibration_text(targets: Path = TARGETS, scenario: Path = WORLD) -> str:
    return textwrap.dedent(f"""\
        name: hostile
        scenario: {scenario}
        targets: {targets}
        output: out/calibrated.yaml
        report: out/report.md
        figures: out/figures
        researchers: 1000
        replicates: 1
        parameters:
          move_cost: {{path: preferences.move_cost_region, bounds: [0.3, 4.0]}}
        """)


def command_for(kind: str, bad: Path, tmp: Path) -> list[str]:
    """Return the argv that makes talentsim read ``bad`` as a file of ``kind``."""
    if kind == "scenario":
        return ["validate", bad]
    if kind == "experiment":
        return ["sweep", bad, "--dry-run"]
    if kind == "calibration":
        return ["calibrate", bad, "--quiet"]
    if kind == "targets":
        config = tmp / "calibration.yaml"
        config.write_text(calibration_text(targets=bad))
        return ["calibrate", config, "--quiet"]
    if kind == "extended scenario":
        child = tmp / "child.yaml"
        child.write_text(f"extends: {bad.name}\nname: child\n")
        return ["validate", child]
    raise ValueError(kind)


KINDS = ["scenario", "experiment", "calibration", "targets", "extended scenario"]
