"""The HTML report: self-contained, complete, and loading cleanly in a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from simulation import load_scenario, run
from simulation.cli import main
from simulation.compare import load_many
from simulation.report import report_html, write_comparison_report, write_report

from conftest import SCENARIOS, small_version

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def folder(baseline, tmp_path_factory):
    """A saved run of three replicates of the small baseline."""
    out = tmp_path_factory.mktemp("baseline")
    result = run(small_version(baseline, researchers=2000, end="2027-01"), replicates=3)
    result.manifest["command"] = "talentsim run scenarios/baseline.yaml --replicates 3"
    result.save(out, formats=("parquet",))
    return out


@pytest.fixture(scope="module")
def report(folder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(folder), "-o", str(path)]) == 0
    return path


# --------------------------------------------------------------------------------------------------------------
# What the file holds


def test_report_is_one_self_contained_file(report):
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "<link" not in text and "@import" not in text
    for attribute, value in re.findall(r'\b(src|href)="([^"]*)"', text):
        assert value.startswith(("data:", "#")), f"{attribute}={value[:60]} would need a file or a server"
    assert not re.search(r"url\((?!data:)", text)
    assert "Content-Security-Policy" in text  # the browser itself refuses anything but inline data


def test_report_holds_description_indicators_figures_and_provenance(report, folder):
    text = report.read_text(encoding="utf-8")
    scenario = load_scenario(SCENARIOS / "baseline.yaml")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "Scenario: Baseline" in text and "Scenario &#x27;baseline&#x27;" in text
    assert scenario.description.split(".")[0].replace("'", "&#x27;") in text
    assert "Share of top-tier researchers working in the region" in text
    assert "Home retention of top-tier researchers, by origin" in text
    assert re.search(r"<th>2019</th><th>2025</th><th>2027</th>", text)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', text)
    captions = re.findall(r"<figcaption><strong>Figure (\d+)\.", text)
    assert len(images) == 6 and captions == ["1", "2", "3", "4", "5", "6"]
    for data, alt in images:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and image.width > 1000, alt
    assert "MacroPolo Global AI Talent Tracker" in text and "CSET" in text  # sources in captions
    assert str(manifest["root_seed"]) in text
    assert all(str(r["seed"]) in text for r in manifest["replicates"])
    assert "talentsim run scenarios/baseline.yaml --replicates 3" in text
    assert "SHA-256" in text and "stocks.parquet" in text
    assert "Resolved scenario" in text and "visa_odds" in text


def test_report_says_what_changed_and_what_is_found_before_the_tables(folder, report, tmp_path):
    from simulation import load_results
    from simulation.changes import changes_between

    result = load_results(folder)
    # run from a Scenario object, not a file: the manifest names no scenario to compare with, and the report says so
    assert "does not record what" in report.read_text(encoding="utf-8")
    scenario = tmp_path / "cut.yaml"
    scenario.write_text("name: cut\nextends: " + (SCENARIOS / "baseline.yaml").as_posix() + "\n"
                        "levers:\n  compute_access:\n    China:\n      - {from: 2024-01, value: 0.2}\n")
    changed = run(small_version(load_scenario(scenario), researchers=2000, end="2027-01"), replicates=3)
    changed.manifest["changes"] = {
        "reference": "baseline", "reference_file": "scenarios/baseline.yaml",
        "changes": [c.to_dict() for c in changes_between(result.scenario, changed.scenario)]}
    text = report_html(changed)
    line = "Compute access in China (multiplier on compute per researcher): ×0.60 → ×0.20 from January 2024"
    order = [text.index(marker) for marker in ('id="changes"', line, 'id="findings"',
                                               "What the model cannot tell you", 'id="headline"', 'id="figures"')]
    assert order == sorted(order)
    assert "Median of 3 replicates" in text and "researchers represented" in text
    assert "EVIDENCE" not in text and "<th>Code</th>" not in text  # sources in words


def test_a_single_replicate_report_shows_no_interval(baseline, tmp_path):
    result = run(small_version(baseline, researchers=2000, end="2022-01"), replicates=1)
    text = report_html(result)
    assert 'class="interval"' not in text and "single replicate: no interval" in text.replace("Value of a s", "s")
    assert "no change can be told from the noise" in text


def test_the_limitations_box_is_the_model_descriptions_section():
    from simulation.report import limitations

    model = (Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text(encoding="utf-8")
    section = model.split("<!-- limitations: start -->", 1)[1].split("<!-- limitations: end -->", 1)[0]
    assert [line[2:].strip() for line in section.strip().splitlines()] == limitations()
    assert len(limitations()) >= 5


def test_report_indicator_years_can_be_chosen(folder):
    from simulation import load_results

    text = report_html(load_results(folder), years=[2020, 2026])
    assert re.search(r"<th>2020</th><th>2026</th></tr>", text)


def test_report_command_explains_bad_input(folder, tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["report", str(folder), "-o", str(tmp_path / "r.html"), "--at", "2050"]) == 2
    assert "2050" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "manifest.json" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# In a browser


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (no port, no extra package)."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="talentsim-chromium-")
        browser_reads, we_write = os.pipe()  # the browser reads commands on its fd 3
        we_read, browser_writes = os.pipe()  # and writes answers and events on its fd 4

        def wire():  # in the child, before the browser starts
            a, b = os.dup(browser_reads), os.dup(browser_writes)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(browser_reads)
        os.close(browser_writes)
        self.write, self.read = we_write, we_read
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self.read], [], [], left)
            if ready:
                chunk = os.read(self.read, 1 << 20)
                if not chunk:
                    raise EOFError("Chromium closed the protocol pipe")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def load(self, url: str, timeout: float = 60) -> tuple[str, list[dict]]:
        """Open ``url`` in a new tab and wait for its load event; return the session and the events so far."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._receive(deadline))
        return session, self.events

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.write)
        os.close(self.read)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium():
    executable = _browser()
    if executable is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium); the report's "
                    "browser checks need it")
    browser = Chromium(executable)
    yield browser
    browser.close()


