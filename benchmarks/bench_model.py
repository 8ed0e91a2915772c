"""Benchmark talentsim: researcher-steps per second and peak memory, and the column vs agent-by-agent ratio.

    python benchmarks/bench_model.py [--sizes 10k,100k,1M] [--steps 64] [--choice-sizes 10k,100k] [--json OUT]

Two measurements, each size in a fresh Python process pinned to one core (with OpenMP/BLAS threads set
to 1), so peak resident memory is that size's own:

* Whole model: the baseline scenario with ``run.researchers`` set to each size and ``run.end`` set so the
  run has exactly ``--steps`` steps; model construction and the steps (all eight phases) are timed apart.
  Researcher-steps count the researchers alive at the start of each step (the population grows as
  graduates enter), so researcher-steps/s is the work done per second.
* Choice step: after a few warm-up steps, the same step's researcher search and choice (phases 4 and 5) are
  timed on the ``TalentModel`` (column operations: ``model.search.step`` and ``ChoiceSets.choose``) and on
  ``benchmarks/agent_by_agent.py`` (one ``mesa.Agent`` per researcher, ``AgentSet.shuffle_do("step")``) for
  the same researchers; the ratio is column speed over agent speed. The employers' phase before it
  (``open_posts_and_make_offers``) is the same code in both versions; it is timed apart and also reported added
  to both sides. Both versions are checked to give the same feasibility and utilities of the same alternatives
  and the same choice shares within sampling error.

See benchmarks/README.md for the targets.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
PHASES = (
    "apply_policy_schedule", "enter_and_exit", "open_posts_and_make_offers", "search", "score_choice_sets", "utility",
    "choose_and_match", "choose", "match", "update", "observe",
)  # fmt: skip
SUBPHASES = {"score_choice_sets", "utility", "choose", "match"}  # timed inside search, or inside choose_and_match

# The two versions compute the same step when feasibility agrees, utilities agree to rounding and choice shares
# agree within sampling error (agent_by_agent.MAX_UTILITY_GAP, agent_by_agent.MAX_Z).

# Targets on one core (the project's issue 2, item 7).
TARGET_SIZE = 1_000_000
TARGET_SECONDS = 20.0
TARGET_PEAK_MB = 1024
TARGET_RATIO = 20.0


def parse_size(text: str) -> int:
    """Return a researcher count from ``10000``, ``10k``, ``1.5M`` or ``1_000_000``."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a researcher count: {text!r} (e.g. 10000, 10k, 1M)")
    value = float(match.group(1).replace("_", "")) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    return int(round(value))


def parse_sizes(text: str) -> list[int]:
    """Return the researcher counts of a comma-separated list (empty: none)."""
    return [parse_size(part) for part in text.split(",") if part.strip()]


