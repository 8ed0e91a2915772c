"""After the sweep: which uncertainties and levers matter, where a condition holds, which policy holds up best.

``analyze(folder)`` reads a finished or partly finished sweep (``read_experiment``) and returns an
:class:`Analysis` holding tidy tables:

* **sensitivity** — Sobol first-order and total indices with confidence intervals (a ``saltelli`` design), or Morris
  mu* and sigma (a ``morris`` design), of each outcome's mean over replicates, for every lever arm, computed by
  SALib on the design the sweep drew;
* **variance** — for any design, the share of each outcome's variance that each lever explains on its own and the
  share that is replicate noise (runs that differ only by seed);
* **robustness** — for an outcome and a threshold (a *condition*: the outcome above or below it), per lever arm: the
  share of runs meeting it, the median and the central 90% of the outcome, and the regret against the best arm of
  the same uncertainty draw and seed (common random numbers make the comparison exact);
* **discovery** — scenario discovery with PRIM (the ``prim`` package, the EMA Workbench's algorithm): the peeling
  trajectory (coverage against density), the chosen box with its limits, coverage, density and quasi-p values.

``Analysis.save(folder)`` writes the tables as Parquet and the figures (``simulation.analysis_plots``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .derived import DerivedError, evaluate, names_in
from .extras import require

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from .experiment import ExperimentFile
    from .store import ExperimentResults

__all__ = [
    "Analysis",
    "AnalysisError",
    "Condition",
    "analyze",
    "discover",
    "morris_indices",
    "outcome_values",
    "robustness",
    "sobol_indices",
    "variance_shares",
]

SENSITIVITY_METHODS = ("auto", "sobol", "morris", "none")
CONF_LEVEL = 0.95
RESAMPLES = 200  # bootstrap resamples of SALib's confidence intervals


class AnalysisError(ValueError):
    """An analysis that the sweep cannot support, or options that do not fit it; the message says what to do."""


# --------------------------------------------------------------------------------------------------------------
# What is analysed


@dataclass(frozen=True)
class Condition:
    """An outcome compared with a threshold: a run *meets* it when the outcome is at least (``above``) or at most
    the threshold. Regret is measured in the same direction: higher is better with ``above``, lower otherwise."""

    outcome: str
    threshold: float
    above: bool = True
    label: str | None = None

    @property
    def sign(self) -> str:
        """Return the comparison as a symbol (>= or <=)."""
        return ">=" if self.above else "<="

    def describe(self, label: str | None = None, share: bool = False) -> str:
        """Return the condition in words, e.g. 'US share in 2030 at least 35.0%' (``share``: in percent)."""
        value = f"{self.threshold:.1%}" if share else f"{self.threshold:g}"
        return f"{label or self.label or self.outcome} {'at least' if self.above else 'at most'} {value}"

    def met(self, values: np.ndarray) -> np.ndarray:
        """Return which values meet the condition."""
        return values >= self.threshold if self.above else values <= self.threshold


def outcome_values(results: ExperimentResults, outcome: str) -> pd.Series:
    """Return an outcome for every finished run: a column of the outcome table, or arithmetic of outcome names.

    Raises:
        AnalysisError: not an outcome of the sweep, nor arithmetic of them.
    """
    table = results.outcomes
    names = list(results.outcome_names)
    if outcome in names:
        return table[outcome].astype(float)
    try:
        used = names_in(outcome, names)
    except DerivedError as exc:
        raise AnalysisError(str(exc)) from None
    return pd.Series(evaluate(outcome, {n: table[n] for n in used}), index=table.index, name=outcome)


def _definition(results: ExperimentResults) -> ExperimentFile:
    from .experiment import ExperimentFile, RenamedMethodWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RenamedMethodWarning)  # a sweep stored before the rename
        return ExperimentFile.model_validate(results.info["experiment"])


def _arm_columns(results: ExperimentResults) -> list[str]:
    return list(results.levers)


def arm_labels(results: ExperimentResults, table: pd.DataFrame | None = None) -> pd.Series:
    """Return a short text naming each row's lever arm ('us visa odds 0.9, exit restriction 0.3'), or 'all runs'."""
    table = results.outcomes if table is None else table
    levers = _arm_columns(results)
    if not levers:
        return pd.Series("all runs", index=table.index)
    parts = [table[lever].map(lambda v, n=lever: f"{n.replace('_', ' ')} {_value_text(v)}") for lever in levers]
    out = parts[0]
    for part in parts[1:]:
        out = out + ", " + part
    return out


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _numeric(results: ExperimentResults, names: Sequence[str]) -> list[str]:
    table = results.outcomes
    return [n for n in names if n in table.columns and pd.api.types.is_numeric_dtype(table[n])]


