"""Benchmark sweep throughput: runs per minute on 1 and 2 local worker processes and on a local Dask cluster.

    python benchmarks/bench_sweep.py [--runs 24] [--seconds 1.0] [--repeats 3] [--json OUT] [--strict]

One invocation measures the three ways of sweeping the same experiment, one after the other, so their
ratios come from one run of the benchmark on one machine state:

* ``local x1``: ``sweep(..., workers=1)``, one spawned worker process;
* ``local x2``: ``sweep(..., workers=2)``, two spawned worker processes;
* ``dask x2``: ``sweep(..., scheduler=ADDRESS)`` on a ``distributed.LocalCluster`` of two worker processes
  with one thread each, started before the clock starts (as an existing cluster would be).

Each time is the whole ``sweep()`` call: starting the worker processes (the local pool's) and their imports,
sending the runs, writing every run's files, the index and the final tables. The experiment is the baseline
scenario with ``run.researchers`` chosen so that one run takes about ``--seconds`` on this machine
(measured first, in this process, with the memory allocator set as in the worker processes), one lever with four values, and replicates to make ``--runs`` runs.

Reported: runs per minute of each, the mean time of one run inside the workers, and how many cores other
processes kept busy meanwhile (Linux, with psutil); parallel efficiency = (runs/min at 2 workers) / (2 x runs/min at 1 worker);
Dask overhead = (Dask time) / (local x2 time) - 1. Targets: efficiency at least 85%, Dask overhead under 10%.
It also checks that the three sweeps gave identical outcomes and curves. With ``--repeats N`` the three kinds
are swept N times, interleaved, and the fastest sweep of each kind is reported (the one least disturbed by
other work). Run it on an otherwise idle machine: it prints the load average first, and other busy
processes slow the parallel sweeps most.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one thread per worker process; inherited by spawned workers

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TARGET_EFFICIENCY = 0.85
TARGET_DASK_OVERHEAD = 0.10
LEVER_VALUES = (0.45, 0.6, 0.75, 0.9)


def calibrate(seconds: float, end: str) -> tuple[int, float]:
    """Return researchers for a run of about ``seconds`` of the baseline to ``end``, and the measured time."""
    from simulation import load_scenario, run
    from simulation.executors import tune_allocator

    tune_allocator()  # as in the worker processes, so a run there takes about ``seconds`` too
    base = load_scenario(BASELINE)

    def timed(researchers: int) -> float:
        scenario = base.with_run(researchers=researchers, end=end)
        started = time.perf_counter()
        run(scenario, replicates=1)
        return time.perf_counter() - started

    timed(2000)  # imports and caches
    researchers = 20_000
    for _ in range(3):
        took = timed(researchers)
        researchers = max(1000, int(round(researchers * seconds / took, -3)))
    return researchers, timed(researchers)


def write_experiment(folder: Path, researchers: int, end: str, runs: int) -> Path:
    replicates = max(1, runs // len(LEVER_VALUES))
    text = f"""
name: bench_sweep
scenario: {BASELINE}
run: {{researchers: {researchers}, end: {end}}}
seed: 1
replicates: {replicates}
levers:
  us_visa:
    from: 2025-04
    path: levers.visa_odds.US.default
    values: {list(LEVER_VALUES)}
outcomes:
  us_share: {{kind: share, region: US, tier: top_tier, year: 2030}}
  china_retention: {{kind: retention, origin: China, year: 2030}}
  net_us_china: {{kind: net_flow, from: US, to: China, between: [2025, 2030]}}
curves:
  location: {{kind: migration, tier: top_tier}}
