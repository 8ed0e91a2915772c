"""A run's folder holds one whole run or none: concurrent runs, interrupted saves, full and read-only disks, damage.

Disk-full and read-only cases use a small tmpfs when the tests run as root (CI does), and a file-size limit on
the process (``RLIMIT_FSIZE``, which fails writes the way a full disk does) everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from simulation.cli import main
from simulation.outputs import OutputError, ResultsError, StagedFolder, folder_for
from simulation.results import load_results

from hostile import ROOT, WORLD, assert_clean, talentsim

SMALL = ["--researchers", "1000", "--quiet", "--no-figures"]


@pytest.fixture
def scenario(tmp_path) -> Path:
    """A short scenario (2019-2021) that runs in about a second."""
    data = yaml.safe_load(WORLD.read_text())
    data["run"]["end"] = "2021-01"
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _mount(size: str, options: str = "") -> Path:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    point = Path(tempfile.mkdtemp(prefix="talentsim-tmpfs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(point)],
                          capture_output=True)
    if done.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return point


def _unmount(point: Path) -> None:
    subprocess.run(["umount", "-l", str(point)], check=False)
    point.rmdir()


@pytest.fixture
def small_disk():
    point = _mount("1m")
    yield point
    _unmount(point)


@pytest.fixture
def read_only_disk():
    point = _mount("1m", ",ro")
    yield point
    _unmount(point)


def _tables(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".parquet", ".csv")}


# --------------------------------------------------------------------------------------------------------------
# One run or none


def test_a_rerun_with_other_formats_replaces_the_folder_whole(scenario, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), *SMALL]) == 0
    assert "stocks.parquet" in _tables(out)
    assert main(["run", str(scenario), "--out", str(out), "--format", "csv", "--seed", "5", *SMALL]) == 0
    assert _tables(out) == {f"{t}.csv" for t in ("stocks", "flows", "retention", "cohorts", "employers", "headline")}
    result = load_results(out)
    assert result.manifest["root_seed"] == 5
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".partial", ".old"))]


def test_a_folder_holding_other_files_is_refused_and_left_alone(scenario, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", str(scenario), "--out", str(out), *SMALL]) == 2
    assert "holds other files" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_two_runs_into_one_folder_cannot_mix(scenario, tmp_path):
    """A second run is refused while another process writes the folder; that one finishes whole (about 10 s)."""
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "simulation.cli", "run", str(WORLD), "--out", str(out),
                              "--researchers", "60000", "--quiet", "--no-figures"], cwd=tmp_path,
                             stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".out.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = talentsim("run", scenario, "--out", out, *SMALL, cwd=tmp_path)
    still_running = first.poll() is None
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert_clean(second)
    if still_running:  # the second run came while the first held the folder
        assert second.code == 2 and f"another talentsim run is writing this folder (process {first.pid})" in second.err
        assert load_results(out).manifest["researchers"] == 60_000
    else:  # pragma: no cover - a machine so fast the first run ended first: the folder holds the second run whole
        assert second.code == 0 and load_results(out).manifest["researchers"] == 1000


def test_a_folder_being_written_refuses_a_second_writer(scenario, tmp_path):
    out = tmp_path / "out"
    with StagedFolder(out, marker="manifest.json") as staging:
        (staging / "partial.csv").write_text("a\n")
        second = talentsim("run", scenario, "--out", out, *SMALL, cwd=tmp_path)
        assert_clean(second)
        assert second.code == 2 and f"another talentsim run is writing this folder (process {os.getpid()})" in second.err
        raise_inside = False
    assert not raise_inside and (out / "partial.csv").exists()  # the holder's folder went into place, unmixed


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill -9"])
def test_a_run_stopped_at_any_moment_leaves_the_earlier_run_whole(scenario, tmp_path, how):
    """Runs stopped after 0.3-2.7 s never leave a mixed folder; the next run cleans up (about 25 s)."""
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--format", "parquet", *SMALL]) == 0
    before = json.loads((out / "manifest.json").read_text())
    for delay in (0.3, 0.9, 1.5, 2.1, 2.7):
        process = subprocess.Popen([sys.executable, "-m", "simulation.cli", "run", str(scenario), "--out", str(out),
                                    "--format", "csv", "--researchers", "20000", "--quiet"], cwd=tmp_path,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        process.send_signal(how)
        process.wait(timeout=120)
        if how == signal.SIGINT:
            assert "Traceback" not in process.stderr.read()
        result = load_results(out)  # the earlier run, or the new one if it finished: never a mix
        assert result.manifest["created"] == before["created"] or _tables(out) == {
            f"{t}.csv" for t in ("stocks", "flows", "retention", "cohorts", "employers", "headline")}
    assert main(["run", str(scenario), "--out", str(out), *SMALL]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".partial", ".old"))]


def test_an_unwritable_out_is_found_before_the_simulation(scenario, tmp_path, capsys, monkeypatch):
    import simulation.runner

    monkeypatch.setattr(simulation.runner, "run", lambda *a, **k: pytest.fail("simulated before checking --out"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", str(scenario), "--out", str(blocker / "sub"), *SMALL]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_read_only_out_is_found_before_the_simulation(scenario, read_only_disk, capsys, monkeypatch):
    import simulation.runner

    monkeypatch.setattr(simulation.runner, "run", lambda *a, **k: pytest.fail("simulated before checking --out"))
    assert main(["run", str(scenario), "--out", str(read_only_disk / "out"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "choose another --out" in err and "read-only" in err.lower()


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(scenario, small_disk, tmp_path):
    earlier = tmp_path / "earlier"
    assert main(["run", str(scenario), "--out", str(earlier), *SMALL]) == 0
    done = talentsim("run", WORLD, "--out", small_disk / "out", "--researchers", "1000", "--replicates", "4",
                     "--quiet", cwd=tmp_path)
    assert_clean(done)
    assert done.code == 1 and "no space left" in done.err and len(done.err.strip().splitlines()) == 1, done.err
    assert [p.name for p in small_disk.iterdir()] in ([], [".out.lock"])
    load_results(earlier)  # finished results elsewhere are untouched


@pytest.mark.slow
def test_a_file_size_limit_fails_like_a_full_disk(scenario, tmp_path):
    done = talentsim("run", WORLD, "--out", tmp_path / "out", "--researchers", "1000", "--replicates", "4", "--quiet",
                     cwd=tmp_path, file_mb=1)
    assert_clean(done)
    assert done.code == 1 and "no space left" in done.err, done.err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_python_api_save_is_staged_too(small, tmp_path):
    from simulation.runner import run

    result = run(small.with_run(researchers=1000, end="2021-01"))
    out = tmp_path / "out"
    result.save(out, formats=("csv",))
    result.save(out, formats=("parquet",))
    assert "stocks.parquet" in _tables(out) and "stocks.csv" not in _tables(out)
    with StagedFolder(out, marker="manifest.json"), pytest.raises(OutputError, match="another talentsim run"):
        result.save(out)


# --------------------------------------------------------------------------------------------------------------
# Names and permissions


@pytest.mark.parametrize(("name", "folder"), [("../../escape", "escape"), ("/etc/cron.d/x", "etc_cron.d_x"),
                                              ("..", "unnamed"), ("a b$c", "a_b_c")])
def test_a_name_never_leads_outside_the_results_folder(name, folder, tmp_path):
    assert folder_for(tmp_path / "results", name) == tmp_path / "results" / folder


def test_a_scenario_named_to_escape_writes_inside_results(scenario, tmp_path, monkeypatch, capsys):
    data = yaml.safe_load(scenario.read_text())
    data["name"] = "../../../escaped"
    scenario.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario), *SMALL]) == 0
    assert (tmp_path / "results" / "escaped" / "manifest.json").is_file()
    assert not (tmp_path.parent / "escaped").exists()


@pytest.mark.slow
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_and_sweep_files_honour_the_umask(umask, tmp_path):
    from conftest import write_experiment

    experiment = write_experiment(tmp_path, (ROOT / "tests" / "conftest.py").read_text().split('SMALL_EXPERIMENT = f"""')[1]
                                  .split('"""')[0].replace("{SCENARIOS / \"baseline.yaml\"}",
                                                           str(ROOT / "scenarios" / "baseline.yaml"))
                                  .replace("{{", "{").replace("}}", "}").replace("replicates: 2", "replicates: 1"))
    code = (f"import os, sys; os.umask({umask}); from simulation.cli import main; "
            f"sys.exit(main(sys.argv[1:]))")
    for argv in (["run", str(WORLD), "--out", "run", *SMALL, "--format", "parquet"],
                 ["sweep", str(experiment), "--out", "sweep", "--workers", "0", "--quiet"]):
        done = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    modes = {stat.S_IMODE(p.stat().st_mode) for folder in ("run", "sweep") for p in (tmp_path / folder).rglob("*")
             if p.is_file() and not p.name.startswith(".")}
    assert modes == {0o666 & ~umask}
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o777 & ~umask


