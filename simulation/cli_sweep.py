"""The ``sweep`` command: run an experiment on local processes or a Dask cluster, resumable, and say how it went.

Exit codes beyond the common ones: 3 when some runs failed (listed; ``--resume`` retries them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_options import BadInput, worker_count
from .failures import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK

__all__ = ["EXIT_RUNS_FAILED", "add_sweep", "cmd_sweep"]

EXIT_RUNS_FAILED = 3


def add_sweep(commands) -> None:
    """Add ``talentsim sweep``: run every run of an experiment file."""
    p = commands.add_parser(
        "sweep", help="run an experiment: policy levers x uncertainties x replicates, on local cores or a Dask cluster",
        description="Run every run of an experiment file (experiments/*.yaml) and store its outcomes and curves in "
        "a results folder that survives interruption: stop it at any time (Ctrl-C, or even kill -9) and run the "
        "same command with --resume to finish. Runs go to local worker processes (all cores) by default, or to a "
        "Dask cluster given its scheduler address. Read the results with simulation.read_experiment(FOLDER).",
        epilog="Exit codes: 0 every run finished, 3 some runs failed (listed; --resume retries them), "
        "2 bad input, 1 internal error, 130 interrupted.",
    )
    p.add_argument("experiment", type=Path, help="experiment YAML file, e.g. experiments/bonus_vs_state_funding.yaml")
    p.add_argument("--out", type=Path, metavar="DIR", help="results folder (default: results/EXPERIMENT_NAME)")
    p.add_argument("--workers", type=worker_count, metavar="N", help="local worker processes (default: every core; 0 = run in "
                   "this process); with --cluster local, the local Dask workers")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster whose scheduler is at ADDRESS, "
                       "e.g. tcp://10.0.0.5:8786 (needs the dask extra)")
    where.add_argument("--cluster", choices=("local",), help="start a Dask cluster on this machine for the sweep")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out: keep finished runs, run "
                   "missing and failed ones")
    p.add_argument("--dry-run", action="store_true", help="check the experiment and show its runs without running them")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table of outcomes")
    p.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from .executors import MissingExtra, SweepInterrupted, WorkerStartError, sweep
    from .experiment import lever_arms, load_experiment, uncertainty_samples
    from .outputs import folder_for
    from .resources import check_memory
    from .store import SweepError, read_experiment

    if args.scheduler and args.workers is not None:
        raise BadInput("--workers applies to local processes and --cluster local; the workers of a cluster are set "
                       "when they are started: dask worker ADDRESS --nworkers N --nthreads 1")
    experiment = load_experiment(args.experiment)
    d = experiment.definition
    plan = experiment.runs()
    if args.dry_run:
        arms, samples = lever_arms(d), uncertainty_samples(d)
        print(f"ok: {args.experiment}: experiment '{d.name}' on scenario '{experiment.base.name}': {len(plan)} runs = "
              f"{len(arms)} lever arm(s) x {len(samples)} uncertainty sample(s) ({d.sampling.method if d.uncertainties else 'none'}) "
              f"x {d.replicates} replicate(s); {experiment.base.run.researchers:,} researchers, "
              f"{experiment.base.run.start:%Y-%m} to {experiment.base.run.end:%Y-%m}")
        for name, lever in d.levers.items():
            print(f"  lever {name}: {', '.join(map(str, lever.values))}")
        for name, uncertainty in d.uncertainties.items():
            print(f"  uncertainty {name}: {uncertainty.describe()}")
        print(f"  outcomes: {', '.join(d.outcomes)}" + (f"; curves: {', '.join(d.curves)}" if d.curves else ""))
        return EXIT_OK
    out = args.out or folder_for("results", d.name)
    if not args.resume:
        check_memory(experiment.base, option=f"{args.experiment}: run.researchers", copies=_sweep_copies(args))
    try:
        summary = sweep(experiment, out, workers=args.workers, scheduler=args.scheduler, cluster=args.cluster,
                        resume=args.resume, progress=not args.quiet)
    except (SweepError, MissingExtra, ConnectionError) as exc:
        raise BadInput(str(exc)) from None
    except WorkerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except SweepInterrupted as stop:
        print("\n" + stop.summary.format(_resume_command(args, out)), file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet and summary.done + summary.skipped:
        from .sweep_results import format_outcomes_by_arm

        print(format_outcomes_by_arm(read_experiment(out)) + "\n")
    print(summary.format(_resume_command(args, out)))
    return EXIT_OK if summary.ok else EXIT_RUNS_FAILED


def _sweep_copies(args: argparse.Namespace) -> int:
    """Return how many runs of a sweep share this machine's memory at once."""
    if args.scheduler:
        return 0  # the runs happen on the cluster's machines
    if args.workers == 0:
        return 1
    from .executors import default_workers

    return args.workers or default_workers()


def _resume_command(args: argparse.Namespace, out: Path) -> str:
    where = f" --scheduler {args.scheduler}" if args.scheduler else (f" --cluster {args.cluster}" if args.cluster else "")
    workers = f" --workers {args.workers}" if args.workers is not None else ""
    return f"talentsim sweep {args.experiment} --out {out}{workers}{where} --resume"
