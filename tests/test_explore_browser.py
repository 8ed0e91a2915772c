"""The what-if explorer in a real browser: start ``talentsim explore``, open it in headless Chromium (Debian's
package, driven by Playwright without a browser download of its own), move levers as an analyst would, read the
curves and the table, save the scenario and check that ``talentsim run`` of the saved file gives the numbers shown.

Screenshots of each stage are written to the test's temporary folder (``TALENTSIM_SCREENSHOTS=DIR`` puts them in
DIR instead, to look at them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import SCENARIOS

pytestmark = pytest.mark.slow

BROWSERS = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions"]
REPLICATES, RESEARCHERS = 3, 2000


def _chromium() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium); the explorer's "
                    "browser test needs it")
    pytest.importorskip("solara", reason="the explore extra is not installed: pip install -e \".[explore]\"")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python client is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A copy of the scenario folder: the explorer saves its scenario beside the one it started from."""
    root = tmp_path_factory.mktemp("explore")
    shutil.copytree(SCENARIOS, root / "scenarios")
    return root


@pytest.fixture(scope="module")
def app(workspace):
    """``talentsim explore`` serving on a free port; yields its address."""
    command = [sys.executable, "-m", "simulation.cli", "explore", "scenarios/baseline.yaml", "--port", "0",
               "--replicates", str(REPLICATES), "--researchers", str(RESEARCHERS)]
    process = subprocess.Popen(command, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    address, seen = None, []
    deadline = time.monotonic() + 60
    while address is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"Open (http://\S+) in your browser", line)
        address = found.group(1) if found else None
    if address is None:
        process.kill()
        pytest.fail("talentsim explore did not print its address:\n" + "".join(seen))
    yield address
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("TALENTSIM_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_run(page, after: int, timeout: float = 180_000, shots: Path | None = None) -> int:
    """Wait until a run newer than job ``after`` is shown; return its job number."""
    try:
        page.wait_for_function(
            "after => { const s = document.querySelector('#run-status'); "
            "return s && s.dataset.state === 'done' && Number(s.dataset.job) > after; }", arg=after, timeout=timeout)
    except Exception:
        if shots is not None:
            page.screenshot(path=shots / f"timeout_after_run_{after}.png", full_page=True)
        raise
    return int(page.get_attribute("#run-status", "data-job"))


def headline_cells(page) -> dict[tuple[str, str], list[str]]:
    """Return the headline table shown: (indicator heading, place) -> the values' first lines."""
    rows = page.evaluate("""() => {
        const out = []; let group = '';
        for (const tr of document.querySelectorAll('#headline tbody tr')) {
            if (tr.classList.contains('group')) { group = tr.innerText.trim(); continue; }
            const cells = Array.from(tr.querySelectorAll('td'));
            out.push([group, cells[0].innerText.trim(),
                      cells.slice(1).map(td => td.childNodes[0].textContent.trim())]);
        }
        return out; }""")
    return {(group, place): values for group, place, values in rows}


def set_lever(page, lever: str, label: str, value: str) -> None:
    """Open a lever's section and type a value into one of its controls, as an analyst would."""
    panel = page.locator(".v-expansion-panel", has=page.locator(".v-expansion-panel-header", has_text=lever))
    control = panel.locator(".ts-control", has=page.get_by_text(label, exact=True))
    if not control.first.is_visible():
        panel.locator(".v-expansion-panel-header").first.click()
    header = panel.locator(".v-expansion-panel-header").first
    box = control.first.get_by_label("value")
    for _ in range(3):  # a redraw of the page between typing and Enter can swallow the value: type it again
        box.fill(value)
        box.press("Enter")
        try:
            page.wait_for_function("h => h.innerText.includes('changed')", arg=header.element_handle(),
                                   timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            continue
    raise AssertionError(f"the page did not take {value} for {lever}: {label}")


def test_an_analyst_changes_levers_reads_the_answer_saves_and_reproduces_it(browser, app, workspace, shots,
                                                                           monkeypatch):
    from simulation.cli import main
    from simulation.compare import compare_table, format_difference, format_value
    from simulation.results import load_results
    from simulation.scenario import load_scenario

    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith((app, "data:", "blob:")) else None)

    page.goto(app)
    first = wait_for_run(page, 0, shots=shots)
    page.screenshot(path=shots / "1_baseline.png", full_page=True)
    assert "nothing changed yet" in page.inner_text("#run-status")
    before_src = page.get_attribute("#figure-migration", "src")
    assert page.locator("#figure-difference").count() == 0  # no difference without a change
    # every group of levers is there, each lever under its group
    sidebar = page.locator(".v-navigation-drawer").inner_text()
    for group in ("Immigration", "Money", "Restrictions", "Compute", "Pipeline"):
        assert group in sidebar
    for lever in ("Visa odds", "Climate", "Signing bonus", "Exit restriction", "Compute access", "Pipeline"):
        assert lever in sidebar

    # Pull two levers, one after the other, waiting for each answer.
    set_lever(page, "Visa odds", "United States · every other origin", "0.3")
    second = wait_for_run(page, first, shots=shots)
    assert "1 changed" in page.locator(".v-navigation-drawer").inner_text()
    set_lever(page, "Compute access", "China", "0.3")
    wait_for_run(page, second, shots=shots)
    page.screenshot(path=shots / "2_changed.png", full_page=True)

    status = page.inner_text("#run-status")
    assert "'baseline_what_if' over 'baseline'" in status and f"{REPLICATES} replicate(s) x 2,000" in status
    assert page.get_attribute("#figure-migration", "src") != before_src  # the curves changed
    assert page.locator("#figure-difference").count() == 1
    assert "levers.visa_odds.US.default" in page.content() and "levers.compute_access.China" in page.content()
    shown = headline_cells(page)
    us = next(values for (group, place), values in shown.items()
              if group.startswith("top-tier share") and place == "United States")
    assert len(us) == 3 and us[2] not in ("+0.0 pp", "–")  # baseline, changed, and a difference that is not nil

    # From exploration to record: name it, describe it, save it.
    name_box = page.get_by_label("Scenario name")
    name_box.fill("visa_and_compute")
    name_box.press("Enter")
    note_box = page.get_by_label("Description (which question it answers)")
    note_box.fill("What if US visa odds fall to 30% and Chinese compute access to 30% from 2025?")
    note_box.press("Enter")
    page.get_by_role("button", name="Save as scenario").click()
    page.wait_for_selector("text=Saved ", timeout=30_000)
    page.screenshot(path=shots / "3_saved.png", full_page=True)

    saved = workspace / "scenarios" / "visa_and_compute.yaml"
    assert saved.exists()
    text = saved.read_text()
    data = yaml.safe_load(text)
    assert data["extends"] == "baseline.yaml" and data["name"] == "visa_and_compute"
    assert data["description"].startswith("What if US visa odds fall to 30%")
    assert set(data["levers"]) == {"visa_odds", "compute_access"}
    assert data["levers"]["visa_odds"] == {"US": {"default": [{"from": "2025-01", "value": 0.3}]}}
    load_scenario(saved)  # validates
    command = re.search(r"# Reproduce what the explorer showed: (.*)", text).group(1)
    assert command == (f"talentsim run {saved} --seed 20190101 --replicates {REPLICATES} "
                       f"--researchers {RESEARCHERS}")

    # The download is the report 'talentsim report' writes, for the changed scenario.
    with page.expect_download(timeout=120_000) as download:
        page.get_by_text("Download report", exact=True).click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    from simulation.style import display_name

    assert "talentsim scenario report" in report and f"<h1>Scenario: {display_name('visa_and_compute')}</h1>" in report
    assert not re.search(r"(src|href)=\"https?://", report)

    # talentsim run of the saved file (and of the baseline) gives the numbers the page shows.
    monkeypatch.chdir(workspace)
    args = command.split()[2:]
    assert main(["run", *args, "--out", "runs/changed", "--quiet", "--no-figures", "--format", "parquet"]) == 0
    assert main(["run", "scenarios/baseline.yaml", *args[1:], "--out", "runs/base", "--quiet", "--no-figures",
                 "--format", "parquet"]) == 0
    table = compare_table([load_results(workspace / "runs/base"), load_results(workspace / "runs/changed")])
    expected = {}
    for (indicator, _year, place), rows in table.groupby(["indicator", "year", "place"], sort=False):
        values = [format_value(indicator, v) for v in rows["median"]]
        values.append(format_difference(indicator, rows["diff_median"].iloc[1]))
        expected[(indicator, place)] = values
    names = {k: r.name for k, r in load_scenario(saved).regions.items()}
    shown = headline_cells(page)
    assert len(shown) == len(expected)
    for (indicator, place), values in expected.items():
        group = next(g for (g, p) in shown if g.startswith(indicator + ",") and p == names[place])
        assert shown[(group, names[place])] == values, (indicator, place)

    assert not problems, problems
    assert not remote, f"the page asked the network for {remote[:3]}"
    page.close()