# --------------------------------------------------------------------------------------------------------------
# A damaged folder is reported, not read


@pytest.fixture
def saved(scenario, tmp_path) -> Path:
    out = tmp_path / "saved"
    assert main(["run", str(scenario), "--out", str(out), "--researchers", "1000", "--quiet"]) == 0
    return out


def _damage(folder: Path, how: str) -> str:
    if how == "truncated parquet":
        path = folder / "stocks.parquet"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return "stocks.parquet: does not match the checksum"
    if how == "one byte changed":
        path = folder / "flows.parquet"
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return "flows.parquet: does not match the checksum"
    if how == "missing table":
        (folder / "cohorts.parquet").unlink()
        return "cohorts.parquet: missing, though manifest.json lists it"
    if how == "manifest not JSON":
        (folder / "manifest.json").write_text('{"scenario": ')
        return "manifest.json: damaged, not readable as JSON"
    if how == "manifest names a file outside":
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"].append("../../../../etc/passwd")
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return "lists '../../../../etc/passwd', which is not a file of this folder"
    if how == "truncated csv without checksums":
        for path in folder.glob("*.parquet"):
            path.unlink()
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"] = [f for f in manifest["files"] if not f.endswith(".parquet")]
        del manifest["sha256"]
        (folder / "manifest.json").write_text(json.dumps(manifest))
        path = folder / "retention.csv"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[: len(lines) // 2]))
        return f"retention.csv: holds {len(lines) // 2 - 1:,} rows, but manifest.json records {len(lines) - 1:,}"
    raise ValueError(how)


DAMAGE = ["truncated parquet", "one byte changed", "missing table", "manifest not JSON",
          "manifest names a file outside", "truncated csv without checksums"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_folder_is_reported_exactly(how, saved, capsys):
    expected = _damage(saved, how)
    with pytest.raises(ResultsError) as caught:
        load_results(saved)
    assert expected in str(caught.value)
    for argv in (["report", str(saved)], ["plot", str(saved), "--format", "png"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err
    assert not (saved / "report.html").exists()


def test_a_folder_that_is_not_a_run_is_reported(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_a_loaded_run_matches_what_was_saved(saved):
    result = load_results(saved)
    manifest = json.loads((saved / "manifest.json").read_text())
    assert {name: len(table) for name, table in result.tables.items()} == manifest["rows"]
    assert set(manifest["sha256"]) == set(manifest["files"]) - {"manifest.json"}
    assert isinstance(result.stocks, pd.DataFrame)


def test_names_with_dollar_signs_are_drawn_as_written(scenario, tmp_path, capsys):
    """A '$' in a scenario or region name is text in every figure, not the start of a formula."""
    data = yaml.safe_load(scenario.read_text())
    data["name"] = "US$ 100M $\\notacommand$ bonus"  # a formula matplotlib cannot parse
    data["regions"]["US"]["name"] = "U$^$S"
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--researchers", "1000", "--quiet"]) == 0
    assert (out / "migration_curve.png").is_file()
    assert main(["report", str(out)]) == 0
    assert main(["plot", str(out), "--format", "svg", "--only", "migration_curve"]) == 0
    assert (out / "figures" / "migration_curve.svg").is_file()
    assert "Traceback" not in capsys.readouterr().err