def peak_rss_mb() -> float:
    """Return this process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------------------------
# Measurements, each run in its own child process


def scenario_for(path: str, researchers: int, steps: int):
    """Return the scenario at ``path`` with ``researchers`` and an end date giving exactly ``steps`` steps."""
    from simulation import load_scenario
    from simulation.model import add_months

    scenario = load_scenario(path)
    end = add_months(scenario.run.start, steps * scenario.run.step_months)
    scenario = scenario.with_run(researchers=researchers, end=f"{end:%Y-%m}", replicates=1)
    if scenario.run.steps != steps:
        raise SystemExit(f"expected {steps} steps, the scenario has {scenario.run.steps}")
    return scenario


def time_phases(model) -> dict[str, float]:
    """Wrap the model's phases so each call adds its wall time to the returned dict (seconds).

    The model's phase methods; the search (``model.search.step``) and, inside it, the scoring of the choice sets
    and the utility of targeted offers (functions ``simulation.search`` calls); inside ``choose_and_match``, the
    logit choice of every round (``ChoiceSets.choose``) and matching (``simulation.model.match``).
    """
    import simulation.model
    import simulation.search
    from simulation.choice import ChoiceSets

    owners = {
        "search": (model.search, "step"),
        "score_choice_sets": (simulation.search, "score_choice_sets"),
        "utility": (simulation.search, "general_utility"),
        "choose": (ChoiceSets, "choose"),
        "match": (simulation.model, "match"),
    }
    spent = dict.fromkeys(PHASES, 0.0)

    def timed(name, method):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for name in PHASES:
        owner, attribute = owners.get(name, (model, name))
        setattr(owner, attribute, timed(name, getattr(owner, attribute)))
    return spent


def measure_model(scenario_path: str, researchers: int, steps: int) -> dict:
    """Return build and step times, researcher-steps and peak memory of one run."""
    import numpy as np

    from simulation.model import TalentModel

    rss_imported = peak_rss_mb()
    scenario = scenario_for(scenario_path, researchers, steps)
    started = time.perf_counter()
    model = TalentModel(scenario)
    built = time.perf_counter()
    phases = time_phases(model)
    researcher_steps = 0
    cpu_started = time.process_time()
    while model.running:
        researcher_steps += len(model.population)
        model.step()
    cpu = time.process_time() - cpu_started
    finished = time.perf_counter()
    wall = finished - built
    return {
        "researchers": researchers,
        "steps": model.step_count,
        "build_seconds": built - started,
        "step_seconds": wall,
        "step_cpu_seconds": cpu,
        "researcher_steps": researcher_steps,
        "researcher_steps_per_second": researcher_steps / wall,
        "nominal_researcher_steps_per_second": researchers * steps / wall,
        "final_population": len(model.population),
        "population_mib": model.population.nbytes / 2**20,
        "peak_rss_mib": peak_rss_mb(),
        "rss_after_imports_mib": rss_imported,
        "phase_seconds": phases,
        "stocks_total": int(np.asarray(model.recorder.stocks).sum()),  # changes when the model's behaviour does
    }


def measure_choice(scenario_path: str, researchers: int, warmup: int, repeats: int) -> dict:
    """Return the time of one choice step done by the column code and by the agent-by-agent model."""
    import agent_by_agent as abm

    scenario = scenario_for(scenario_path, researchers, warmup + 1)
    # The state the choice step sees: this step's levers, entrants and exits applied.
    state = abm.choice_state(scenario, warmup)
    n = len(state.population)

    # The employers' phase changes the employers (posts, targeted-offer budgets) and advances random streams, so
    # every run of the step, column or agent, starts from its own copy of this state.
    talent = copy.deepcopy(state)
    started = time.perf_counter()
    agents = abm.AgentChoiceModel(talent, seed=scenario.run.seed + 1)
    agent_build = time.perf_counter() - started

    targeted, choices, chosen, searching = abm.column_choice_step(talent)
    column_counts = abm.column_outcomes(talent, choices, chosen, searching)  # every column run draws the same numbers
    agents.read_market()
    check = abm.check_alternatives(talent, agents, choices, targeted)

    # Column and agent runs alternate, so both see the same load on the machine. Each timed run follows an
    # untimed one of the same version, so code and data are warm; the first round is a warm-up too. The
    # employers' phase (open_posts_and_make_offers) is the same code in both versions: it runs before each
    # choice step, timed apart.
    column_times, agent_times, employer_times = [], [], []
    agent_counts = dict.fromkeys(abm.OUTCOMES, 0)
    for repeat in range(repeats + 1):
        gc.collect()
        for _ in range(2):
            talent = copy.deepcopy(state)
            started = time.perf_counter()
            targeted = talent.open_posts_and_make_offers()
            posted, cpu_started = time.perf_counter(), time.process_time()
            talent.search.step(targeted).choose()
            column_time = time.perf_counter() - posted, time.process_time() - cpu_started
            employer_time = posted - started
        for _ in range(2):
            agents.talent = copy.deepcopy(state)
            agents.targeted = agents.talent.open_posts_and_make_offers()
            started, cpu_started = time.perf_counter(), time.process_time()
            agents.step()
            agent_time = time.perf_counter() - started, time.process_time() - cpu_started
            for key, value in abm.agent_outcomes(agents).items():
                agent_counts[key] += value
        if repeat:
            column_times.append(column_time)
            agent_times.append(agent_time)
            employer_times.append(employer_time)

    outcomes = abm.compare_outcomes(column_counts, agent_counts)
    column = statistics.median(t for t, _ in column_times)
    agent = statistics.median(t for t, _ in agent_times)
    column_cpu = statistics.median(t for _, t in column_times)
    agent_cpu = statistics.median(t for _, t in agent_times)
    employers = statistics.median(employer_times)
    return {
        "researchers": n,
        "requested_researchers": researchers,
        "warmup_steps": warmup,
        "repeats": repeats,
        "deciders": len(choices),
        "targeted_offers": len(targeted),
        "alternatives": len(choices.alternatives()),
        "column_seconds": column,
        "agent_seconds": agent,
        "column_cpu_seconds": column_cpu,
        "agent_cpu_seconds": agent_cpu,
        "column_researcher_steps_per_second": n / column,
        "agent_researcher_steps_per_second": n / agent,
        "ratio": agent / column,
        "cpu_ratio": agent_cpu / column_cpu,
        "employer_phase_seconds": employers,
        "ratio_with_employer_phase": (agent + employers) / (column + employers),
        "agent_build_seconds": agent_build,
        "max_utility_gap": check["max_gap"],
        "alternatives_checked": check["alternatives"],
        "feasibility_mismatches": check["feasibility_mismatches"],
        "outcomes": outcomes,
        "same_step": check["max_gap"] < abm.MAX_UTILITY_GAP and check["feasibility_mismatches"] == 0
        and all(abs(v["z"]) < abm.MAX_Z for v in outcomes.values()),
        "peak_rss_mib": peak_rss_mb(),
    }


def child(spec: dict) -> None:
    """Run one measurement in this process (pinned to one core) and print its result as JSON."""
    os.sched_setaffinity(0, {spec["cpu"]})
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if spec["kind"] == "model":
        result = measure_model(spec["scenario"], spec["researchers"], spec["steps"])
    else:
        result = measure_choice(spec["scenario"], spec["researchers"], spec["warmup"], spec["repeats"])
    print("RESULT " + json.dumps(result))


def in_child_process(spec: dict) -> dict:
    """Return the result of ``spec`` measured in a fresh Python process."""
    env = dict(os.environ, **dict.fromkeys(THREAD_VARIABLES, "1"))
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"measurement {spec} failed with exit code {done.returncode}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(lines[-1][len("RESULT "):])


# ------------------------------------------------------------------------------------------------------------
# Report


def environment(cpu: int) -> dict:
    """Return what the figures depend on: machine, interpreter and package versions."""
    from importlib import metadata

    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("talentsim", "numpy", "mesa"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "commit": commit,
        "cpu": cpu,
        "cpu_model": cpu_model,
        "cores_available": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def table(header: list[str], rows: list[list[str]]) -> str:
    """Return rows of text cells as right-aligned columns under ``header``."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in [header, *rows])