# --------------------------------------------------------------------------------------------------------------
# Sensitivity


def _per_sample(results: ExperimentResults, outcome: str) -> pd.DataFrame:
    """Return the outcome's mean over replicates, one row per lever arm and uncertainty sample."""
    table = results.outcomes[["arm", "sample", *_arm_columns(results)]].copy()
    table["y"] = outcome_values(results, outcome).to_numpy()
    table = table[np.isfinite(table["y"])]
    keys = ["arm", *_arm_columns(results)]
    return table.groupby([*keys, "sample"], sort=True, dropna=False)["y"].mean().reset_index()


def _arms(results: ExperimentResults, per_sample: pd.DataFrame) -> Iterator[tuple[dict[str, Any], pd.Series]]:
    """Yield (lever values of the arm, outcome by sample index) for every arm with finished runs."""
    for arm, rows in per_sample.groupby("arm", sort=True):
        levers = {lever: rows[lever].iloc[0] for lever in _arm_columns(results)}
        yield {"arm": int(arm), **levers}, rows.set_index("sample")["y"]


def _require_design(definition: ExperimentFile, method: str) -> None:
    design = definition.sampling.method if definition.uncertainties else "none (no uncertainties)"
    needs = {"sobol": "saltelli", "morris": "morris"}[method]
    if not definition.uncertainties or definition.sampling.method != needs:
        what = {"sobol": "Sobol indices need", "morris": "Morris screening needs"}[method]
        raise AnalysisError(
            f"{what} a {needs} design, and this sweep's design is {design}. Sweep again with "
            f"sampling: {{method: {needs}, samples: N}} ({'a power of 2 for N; ' if needs == 'saltelli' else ''}"
            f"it draws N x ({'uncertainties + 2' if needs == 'saltelli' else 'uncertainties + 1'}) samples). "
            "Robustness, scenario discovery and the variance shares work with any design.")


