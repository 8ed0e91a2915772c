"""The README's quick start works as written (CI runs its test command itself, in .ci/run)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_has_one_run_command_and_one_test_command():
    run_cmd, test_cmd = quick_start_commands()
    assert "talentsim run scenarios/baseline.yaml" in run_cmd
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[test]"' in ci and "-m pytest" in ci  # CI runs the same install and tests


def test_readme_run_command_runs_the_baseline(tmp_path: Path):
    run_cmd = quick_start_commands()[0].split("&&")[-1].strip()
    args = shlex.split(run_cmd)
    assert args[0].endswith("talentsim")
    talentsim = Path(sys.executable).parent / "talentsim"
    done = subprocess.run(
        [str(talentsim), *args[1:], "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "share of top-tier researchers working in region" in done.stdout
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario_name"] == "baseline" and manifest["researchers"] == 20_000
    assert manifest["rows"]["stocks"] == len(pd.read_parquet(out / "stocks.parquet"))
    for name in ("migration_curve.png", "retention_curve.png", "stocks.csv", "flows.parquet", "cohorts.parquet"):
        assert (out / name).stat().st_size > 0, name
