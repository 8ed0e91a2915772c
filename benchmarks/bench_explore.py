"""Benchmark the what-if explorer: the time from a changed lever to updated curves.

    python benchmarks/bench_explore.py [--replicates 5] [--researchers 10000] [--repeats 5] [--no-browser] [--json OUT]

Two measurements at the explorer's default size (5 replicates x 10,000 researchers, the baseline's 2019-2035):

* In the browser (needs the explore extra, Playwright's Python client and Chromium at /usr/bin/chromium):
  ``talentsim explore`` is started, the page opened in headless Chromium and, once the baseline is shown, a lever
  (US visa odds for every origin) is typed in ``--repeats`` times with a new value each time. Timed: from the
  key press that commits the value to the moment the page shows the new run (status updated and the figures
  replaced): everything the analyst waits for.
* In the worker alone (``simulation.explore.Explorer``, no web page): the same requests, timed from the request
  to the answer (runs of the changed scenario, figures and table), split into the model run and the rest, with
  the worker's CPU time, which other busy processes on the machine do not inflate.

The baseline is run once before timing starts (the explorer keeps it while the run size is unchanged), so each
timed change runs the changed scenario only. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
CHROMIUM = "/usr/bin/chromium"
TARGET_SECONDS = 2.0
VALUES = (0.30, 0.45, 0.75, 0.90, 0.35, 0.50, 0.80, 0.40, 0.85, 0.25)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def bench_worker(replicates: int, researchers: int, repeats: int) -> dict:
    import datetime as dt

    from simulation.explore import Explorer, Request, changed_scenario, lever_controls
    from simulation.scenario import load_scenario

    start = load_scenario(BASELINE)
    month = dt.date(2025, 1, 1)
    controls = lever_controls(start, month)
    base = start.to_dict()
    rows = []
    with Explorer() as explorer:
        job = explorer.submit(Request(base, None, seed=start.run.seed, replicates=replicates, researchers=researchers))
        first = explorer.wait(job, timeout=600)
        for i in range(repeats):
            built = changed_scenario(start, controls, {(("visa_odds", "US", "default"), None): VALUES[i % len(VALUES)]},
                                     month)
            began = time.perf_counter()
            job = explorer.submit(Request(base, built.scenario.to_dict(), seed=start.run.seed, replicates=replicates,
                                          researchers=researchers))
            status = explorer.wait(job, timeout=600)
            if status.state != "done":
                raise RuntimeError(status.error)
            rows.append({"seconds": time.perf_counter() - began, **status.answer["timing"]})
    # The same work in this process, one thing after another: its CPU time is what a change costs, whatever
    # else the machine is doing.
    from simulation.explore import answer
    from simulation.runner import run

    base_run = run(start, replicates=replicates, researchers=researchers)
    cpu = []
    for i in range(repeats):
        built = changed_scenario(start, controls, {(("visa_odds", "US", "default"), None): VALUES[i % len(VALUES)]},
                                 month)
        began = time.process_time()
        answer(base_run, run(built.scenario, replicates=replicates, researchers=researchers),
               Request(base, None, seed=start.run.seed, replicates=replicates, researchers=researchers))
        cpu.append(time.process_time() - began)
    return {
        "baseline_first_answer_seconds": first.seconds,
        "change_to_answer_seconds": summary([r["seconds"] for r in rows]),
        "model_run_seconds": summary([r["run_seconds"] for r in rows]),
        "figures_and_table_seconds": summary([r["answer_seconds"] for r in rows]),
        "serial_cpu_seconds": summary(cpu),
        "helpers": rows[0]["helpers"],
        "runs": rows,
    }


def bench_browser(replicates: int, researchers: int, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "simulation.cli", "explore", str(BASELINE), "--port", "0",
                   "--replicates", str(replicates), "--researchers", str(researchers)]
        server = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            address = None
            while address is None:
                line = server.stdout.readline()
                if not line:
                    raise RuntimeError("talentsim explore stopped before printing its address")
                found = re.search(r"Open (http://\S+) in your browser", line)
                address = found.group(1) if found else None
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                began = time.perf_counter()
                page.goto(address)
                job = wait_for_run(page, 0)
                first_page = time.perf_counter() - began
                panel = page.locator(".v-expansion-panel",
                                     has=page.locator(".v-expansion-panel-header", has_text="Visa odds"))
                panel.locator(".v-expansion-panel-header").first.click()
                box = panel.locator(".ts-control", has=page.get_by_text("United States · every other origin",
                                                                        exact=True)).first.get_by_label("value")
                seconds = []
                for i in range(repeats):
                    src = page.get_attribute("#figure-migration", "src")
                    box.fill(f"{VALUES[i % len(VALUES)]}")
                    began = time.perf_counter()
                    box.press("Enter")
                    job = wait_for_run(page, job)
                    page.wait_for_function("src => document.querySelector('#figure-migration').src !== src", arg=src)
                    seconds.append(time.perf_counter() - began)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return {"first_page_with_baseline_seconds": first_page, "change_to_curves_seconds": summary(seconds),
            "seconds": seconds}


def wait_for_run(page, after: int) -> int:
    page.wait_for_function(
        "after => { const s = document.querySelector('#run-status'); "
        "return s && s.dataset.state === 'done' && Number(s.dataset.job) > after; }", arg=after, timeout=600_000)
    return int(page.get_attribute("#run-status", "data-job"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=5, help="replicates per run (default 5, the explorer's)")
    parser.add_argument("--researchers", type=int, default=10_000, help="researchers (default 10,000, the explorer's)")
    parser.add_argument("--repeats", type=int, default=5, help="lever changes timed (default 5)")
    parser.add_argument("--no-browser", action="store_true", help="time the worker only")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min) on {os.cpu_count()} "
          "cores; other busy processes slow the figures down")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    report = {"replicates": args.replicates, "researchers": args.researchers, "commit": commit.strip(),
              "python": platform.python_version(), "load_average_before": load_before}
    report["worker"] = bench_worker(args.replicates, args.researchers, args.repeats)
    w = report["worker"]
    print(f"\nWorker: {args.replicates} replicates x {args.researchers:,} researchers, {args.repeats} lever changes, "
          f"{w['helpers']} helper processes")
    for key, label in (("change_to_answer_seconds", "change to answer"), ("model_run_seconds", "  model runs"),
                       ("figures_and_table_seconds", "  figures and table"),
                       ("serial_cpu_seconds", "CPU time, serially")):
        s = w[key]
        print(f"  {label:<22} median {s['median']:.2f} s  (min {s['min']:.2f}, max {s['max']:.2f})")
    if not args.no_browser:
        if not Path(CHROMIUM).exists():
            print(f"\nBrowser: skipped ({CHROMIUM} is not installed)")
        else:
            report["browser"] = bench_browser(args.replicates, args.researchers, args.repeats)
            b = report["browser"]["change_to_curves_seconds"]
            print("\nBrowser: from the key press that changes a lever to the new curves on the page")
            print(f"  median {b['median']:.2f} s  (min {b['min']:.2f}, max {b['max']:.2f}; target < {TARGET_SECONDS} s)")
            print(f"  first page with the baseline: {report['browser']['first_page_with_baseline_seconds']:.1f} s")
    report["load_average_after"] = os.getloadavg()
    print(f"\nload average after: {report['load_average_after'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