"""
    path = folder / "bench_sweep.yaml"
    path.write_text(text)
    return path


class CpuMeter:
    """CPU seconds used by this process and its descendants, and by the whole machine (Linux, with psutil)."""

    def __init__(self):
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with the dask extra
            psutil = None
        self.psutil = psutil if Path("/proc/stat").exists() else None

    def read(self) -> tuple[float, float] | None:
        """Return (CPU seconds of this process tree, busy CPU seconds of the machine), or None."""
        if self.psutil is None:
            return None
        import resource

        mine = 0.0
        me = self.psutil.Process()
        for process in [me, *me.children(recursive=True)]:
            try:
                times = process.cpu_times()
                mine += times.user + times.system
            except self.psutil.Error:
                pass
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers that ended, e.g. a closed pool's
        mine += reaped.ru_utime + reaped.ru_stime
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        return mine, busy


METER = CpuMeter()


def timed_sweep(experiment: Path, out: Path, **where) -> dict:
    from simulation import read_experiment, sweep

    before = METER.read()
    started = time.perf_counter()
    summary = sweep(experiment, out, progress=False, **where)
    wall = time.perf_counter() - started
    after = METER.read()
    others = None
    if before and after:  # cores kept busy by other processes on the machine while this sweep ran
        others = max(0.0, ((after[1] - before[1]) - (after[0] - before[0])) / wall)
    if not summary.ok:
        raise SystemExit(f"the sweep in {out} did not finish every run:\n{summary.format()}")
    results = read_experiment(out)
    return {
        "wall_s": wall,
        "runs": summary.done,
        "runs_per_min": summary.done / wall * 60,
        "mean_run_s": float(results.runs.wall_time_s.mean()),
        "other_cores": others,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24, help="runs per sweep (default 24)")
    parser.add_argument("--seconds", type=float, default=1.0, help="target seconds per run (default 1.0)")
    parser.add_argument("--end", default="2035-01", help="run.end of every run (default 2035-01)")
    parser.add_argument("--repeats", type=int, default=1, help="sweeps of each kind, interleaved; the fastest is reported")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args(argv)

    import logging

    import distributed

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {cores} cores; Python {platform.python_version()}")
    researchers, one_run = calibrate(args.seconds, args.end)
    print(f"run: baseline, {researchers:,} researchers to {args.end}: {one_run:.2f} s in this process")

    report: dict = {"researchers": researchers, "run_s_in_process": one_run, "cores": cores, "load": list(load),
                    "python": platform.python_version(), "modes": {}}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        folder = Path(tmp)
        experiment = write_experiment(folder, researchers, args.end, args.runs)
        results = {}
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster:
            modes = {
                "local x1": {"workers": 1},
                "local x2": {"workers": 2},
                "dask x2": {"scheduler": cluster.scheduler_address},
            }
            measured: dict[str, list[dict]] = {name: [] for name in modes}
            for i in range(args.repeats):  # interleaved, so a busy spell on the machine hits every kind alike
                for name, where in modes.items():
                    measured[name].append(timed_sweep(experiment, folder / f"{name.replace(' ', '_')}_{i}", **where))
            for name, repeats in measured.items():
                best = min(repeats, key=lambda m: m["wall_s"])
                results[name] = best["results"]
                report["modes"][name] = {key: best[key] for key in ("wall_s", "runs", "runs_per_min", "mean_run_s",
                                                                    "other_cores")}
                report["modes"][name]["all_wall_s"] = [m["wall_s"] for m in repeats]

    modes = report["modes"]
    print(f"\n{'sweep':<10} {'runs':>5} {'wall s':>8} {'runs/min':>9} {'mean run s':>11} {'other load':>11}")
    for name, m in modes.items():
        other = "-" if m["other_cores"] is None else f"{m['other_cores']:.2f} cores"
        print(f"{name:<10} {m['runs']:>5} {m['wall_s']:>8.2f} {m['runs_per_min']:>9.1f} {m['mean_run_s']:>11.2f} {other:>11}")
    print("(other load: cores kept busy by other processes on the machine during the sweep; near 0 on an idle machine)")
    efficiency = modes["local x2"]["runs_per_min"] / (2 * modes["local x1"]["runs_per_min"])
    overhead = modes["dask x2"]["wall_s"] / modes["local x2"]["wall_s"] - 1
    identical = all(
        results["local x1"].outcomes.equals(r.outcomes) and results["local x1"].curves.equals(r.curves)
        for r in results.values()
    )
    report.update(parallel_efficiency=efficiency, dask_overhead=overhead, identical_results=identical)
    ok_efficiency = efficiency >= TARGET_EFFICIENCY
    ok_overhead = overhead < TARGET_DASK_OVERHEAD
    print(f"\nparallel efficiency at 2 workers: {efficiency:.1%} (target >= {TARGET_EFFICIENCY:.0%}) "
          f"{'ok' if ok_efficiency else 'MISSED'}")
    print(f"Dask overhead vs the local pool: {overhead:+.1%} (target < {TARGET_DASK_OVERHEAD:.0%}) "
          f"{'ok' if ok_overhead else 'MISSED'}")
    print(f"identical outcomes and curves across the three sweeps: {'yes' if identical else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if args.strict and not (ok_efficiency and ok_overhead and identical) else 0


if __name__ == "__main__":
    sys.exit(main())
