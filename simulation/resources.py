"""Memory a run needs, estimated before it starts, against what this machine can give.

A run too large for memory is refused with a message naming the setting to lower, rather than failing after
minutes (or taking the machine down with it). The estimate is deliberately generous: measured peaks are
about 170 bytes per researcher alive plus a fixed 170 MB for the interpreter and libraries (baseline scenario,
Python 3.11); the estimate allows three times the per-researcher figure for the arrays of a step's offers and
choices, and for the population growing with entry over the run.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .scenario import Scenario

__all__ = ["NotEnoughMemory", "available_memory", "check_memory", "estimate_memory"]

BASE_BYTES = 250e6  # interpreter, numpy, pandas, mesa
BYTES_PER_RESEARCHER = 600.0  # state columns, a step's offer and choice arrays, the tables, with headroom
TABLE_BYTES_PER_CELL = 40.0  # a row of a tidy table, per replicate


class NotEnoughMemory(MemoryError):
    """A run that would not fit in this machine's memory; the message says what to lower."""


def _entry_rate(scenario: Scenario) -> float:
    schedule = scenario.levers.pipeline.entry_rate_per_year
    return max((step.value for step in schedule), default=0.0)


def estimate_memory(scenario: Scenario) -> float:
    """Return the bytes of memory a run of ``scenario`` is expected to need at its peak (one replicate at a time)."""
    run = scenario.run
    years = run.steps * run.step_months / 12
    exit_rate = scenario.population.exits.hazard_per_year
    growth = math.exp(max(0.0, _entry_rate(scenario) - exit_rate) * years)
    people = run.researchers * min(growth, 1e3)
    regions = len(scenario.regions)
    cells = (run.steps + 1) * (regions * regions * 4 + (regions + 1) ** 2 * regions + len(scenario.employers) * 8)
    tables = cells * TABLE_BYTES_PER_CELL * run.replicates
    return BASE_BYTES + people * BYTES_PER_RESEARCHER + tables


def available_memory() -> float | None:
    """Return the bytes of memory this process can still use: the tightest of the machine's, its cgroup's and
    its address-space limit's, or None where none can be read."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(float(line.split()[1]) * 1024)
                break
    except OSError:
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = Path(usage_file).read_text().strip()
        except OSError:
            continue
        if limit.isdigit() and usage.isdigit() and int(limit) < 1 << 60:
            limits.append(float(int(limit) - int(usage)))
        break
    try:  # a limit on the address space (ulimit -v), less what is already mapped
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append(float(soft - mapped))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    if not limits and hasattr(os, "sysconf"):
        try:
            limits.append(float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (OSError, ValueError):
            pass
    return min(limits) if limits else None


def check_memory(scenario: Scenario, option: str = "run.researchers", copies: int = 1) -> None:
    """Refuse a run (or ``copies`` runs side by side) that would not fit in the memory this machine has free.

    Raises:
        NotEnoughMemory: naming ``option``, the setting to lower, and a value that fits.
    """
    if copies <= 0:
        return
    free = available_memory()
    if free is None:
        return
    need = estimate_memory(scenario) * copies
    if need <= free:
        return
    per_researcher = (need / copies - BASE_BYTES) / scenario.run.researchers
    fits = int(max(0.0, free / copies - BASE_BYTES) / per_researcher) // 1000 * 1000
    side = f" for each of {copies} runs side by side" if copies > 1 else ""
    advice = (f"at most about {fits:,} fit" if fits >= 100 else "even the smallest run does not fit") + side
    fewer = "; or use fewer --workers" if copies > 1 else ""
    raise NotEnoughMemory(
        f"{option}: {scenario.run.researchers:,} researchers need about {need / 1e9:.1f} GB of memory, but this "
        f"machine has {free / 1e9:.1f} GB free; {advice}{fewer}"
    )
