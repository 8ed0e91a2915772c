"""Benchmark the analysis of a large sweep: how long 'talentsim analyze' and the sweep report take at 10,000 runs.

    python benchmarks/bench_analysis.py [--base-samples 512] [--arms 4] [--repeats 3] [--json OUT]

The sweep is synthetic, so that its size does not depend on how long the model takes: a real experiment
definition (``--arms`` lever arms crossed with a Saltelli design of three uncertainties, ``--base-samples`` base
samples: arms x base samples x 5 runs; 4 x 512 x 5 = 10,240 by default), expanded by
``simulation.experiment.expand`` and stored through ``ExperimentStore`` as a finished sweep: experiment.json,
index.parquet, outcomes.parquet with three outcomes (Ishigami's function, its sum with the lever, a
threshold-like step), and a curve table of every run x 4 regions x 49 quarterly steps (about 2 million rows).
Only building the folder is not timed.

Timed, each in this process after the imports, the best of ``--repeats``:

* ``read``: ``read_experiment(folder)`` (the Parquet tables and experiment.json);
* ``tables``: ``analyze(...)``: Sobol indices of 3 outcomes for every arm (SALib, 200 bootstrap resamples),
  variance shares, robustness and regret per arm, PRIM over the lever and the three uncertainties;
* ``figures``: drawing and writing every figure of the analysis as PNG at 300 dpi, and the Parquet tables
  (``Analysis.save``);
* ``report``: the self-contained HTML report (figures at 200 dpi);
* ``command``: the whole ``talentsim analyze FOLDER`` in a fresh process, imports included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic sweep the tests use


def build(folder: Path, base_samples: int, arms: int) -> int:
    """Write the synthetic sweep into ``folder``; return its number of runs."""
    import numpy as np
    import pandas as pd

    from synthetic import outcome, synthetic_sweep

    def model(spec):
        x1, x2, x3 = (spec.uncertainties[k] for k in ("x1", "x2", "x3"))
        y = float(np.sin(x1) + 7 * np.sin(x2) ** 2 + 0.1 * x3**4 * np.sin(x1))
        return {"ishigami": y, "shifted": y + spec.levers["effort"], "step": float(x1 > 1 and x2 < 0)}

    def curves(plan):
        runs = len(plan)
        steps = np.arange(49)
        regions = ["US", "China", "Europe", "RoW"]
        ids = np.repeat([s.run_id for s in plan], len(steps) * len(regions))
        rng = np.random.default_rng(0)
        share = rng.dirichlet([6, 3, 2, 2], size=runs * len(steps)).reshape(-1)
        return pd.DataFrame({
            "run_id": ids, "curve": "top_tier_location",
            "step": np.tile(np.repeat(steps, len(regions)), runs),
            "year": np.tile(np.repeat(2019 + steps / 4, len(regions)), runs),
            "region": np.tile(regions, runs * len(steps)), "origin": None, "value": share,
        })

    uncertainties = {k: {"path": "preferences.default.pay.mean", "range": [-3.14159, 3.14159]} for k in ("x1", "x2", "x3")}
    definition = {
        "seed": 1, "levers": {"effort": {"path": "levers.visa_odds.US.default", "values": list(range(arms))}},
        "uncertainties": uncertainties, "sampling": {"method": "saltelli", "samples": base_samples},
        "outcomes": {"ishigami": outcome("Ishigami function"), "shifted": outcome("Ishigami plus effort"),
                     "step": outcome("Step")},
        "curves": {"top_tier_location": {"kind": "migration"}},
        "analysis": {"outcome": "shifted", "above": 5.0},
    }
    synthetic_sweep(folder, definition, model, curves=curves)
    return arms * base_samples * 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-samples", type=int, default=512)
    parser.add_argument("--arms", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from simulation.analysis import analyze
    from simulation.store import read_experiment
    from simulation.sweep_report import write_sweep_report

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work slows the figures)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sweep"
        folder.mkdir()
        started = time.perf_counter()
        runs = build(folder, args.base_samples, args.arms)
        print(f"built a synthetic sweep of {runs:,} runs in {time.perf_counter() - started:.1f} s (not timed)")
        times: dict[str, list[float]] = {k: [] for k in ("read", "tables", "figures", "report", "command")}
        for _ in range(args.repeats):
            t = time.perf_counter()
            results = read_experiment(folder)
            times["read"].append(time.perf_counter() - t)
            t = time.perf_counter()
            analysis = analyze(results)
            times["tables"].append(time.perf_counter() - t)
            t = time.perf_counter()
            analysis.save(Path(tmp) / "analysis")
            times["figures"].append(time.perf_counter() - t)
            t = time.perf_counter()
            write_sweep_report(analysis, Path(tmp) / "report.html", folder=folder)
            times["report"].append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "simulation.cli", "analyze", str(folder), "--quiet", "--out",
                            str(Path(tmp) / "command")], check=True, capture_output=True)
            times["command"].append(time.perf_counter() - t)
        assert len(results.outcomes) == runs
    best = {k: min(v) for k, v in times.items()}
    print(f"\nAnalysis of {runs:,} runs ({args.arms} arms x Saltelli design of {args.base_samples} base samples x 3 "
          f"uncertainties), best of {args.repeats}:")
    print("| step | seconds |\n|---|---|")
    for name, value in best.items():
        print(f"| {name} | {value:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "seconds": best, "all": times, "python": platform.python_version(),
                                         "machine": platform.machine(), "cores": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
