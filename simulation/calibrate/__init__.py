"""Calibration: an ensemble of parameter sets consistent with published targets, and the checks that show what the
targets pin down.

A calibration config (``experiments/calibration/baseline.yaml``) names a starting scenario, the targets (published
figures with their uncertainty and source), the free parameters with defended bounds, and the settings of each
step:

1. **Estimation** (``abc``): ABC-SMC (pyabc) from uniform priors on the bounds; the final population, resampled,
   is the parameter ensemble, saved beside the calibrated scenario; its weighted medians are the point estimate.
2. **Ensemble runs**: draws of the ensemble run to the scenario's end with fresh seeds, giving every target's
   simulated median and interval, and the projections, across parameter uncertainty.
3. **Identification**: profiles of the distance along each parameter (with the sensitivity of each target to each
   parameter), and a recovery check that estimates known parameter values back from simulated targets.
4. **Held-out checks**: the fit without groups of targets, predicting them.

``talentsim calibrate CONFIG`` does all of it and writes the report.
"""

from .config import Calibration, CalibrationConfig, changed_values, load_calibration, scenario_with
from .fit import Fit, calibrate, run_calibration
from .report import report_markdown, write_calibrated_scenario

__all__ = [
    "Calibration",
    "CalibrationConfig",
    "Fit",
    "calibrate",
    "changed_values",
    "load_calibration",
    "report_markdown",
    "run_calibration",
    "scenario_with",
    "write_calibrated_scenario",
]