def problems_on_load(browser: Chromium, path: Path) -> dict:
    """Load ``path`` and return what went wrong: console errors, exceptions, failed or remote requests, images."""
    session, events = browser.load(path.resolve().as_uri())
    errors = [e["params"]["entry"]["text"] for e in events
              if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    errors += [" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"])
               for e in events if e.get("method") == "Runtime.consoleAPICalled"
               and e["params"]["type"] in ("error", "assert", "warning")]
    exceptions = [e["params"]["exceptionDetails"] for e in events if e.get("method") == "Runtime.exceptionThrown"]
    failed = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]
    remote = [e["params"]["request"]["url"][:80] for e in events if e.get("method") == "Network.requestWillBeSent"
              and not e["params"]["request"]["url"].startswith(("file:", "data:"))]
    images = browser.call("Runtime.evaluate", {
        "expression": "JSON.stringify(Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
                      "width: i.naturalWidth, shown: i.getBoundingClientRect().width})))",
        "returnByValue": True}, session=session)["result"]["value"]
    figures = browser.call("Runtime.evaluate", {"expression": "document.querySelectorAll('figure figcaption').length",
                                                "returnByValue": True}, session=session)["result"]["value"]
    return {"errors": errors, "exceptions": exceptions, "failed": failed, "remote": remote,
            "images": json.loads(images), "captions": figures}


def test_report_loads_in_chromium_without_errors_and_every_image_shows(chromium, report):
    found = problems_on_load(chromium, report)
    assert found["errors"] == [] and found["exceptions"] == []
    assert found["failed"] == [] and found["remote"] == []
    assert len(found["images"]) == 6 == found["captions"]
    for image in found["images"]:
        assert image["complete"] and image["width"] > 0 and image["shown"] > 0, image["alt"]


def test_comparison_report_loads_in_chromium(chromium, folder, baseline, tmp_path):
    scenario = tmp_path / "visa_cut.yaml"
    scenario.write_text("name: visa_cut\nextends: " + (SCENARIOS / "baseline.yaml").as_posix() + "\n"
                        "levers:\n  visa_odds:\n    US:\n      China:\n        - {from: 2025-01, value: 0.2}\n")
    other = tmp_path / "other"
    run(small_version(load_scenario(scenario), researchers=2000, end="2027-01"), replicates=3).save(
        other, formats=("parquet",))
    path = write_comparison_report(load_many([folder, other]), tmp_path / "compare.html", at=[2026])
    text = path.read_text(encoding="utf-8")
    assert "Change: Visa cut" in text and "median of paired differences" in text and "UNPAIRED" not in text
    # what changed, then the key findings and the limitations, before the figures and the full table
    order = [text.index(marker) for marker in (
        'id="changes"', "visa odds for China-origin researchers: 0.57 → 0.20 from January 2025",
        'id="findings"', "What the model cannot tell you", 'id="figures"', 'id="indicators"')]
    assert order == sorted(order)
    found = problems_on_load(chromium, path)
    assert found["errors"] == [] and found["exceptions"] == [] and found["failed"] == []
    assert len(found["images"]) == 2 and all(i["complete"] and i["width"] > 0 for i in found["images"])


def test_the_browser_check_catches_a_broken_image(chromium, tmp_path):
    """The check itself works: a missing image and a console error are reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png" alt="x">'
                    "<script>console.error('boom')</script></body></html>")
    found = problems_on_load(chromium, page)
    assert any("boom" in e for e in found["errors"])
    assert found["images"][0]["width"] == 0 and found["failed"]


def test_write_report_returns_the_path(folder, tmp_path):
    from simulation import load_results

    path = write_report(load_results(folder), tmp_path / "sub" / "r.html", years=[2020])
    assert path.exists() and path.stat().st_size > 100_000