def sobol_indices(results: ExperimentResults, outcomes: Sequence[str] | None = None, *,
                  conf_level: float = CONF_LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Return Sobol first-order (S1) and total (ST) indices of each uncertainty, with confidence half-widths.

    One row per lever arm x outcome x uncertainty: ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (SALib's bootstrap,
    at ``conf_level``), ``base_samples`` (Saltelli blocks used) and ``variance`` of the outcome. The outcome of a
    sample is its mean over replicates. In a sweep not yet finished, only the complete blocks of the design are
    used (``base_samples`` says how many). Needs a ``saltelli`` design.

    Raises:
        AnalysisError: the design is not saltelli, or no block of it is complete.
    """
    salib = require("SALib.analyze.sobol", "sensitivity", "Sobol indices")
    from .experiment import salib_problem

    definition = _definition(results)
    _require_design(definition, "sobol")
    problem = salib_problem(definition)
    d = problem["num_vars"]
    second = definition.sampling.second_order
    step = (2 * d + 2) if second else (d + 2)
    blocks = definition.sampling.samples
    rows, pairs = [], []
    for outcome in outcomes or results.outcome_names:
        for arm, y in _arms(results, _per_sample(results, outcome)):
            full = np.full(blocks * step, np.nan)
            index = y.index.to_numpy()
            full[index[index < full.size]] = y.to_numpy()[index < full.size]
            complete = np.isfinite(full.reshape(blocks, step)).all(axis=1)
            kept = full.reshape(blocks, step)[complete].ravel()
            base = {**arm, "outcome": outcome, "base_samples": int(complete.sum()),
                    "variance": float(np.var(kept)) if kept.size else math.nan}
            if complete.sum() < 2 or not np.var(kept) > 0:
                for name in problem["names"]:
                    rows.append({**base, "parameter": name, "S1": math.nan, "S1_conf": math.nan, "ST": math.nan,
                                 "ST_conf": math.nan})
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = salib.analyze(problem, kept, calc_second_order=second, num_resamples=resamples,
                                       conf_level=conf_level, seed=seed)
            for j, name in enumerate(problem["names"]):
                rows.append({**base, "parameter": name, "S1": float(result["S1"][j]),
                             "S1_conf": float(result["S1_conf"][j]), "ST": float(result["ST"][j]),
                             "ST_conf": float(result["ST_conf"][j])})
            if second:
                for j in range(d):
                    for k in range(j + 1, d):
                        pairs.append({**base, "parameter": problem["names"][j], "other": problem["names"][k],
                                      "S2": float(result["S2"][j, k]), "S2_conf": float(result["S2_conf"][j, k])})
    if not any(r["base_samples"] for r in rows):
        raise AnalysisError("no block of the saltelli design is complete yet (each needs all of its "
                            f"{step} samples in at least one replicate); let the sweep run further (--resume)")
    table = pd.DataFrame(rows)
    table.attrs["second_order"] = pd.DataFrame(pairs)
    return table


def morris_indices(results: ExperimentResults, outcomes: Sequence[str] | None = None, *,
                   conf_level: float = CONF_LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Return Morris screening measures of each uncertainty: ``mu``, ``mu_star`` (with ``mu_star_conf``), ``sigma``.

    One row per lever arm x outcome x uncertainty. Effects are changes of the outcome per move across the whole
    range of the uncertainty's probabilities (the design is drawn on probabilities and mapped through each
    distribution), so uncertainties of different units compare directly. Only complete trajectories are used
    (``trajectories``). Needs a ``morris`` design.

    Raises:
        AnalysisError: the design is not morris, or no trajectory is complete.
    """
    salib = require("SALib.analyze.morris", "sensitivity", "Morris screening")
    from .experiment import design, salib_problem

    definition = _definition(results)
    _require_design(definition, "morris")
    problem = salib_problem(definition)
    unit = design(definition)
    d = problem["num_vars"]
    step = d + 1
    count = definition.sampling.samples
    rows = []
    for outcome in outcomes or results.outcome_names:
        for arm, y in _arms(results, _per_sample(results, outcome)):
            full = np.full(count * step, np.nan)
            index = y.index.to_numpy()
            inside = index < full.size
            full[index[inside]] = y.to_numpy()[inside]
            complete = np.isfinite(full.reshape(count, step)).all(axis=1)
            keep = np.repeat(complete, step)
            base = {**arm, "outcome": outcome, "trajectories": int(complete.sum())}
            if not complete.any():
                rows += [{**base, "parameter": n, "mu": math.nan, "mu_star": math.nan, "mu_star_conf": math.nan,
                          "sigma": math.nan} for n in problem["names"]]
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = salib.analyze(problem, unit[keep], full[keep], num_resamples=resamples,
                                       conf_level=conf_level, num_levels=definition.sampling.levels, seed=seed)
            for j, name in enumerate(problem["names"]):
                rows.append({**base, "parameter": name, "mu": float(result["mu"][j]),
                             "mu_star": float(result["mu_star"][j]),
                             "mu_star_conf": float(result["mu_star_conf"][j]), "sigma": float(result["sigma"][j])})
    if not any(r["trajectories"] for r in rows):
        raise AnalysisError(f"no trajectory of the morris design is complete yet (each needs its {step} samples); "
                            "let the sweep run further (--resume)")
    return pd.DataFrame(rows)


def variance_shares(results: ExperimentResults, outcomes: Sequence[str] | None = None) -> pd.DataFrame:
    """Return, per outcome, the share of its variance over runs explained by each lever alone and by seeds alone.

    A lever's share is Var(E[outcome | lever]) / Var(outcome), exact for the crossed design of a sweep (every
    lever value meets the same draws and seeds). The ``replicate noise`` share is the mean variance between runs
    that differ only by seed, over the total. Works with every design; rows: outcome, source, kind, share.
    """
    table = results.outcomes
    rows = []
    for outcome in outcomes or results.outcome_names:
        y = outcome_values(results, outcome)
        ok = np.isfinite(y)
        values, data = y[ok], table[ok]
        total = float(values.var(ddof=0)) if len(values) > 1 else math.nan
        for lever in _arm_columns(results):
            if data[lever].nunique() < 2:
                continue
            means = values.groupby(data[lever].map(_value_text)).transform("mean")
            rows.append({"outcome": outcome, "source": lever, "kind": "lever",
                         "share": float(means.var(ddof=0) / total) if total > 0 else math.nan})
        if data["replicate"].nunique() > 1:
            within = values.groupby([data["arm"], data["sample"]]).var(ddof=1).dropna()  # unbiased, per draw
            if len(within):
                rows.append({"outcome": outcome, "source": "replicate noise", "kind": "noise",
                             "share": float(within.mean() / total) if total > 0 else math.nan})
    return pd.DataFrame(rows, columns=["outcome", "source", "kind", "share"])


# --------------------------------------------------------------------------------------------------------------
# Robustness


def regret(results: ExperimentResults, condition: Condition) -> pd.DataFrame:
    """Return every finished run with its outcome, whether it meets the condition, and its regret.

    Regret is how far the run falls short of the best lever arm run under the same uncertainty sample and seed
    (in the condition's direction), so it is 0 for the best arm of each draw. Draws in which some arm has no
    finished run yet get no regret (NaN), so arms are compared on the same draws only.
    """
    table = results.outcomes[["run_id", "arm", "sample", "replicate", *_arm_columns(results)]].copy()
    table["value"] = outcome_values(results, condition.outcome).to_numpy()
    table = table[np.isfinite(table["value"])]
    table["meets"] = condition.met(table["value"].to_numpy())
    arms = table["arm"].nunique()
    draw = table.groupby(["sample", "replicate"])["value"]
    best = draw.transform("max" if condition.above else "min")
    complete = draw.transform("size") == arms
    gap = (best - table["value"]) if condition.above else (table["value"] - best)
    table["regret"] = gap.where(complete)
    return table.reset_index(drop=True)


def robustness(results: ExperimentResults, condition: Condition, interval: float = 0.9) -> pd.DataFrame:
    """Return one row per lever arm: runs, share meeting the condition, median and central ``interval`` of the
    outcome, and regret (mean, 90th percentile, maximum) with the share of draws in which the arm is the best.

    Sorted from the most robust arm (highest share meeting, then lowest mean regret).
    """
    runs = regret(results, condition)
    if runs.empty:
        raise AnalysisError(f"no finished run has a value of {condition.outcome}")
    low, high = (1 - interval) / 2, 1 - (1 - interval) / 2
    keys = ["arm", *_arm_columns(results)]
    grouped = runs.groupby(keys, sort=True, dropna=False)
    out = grouped.agg(runs=("value", "size"), share_meeting=("meets", "mean"), median=("value", "median"),
                      low=("value", lambda v: v.quantile(low)), high=("value", lambda v: v.quantile(high)),
                      mean=("value", "mean"), regret_mean=("regret", "mean"),
                      regret_p90=("regret", lambda v: v.quantile(0.9) if v.notna().any() else math.nan),
                      regret_max=("regret", "max"), best_share=("regret", lambda v: (v[v.notna()] <= 1e-12).mean()
                                                                if v.notna().any() else math.nan),
                      compared_draws=("regret", "count")).reset_index()
    out = out.rename(columns={"low": f"p{low * 100:g}", "high": f"p{high * 100:g}"})
    out.insert(1, "arm_label", arm_labels(results, out).to_numpy())
    out = out.sort_values(["share_meeting", "regret_mean"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------
# Scenario discovery


@dataclass
class Discovery:
    """A PRIM box: the peeling trajectory, the chosen step and its limits, and what it covers."""

    condition: Condition
    trajectory: pd.DataFrame  # step, coverage, density, mean, mass, restricted
    chosen: int
    limits: pd.DataFrame  # parameter, kind, low, high, values, full_low, full_high, qp_value
    cases: int  # runs meeting the condition
    runs: int

    @property
    def stats(self) -> dict[str, float]:
        """Return the chosen box's coverage, density, mass and number of restricted parameters."""
        row = self.trajectory.iloc[self.chosen]
        return {"coverage": float(row["coverage"]), "density": float(row["density"]), "mass": float(row["mass"]),
                "restricted": int(row["restricted"]), "step": int(self.chosen)}

    def describe(self, labels: dict[str, str] | None = None) -> str:
        """Return the box as one sentence of limits."""
        labels = labels or {}
        parts = []
        for row in self.limits.itertuples():
            name = labels.get(row.parameter, row.parameter)
            if row.kind == "categorical":
                parts.append(f"{name} in {{{row.values}}}")
            elif row.low > row.full_low and row.high < row.full_high:
                parts.append(f"{name} from {row.low:.4g} to {row.high:.4g}")
            elif row.low > row.full_low:
                parts.append(f"{name} at least {row.low:.4g}")
            else:
                parts.append(f"{name} at most {row.high:.4g}")
        return "; ".join(parts) if parts else "no restriction (the whole space)"


def discover(results: ExperimentResults, condition: Condition, *, parameters: Sequence[str] | None = None,
             density: float = 0.8, step: int | None = None, peel_alpha: float = 0.05, paste_alpha: float = 0.05,
             mass_min: float = 0.05) -> Discovery:
    """Return the PRIM box of the runs that meet ``condition``, over the levers and uncertainties that vary.

    PRIM (Friedman & Fisher 1999) as implemented by the ``prim`` package (the EMA Workbench's algorithm) peels
    the space of parameters down to a box where the condition holds for most runs. The box chosen on the peeling
    trajectory is ``step``, or else the one of largest coverage whose density is at least ``density`` (the
    densest, if none is that dense). Each restricted parameter gets its quasi-p value (Bryant & Lempert 2010):
    the chance of a box this dense if that restriction were dropped.

    Raises:
        AnalysisError: no run, or every run, meets the condition; or ``step`` is not on the trajectory.
    """
    prim = require("prim", "sensitivity", "scenario discovery (PRIM)")
    table = results.outcomes
    values = outcome_values(results, condition.outcome)
    finite = np.isfinite(values.to_numpy())
    names = [p for p in (parameters or [*results.levers, *results.uncertainties])
             if p in table.columns and table.loc[finite, p].map(_value_text).nunique() > 1]
    if not names:
        raise AnalysisError("scenario discovery needs levers or uncertainties that vary across the finished runs")
    x = pd.DataFrame(index=table.index[finite])
    for name in names:
        column = table.loc[finite, name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            x[name] = column.map(_value_text).astype(object)
        else:
            x[name] = column.astype(float)
    y = condition.met(values.to_numpy()[finite])
    cases = int(y.sum())
    if cases == 0 or cases == len(y):
        which = "no" if cases == 0 else "every"
        raise AnalysisError(f"{which} finished run has {condition.describe()} ({len(y)} runs), so there is nothing "
                            f"to tell apart; choose another threshold (the outcome ranges from "
                            f"{np.min(values[finite]):.4g} to {np.max(values[finite]):.4g})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        finder = prim.Prim(x.reset_index(drop=True), y, peel_alpha=peel_alpha, paste_alpha=paste_alpha,
                           mass_min=mass_min)
        box = finder.find_box()
    trajectory = box.peeling_trajectory.rename(columns={"res dim": "restricted"}).reset_index(drop=True)
    trajectory.insert(0, "step", np.arange(len(trajectory)))
    trajectory["restricted"] = trajectory["restricted"].astype(int)
    if step is None:  # the largest coverage at the target density, among boxes that restrict something
        restricting = trajectory[trajectory["restricted"] > 0]
        pool = restricting if len(restricting) else trajectory
        dense = pool[pool["density"] >= density - 1e-12]
        chosen = int(dense.sort_values(["coverage", "restricted", "step"], ascending=[False, True, True]).iloc[0]["step"]
                     if len(dense) else pool["density"].idxmax())
    elif not 0 <= step < len(trajectory):
        raise AnalysisError(f"box step {step} is not on the peeling trajectory (steps 0 to {len(trajectory) - 1})")
    else:
        chosen = int(step)
    box.select(chosen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        limits = box.limits
    initial = box._box_lims[0]  # the box of every run: each parameter's full range
    rows = []
    for name in limits.index:
        categorical = x[name].dtype == object
        low, high = limits.loc[name, "min"], limits.loc[name, "max"]
        rows.append({
            "parameter": name, "kind": "categorical" if categorical else "numeric",
            "low": math.nan if categorical else float(low), "high": math.nan if categorical else float(high),
            "values": ", ".join(sorted(map(str, low))) if categorical else "",
            "full_low": math.nan if categorical else float(initial[name][0]),
            "full_high": math.nan if categorical else float(initial[name][1]),
            "qp_value": float(limits.loc[name, "qp values"]),
        })
    limits_table = pd.DataFrame(rows, columns=["parameter", "kind", "low", "high", "values", "full_low", "full_high",
                                               "qp_value"])
    return Discovery(condition, trajectory, chosen, limits_table, cases, len(y))


# --------------------------------------------------------------------------------------------------------------
# Everything at once


@dataclass
class Analysis:
    """The analysis of a sweep: its tables, and the figures drawn from them."""

    results: ExperimentResults
    design: str
    outcomes: list[str]
    condition: Condition | None = None
    sensitivity_method: str | None = None
    sensitivity: pd.DataFrame | None = None
    second_order: pd.DataFrame | None = None
    variance: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None
    runs: pd.DataFrame | None = None  # every run with its outcome, whether it meets the condition, and regret
    discovery: Discovery | None = None
    notes: list[str] = field(default_factory=list)

    def label(self, name: str, unit: bool = True) -> str:
        """Return the label of a column or of the analysed outcome (an expression is its own label)."""
        if self.condition is not None and name == self.condition.outcome and self.condition.label:
            return self.condition.label
        shares = (self.results.info.get("columns", {}).get(name) or {}).get("unit") == "share"
        return self.results.label(name, unit=unit and not shares)  # a share says so in its label and axis

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the tables by file name (without extension)."""
        out: dict[str, pd.DataFrame] = {}
        if self.sensitivity is not None:
            out[self.sensitivity_method] = self.sensitivity
        if self.second_order is not None and len(self.second_order):
            out["sobol_second_order"] = self.second_order
        if self.variance is not None and len(self.variance):
            out["variance_shares"] = self.variance
        if self.robustness is not None:
            out["robustness"] = self.robustness
            out["regret"] = self.runs
        if self.discovery is not None:
            out["prim_trajectory"] = self.discovery.trajectory
            out["prim_box"] = self.discovery.limits
        return out

    def figures(self, *, caption: bool = True) -> Iterator[tuple[str, Figure]]:
        """Yield (name, figure) for every figure of the analysis, in the project's figure style (``caption=False``:
        captions kept on the figures, not drawn)."""
        from .analysis_plots import analysis_figures

        yield from analysis_figures(self, caption=caption)

    def summary(self) -> str:
        """Return what the analysis found, as text for the terminal."""
        return format_analysis(self)

    def save(self, folder: str | Path, formats: Sequence[str] = ("png",), dpi: int = 300) -> list[Path]:
        """Write the tables (Parquet) and figures to ``folder``; return the paths written."""
        from .outputs import atomic_write

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in self.tables().items():
            written.append(atomic_write(folder / f"{name}.parquet", lambda tmp, t=table: t.to_parquet(tmp, index=False)))
        for name, fig in self.figures():
            written += save_figure_atomically(fig, folder / name, formats, dpi)
        return written


def save_figure_atomically(fig, path: Path, formats: Sequence[str] = ("png",), dpi: int = 300) -> list[Path]:
    """Write ``fig`` as each of ``formats`` beside ``path`` through a temporary file renamed into place; close it.

    Files carry no creation date, so the same figure gives the same bytes (as ``plots.save_figure``).
    """
    import matplotlib.pyplot as plt

    from .outputs import atomic_write
    from .style import SAVE_RC

    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    written = []
    with plt.rc_context(SAVE_RC):
        for fmt in formats:
            target = Path(path).with_suffix(f".{fmt}")
            atomic_write(target, lambda tmp, f=fmt: fig.savefig(tmp, format=f, dpi=dpi, bbox_inches="tight",
                                                                pad_inches=0.05, metadata=metadata[f]))
            written.append(target)
    plt.close(fig)
    return written


def settings_of(results: ExperimentResults) -> dict[str, Any]:
    """Return the experiment file's ``analysis:`` settings stored with the sweep (empty for older sweeps)."""
    return dict((results.info.get("experiment") or {}).get("analysis") or {})


def analyze(results: ExperimentResults | str | Path, *, outcomes: Sequence[str] | None = None,
            outcome: str | None = None, above: float | None = None, below: float | None = None,
            label: str | None = None, sensitivity: str = "auto", density: float | None = None,
            step: int | None = None, seed: int = 0) -> Analysis:
    """Return the analysis of a sweep (its results folder, or ``read_experiment``'s result).

    Args:
        outcomes: outcomes of the sensitivity analysis (default: every outcome).
        outcome: outcome (or arithmetic of outcomes) of the robustness table and scenario discovery; default
            the experiment file's ``analysis.outcome``.
        above, below: the threshold: a run meets it when the outcome is at least ``above`` (or at most
            ``below``); default the file's ``analysis.above``/``below``. Without one, robustness shows the
            outcome's spread per arm only and scenario discovery is skipped.
        sensitivity: ``auto`` (what the design supports: Sobol for saltelli, Morris for morris, else none),
            ``sobol``, ``morris`` or ``none``.
        density: PRIM box choice: the largest coverage with at least this density (default 0.8).
        step: PRIM box choice: this step of the peeling trajectory.

    Raises:
        AnalysisError: an option the sweep cannot support, with what to do instead.
    """
    from .store import read_experiment

    if not hasattr(results, "outcomes"):
        results = read_experiment(results)
    if sensitivity not in SENSITIVITY_METHODS:
        raise AnalysisError(f"sensitivity must be one of {', '.join(SENSITIVITY_METHODS)} (got {sensitivity!r})")
    if above is not None and below is not None:
        raise AnalysisError("give a threshold above or below, not both")
    definition = _definition(results)
    defaults = definition.analysis
    if outcome is None and above is None and below is None:
        outcome, above, below = defaults.outcome, defaults.above, defaults.below
        label = label or defaults.label
    density = defaults.density if density is None else density
    if not 0 < density <= 1:
        raise AnalysisError(f"density must be above 0 and at most 1 (got {density:g})")
    outcome = outcome or (results.outcome_names[0] if results.outcome_names else None)
    chosen_outcomes = list(outcomes or results.outcome_names)
    unknown = [o for o in chosen_outcomes if o not in results.outcome_names]
    if unknown:
        raise AnalysisError(f"unknown outcome(s) {', '.join(unknown)}; the sweep has {', '.join(results.outcome_names)}")
    if outcome is not None:
        outcome_values(results, outcome)  # check the name or expression before any work
    design_name = definition.sampling.method if definition.uncertainties else "levers only"
    analysis = Analysis(results, design_name, chosen_outcomes)
    if results.outcomes.empty:
        raise AnalysisError(f"{len(results.runs)} runs are planned and none has finished yet; analyse the sweep "
                            "once some runs have finished")
    if not results.complete:
        done = len(results.outcomes)
        analysis.notes.append(f"The sweep is not complete: {done} of {len(results.runs)} runs have finished; the "
                              "analysis uses those.")

    method = sensitivity
    if method == "auto":
        method = {"saltelli": "sobol", "morris": "morris"}.get(definition.sampling.method if definition.uncertainties
                                                               else "", "none")
        if method == "none" and definition.uncertainties:
            analysis.notes.append(f"No Sobol indices or Morris effects: the design ({design_name}) is not made for "
                                  "them; sweep with sampling method saltelli or morris to get them.")
    if method == "sobol":
        analysis.sensitivity = sobol_indices(results, chosen_outcomes, seed=seed)
        analysis.second_order = analysis.sensitivity.attrs.pop("second_order", None)
    elif method == "morris":
        analysis.sensitivity = morris_indices(results, chosen_outcomes, seed=seed)
    analysis.sensitivity_method = None if method == "none" else method
    analysis.variance = variance_shares(results, chosen_outcomes)

    if outcome is not None:
        threshold = above if above is not None else below
        if threshold is None:
            # no condition: the spread per arm only (regret needs a direction)
            condition = Condition(outcome, math.nan, True, label)
            table = robustness(results, condition)
            table = table.drop(columns=["share_meeting", "regret_mean", "regret_p90", "regret_max", "best_share",
                                        "compared_draws"])
            analysis.robustness = table.sort_values("arm").reset_index(drop=True)
            analysis.runs = regret(results, condition).drop(columns=["meets", "regret"])
            analysis.condition = condition
            analysis.notes.append(f"No threshold given for {outcome}: give above or below (--above X / --below X, or "
                                  "analysis: in the experiment file) for the share of runs meeting it, regret and "
                                  "scenario discovery.")
        else:
            condition = Condition(outcome, float(threshold), above is not None, label)
            analysis.condition = condition
            analysis.robustness = robustness(results, condition)
            analysis.runs = regret(results, condition)
            met = analysis.runs["meets"].mean() if len(analysis.runs) else math.nan
            if met > 0.5:
                analysis.notes.append(
                    f"{met:.0%} of the runs meet the condition, so a box of the runs meeting it says little; "
                    f"scenario discovery is most useful for the rarer case: try {'--below' if condition.above else '--above'} "
                    f"{condition.threshold:g} (in the experiment file: {'below' if condition.above else 'above'}: "
                    f"{condition.threshold:g}).")
            try:
                analysis.discovery = discover(results, condition, density=density, step=step)
            except AnalysisError as exc:
                if step is not None:
                    raise
                analysis.notes.append(f"No scenario discovery: {exc}")
    return analysis


# --------------------------------------------------------------------------------------------------------------
# Text for the terminal


def _fmt(value: float, share: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.1%}" if share else f"{value:.4g}"


def is_share(analysis: Analysis, name: str) -> bool:
    """Return whether an outcome (or an expression of shares) is a share, to show in percent."""
    columns = analysis.results.info.get("columns", {})
    if name in columns:
        return columns[name].get("unit") == "share"
    try:
        used = names_in(name, list(analysis.results.outcome_names))
    except DerivedError:
        return False
    return bool(used) and all(columns.get(n, {}).get("unit") == "share" for n in used)


def format_analysis(analysis: Analysis) -> str:
    """Return the analysis as text: sensitivity ranking, variance shares, robustness per arm, the PRIM box."""
    lines = []
    r = analysis.results
    lines.append(f"Sweep '{r.info.get('name')}': {len(r.outcomes)} finished runs; design: {analysis.design}")
    if analysis.sensitivity is not None:
        table = analysis.sensitivity
        key = "ST" if analysis.sensitivity_method == "sobol" else "mu_star"
        what = ("Sobol total index ST (first-order S1), 95% intervals" if key == "ST"
                else "Morris mu* (sigma), outcome change across each uncertainty's range")
        lines.append(f"\nSensitivity: {what}, by outcome (mean over arms):")
        for outcome, rows in table.groupby("outcome", sort=False):
            lines.append(f"  {analysis.label(outcome)}")
            ranked = rows.groupby("parameter", sort=False)[[c for c in rows.columns if c in
                                                          ("S1", "S1_conf", "ST", "ST_conf", "mu_star", "sigma")]].mean()
            for name, row in ranked.sort_values(key, ascending=False).iterrows():
                if key == "ST":
                    lines.append(f"    {name:<28} ST {row['ST']:6.3f} ± {row['ST_conf']:.3f}   S1 {row['S1']:6.3f} "
                                 f"± {row['S1_conf']:.3f}")
                else:
                    lines.append(f"    {name:<28} mu* {row['mu_star']:.4g}   sigma {row['sigma']:.4g}")
    if analysis.variance is not None and len(analysis.variance):
        lines.append("\nShare of each outcome's variance over runs explained by each lever alone, and by seeds:")
        for outcome, rows in analysis.variance.groupby("outcome", sort=False):
            parts = ", ".join(f"{row.source} {row.share:.0%}" for row in rows.itertuples())
            lines.append(f"  {outcome}: {parts}")
    if analysis.robustness is not None and analysis.condition is not None:
        c = analysis.condition
        share = is_share(analysis, c.outcome)
        table = analysis.robustness
        title = (f"Robustness of each lever arm: {c.describe(analysis.label(c.outcome), share)}"
                 if not math.isnan(c.threshold) else f"Spread of {analysis.label(c.outcome)} by lever arm")
        lines.append(f"\n{title}")
        low = next(col for col in table.columns if col.startswith("p") and col[1:2].isdigit())
        high = [col for col in table.columns if col.startswith("p") and col[1:2].isdigit()][-1]
        for row in table.to_dict("records"):
            text = f"  {row['arm_label']:<44} median {_fmt(row['median'], share)} [{_fmt(row[low], share)}, " \
                   f"{_fmt(row[high], share)}]"
            if "share_meeting" in row:
                text += f"  meets {row['share_meeting']:.0%}  regret mean {_fmt(row['regret_mean'], share)} " \
                        f"max {_fmt(row['regret_max'], share)}"
            lines.append(text)
    if analysis.discovery is not None:
        d = analysis.discovery
        stats = d.stats
        labels = {n: analysis.results.label(n) for n in d.limits["parameter"]}
        lines.append(f"\nScenario discovery (PRIM) of runs with "
                     f"{d.condition.describe(analysis.label(d.condition.outcome), is_share(analysis, d.condition.outcome))} "
                     f"({d.cases} of {d.runs} runs):")
        lines.append(f"  box at step {stats['step']} of {len(d.trajectory) - 1}: coverage {stats['coverage']:.0%}, "
                     f"density {stats['density']:.0%}, mass {stats['mass']:.0%}")
        for row in d.limits.itertuples():
            name = labels.get(row.parameter, row.parameter)
            limit = f"in {{{row.values}}}" if row.kind == "categorical" else f"{row.low:.4g} to {row.high:.4g} " \
                                                                             f"(of {row.full_low:.4g} to {row.full_high:.4g})"
            lines.append(f"    {name:<40} {limit}   quasi-p {row.qp_value:.2g}")
    for note in analysis.notes:
        lines.append(f"\nNote: {note}")
    return "\n".join(lines)