def print_report(report: dict) -> None:
    """Print the measurements as tables, then the targets."""
    env = report["environment"]
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items())
    print(f"talentsim benchmark: {report['scenario']}, {report['steps']} steps; one core (cpu {env['cpu']} of "
          f"{env['cores_available']}, {env['cpu_model']})")
    print(f"Python {env['python']}, {packages}, commit {env['commit']}")
    load = env["load_average_before"][0]
    print(f"load average before the run: {load:.2f}"
          + (" -- other processes are busy; wall times may be slow and noisy" if load > 0.5 else ""))

    if report["model"]:
        steps = report["steps"]
        print(f"\nWhole model, {steps} steps (all eight phases), one fresh process per size")
        rows = [
            [
                f"{row['researchers']:,}", f"{row['build_seconds']:.2f}", f"{row['step_seconds']:.2f}",
                f"{row['step_cpu_seconds']:.2f}", f"{row['final_population']:,}",
                f"{row['researcher_steps_per_second'] / 1e6:.2f}M",
                f"{row['nominal_researcher_steps_per_second'] / 1e6:.2f}M", f"{row['peak_rss_mib']:.0f}",
            ]
            for row in report["model"]
        ]
        header = ["researchers", "build s", f"{steps} steps s", "CPU s", "final pop.", "researcher-steps/s",
                  "nominal rs/s", "peak RSS MB"]  # fmt: skip
        print(table(header, rows))
        print("  researcher-steps/s counts the researchers alive at each step (graduates enter, so the population "
              "grows);\n  nominal rs/s = researchers at the start x steps / seconds. "
              f"Peak RSS includes the interpreter and imports ({report['model'][0]['rss_after_imports_mib']:.0f} MB).")
        if len(report["model"][0]["all_step_seconds"]) > 1:
            print(f"  median of {len(report['model'][0]['all_step_seconds'])} runs per size; seconds of every run: "
                  + "; ".join(", ".join(f"{t:.2f}" for t in row["all_step_seconds"]) for row in report["model"]))
        busy = max(row["step_seconds"] / row["step_cpu_seconds"] for row in report["model"])
        if busy > 1.1:
            print(f"  wall time up to {busy - 1:.0%} above CPU time: other processes shared the core.")
        if report.get("show_phases"):
            largest = report["model"][-1]
            print(f"\n  Phases at {largest['researchers']:,} researchers (seconds over the run; score_choice_sets "
                  "and utility, for targeted offers,\n  are part of search; choose and match are part of choose_and_match)")
            for name, seconds in largest["phase_seconds"].items():
                share = seconds / largest["step_seconds"]
                print(f"  {'  ' if name in SUBPHASES else ''}{name:<24}{seconds:>8.2f}  {share:>6.1%}")

    if report["choice"]:
        print("\nChoice step (search + choose): column code vs agent by agent (a mesa.Agent per researcher, "
              "AgentSet.shuffle_do)")
        rows = [
            [
                f"{row['researchers']:,}", f"{row['column_seconds'] * 1e3:.2f}", f"{row['agent_seconds'] * 1e3:.1f}",
                f"{row['column_researcher_steps_per_second'] / 1e6:.2f}M",
                f"{row['agent_researcher_steps_per_second'] / 1e6:.2f}M", f"{row['ratio']:.1f}x",
                f"{row['cpu_ratio']:.1f}x", f"{row['employer_phase_seconds'] * 1e3:.2f}",
                f"{row['ratio_with_employer_phase']:.1f}x", f"{row['agent_build_seconds']:.2f}",
            ]
            for row in report["choice"]
        ]
        header = ["researchers", "column ms", "agent ms", "column rs/s", "agent rs/s", "ratio", "CPU-time ratio",
                  "employers ms", "ratio with employers", "agent build s"]  # fmt: skip
        print(table(header, rows))
        for row in report["choice"]:
            shares = "; ".join(
                f"{key} {v['column_share']:.2%} vs {v['agent_share']:.2%} (z {v['z']:+.1f})"
                for key, v in row["outcomes"].items()
            )
            verdict = "same step" if row["same_step"] else "VERSIONS DIFFER (update agent_by_agent.py to the model)"
            print(f"  {verdict} at {row['researchers']:,} ({row['deciders']:,} deciding, {row['targeted_offers']:,} "
                  f"targeted offers): utility gap {row['max_utility_gap']:.1e}, feasibility disagreements "
                  f"{row['feasibility_mismatches']} of {row['alternatives_checked']:,}; {shares}")
        first = report["choice"][0]
        print(
            f"  both start from the same state (after {first['warmup_steps']} steps), each run from a fresh copy; "
            f"column and agent runs alternate;\n  median of {first['repeats']} timed runs each, each after an "
            "untimed one; ratio = agent time / column time\n  (wall clock; the CPU-time ratio uses process CPU "
            "time, which other processes on the core do not inflate).\n  The employers' phase before the choice "
            "step (open_posts_and_make_offers) is the same code in both versions and is timed apart;\n  'ratio with "
            "employers' adds it to both sides."
        )

    print("\nTargets (one core)")
    for target in report["targets"]:
        print(f"  {'met   ' if target['met'] else 'MISSED'}  {target['name']}: {target['measured']}")


def targets(report: dict) -> list[dict]:
    """Return the targets that this report's sizes can check, with the measured value and whether it is met."""
    out = []
    for row in report["model"]:
        if row["researchers"] == TARGET_SIZE and report["steps"] == 64:
            out.append({
                "name": f"{TARGET_SIZE:,} researchers x 64 steps within {TARGET_SECONDS:.0f} s",
                "measured": f"{row['step_seconds']:.1f} s (+ {row['build_seconds']:.1f} s to build)",
                "met": row["step_seconds"] <= TARGET_SECONDS,
            })
            out.append({
                "name": f"peak memory within {TARGET_PEAK_MB / 1024:.0f} GB at {TARGET_SIZE:,}",
                "measured": f"{row['peak_rss_mib']:.0f} MB",
                "met": row["peak_rss_mib"] <= TARGET_PEAK_MB,
            })
    if report["choice"]:
        worst = min(row["ratio"] for row in report["choice"])
        out.append({
            "name": f"choice step at least {TARGET_RATIO:.0f}x faster than agent by agent",
            "measured": ", ".join(f"{row['ratio']:.1f}x at {row['researchers']:,}" for row in report["choice"]),
            "met": worst >= TARGET_RATIO,
        })
        out.append({
            "name": "agent version computes the column choice step (utilities, choice shares)",
            "measured": ", ".join(
                f"{'same' if row['same_step'] else 'differs'} at {row['researchers']:,}" for row in report["choice"]
            ),
            "met": all(row["same_step"] for row in report["choice"]),
        })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark talentsim: researcher-steps/s, peak memory, and the ratio against an "
        "agent-by-agent Mesa version of the choice step.",
    )
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("10k,100k,1M"),
                        help="researcher counts of whole-model runs (default: 10k,100k,1M)")
    parser.add_argument("--steps", type=int, default=64, help="steps per whole-model run (default: 64)")
    parser.add_argument("--choice-sizes", type=parse_sizes, default=parse_sizes("10k,100k"),
                        help="researcher counts of the column vs agent comparison (default: 10k,100k; '' skips it)")
    parser.add_argument("--model-repeats", type=int, default=1,
                        help="whole-model runs per size, each in a fresh process; the median is reported (default: 1)")
    parser.add_argument("--repeats", type=int, default=5, help="choice-step repeats; the median is reported")
    parser.add_argument("--warmup", type=int, default=4, help="steps run before the choice step is timed")
    parser.add_argument("--scenario", default=str(BASELINE), help="scenario file (default: scenarios/baseline.yaml)")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the first allowed)")
    parser.add_argument("--phases", action="store_true", help="print the time of each phase at the largest size")
    parser.add_argument("--json", metavar="OUT", help="also write the measurements to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child(json.loads(args.child))
        return 0
    if min(args.steps, args.repeats, args.model_repeats) < 1 or args.warmup < 0:
        parser.error("--steps, --repeats and --model-repeats must be at least 1, --warmup at least 0")

    cpu = min(os.sched_getaffinity(0)) if args.cpu is None else args.cpu
    scenario = str(Path(args.scenario).resolve())
    load_before = os.getloadavg()
    model_rows = []
    for n in args.sizes:
        runs = []
        for k in range(args.model_repeats):
            print(f"whole model, {n:,} researchers, run {k + 1} of {args.model_repeats} ...", file=sys.stderr,
                  flush=True)
            runs.append(in_child_process(
                {"kind": "model", "scenario": scenario, "researchers": n, "steps": args.steps, "cpu": cpu}
            ))
        runs.sort(key=lambda run: run["step_seconds"])
        row = runs[(len(runs) - 1) // 2]  # the median run (the faster of the middle two)
        row["all_step_seconds"] = [run["step_seconds"] for run in runs]
        row["peak_rss_mib"] = max(run["peak_rss_mib"] for run in runs)
        model_rows.append(row)
    choice_rows = []
    for n in args.choice_sizes:
        print(f"choice step, {n:,} researchers ...", file=sys.stderr, flush=True)
        choice_rows.append(in_child_process(
            {"kind": "choice", "scenario": scenario, "researchers": n, "warmup": args.warmup,
             "repeats": args.repeats, "cpu": cpu}
        ))

    report = {
        "scenario": os.path.relpath(scenario, ROOT) if scenario.startswith(str(ROOT)) else scenario,
        "steps": args.steps,
        "environment": {**environment(cpu), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "model": model_rows,
        "choice": choice_rows,
        "show_phases": args.phases,
    }
    report["targets"] = targets(report)
    print_report(report)
    if args.json:
        report.pop("show_phases")
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    missed = [t for t in report["targets"] if not t["met"]]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
