"""Employers: Mesa agents with posts, a pay schedule, a research environment and an adaptive pay strategy."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from .scenario import Employer as EmployerSpec

__all__ = ["Employer", "EmployerArrays"]


class Employer(mesa.Agent):
    """An employer of researchers.

    Static attributes come from the scenario; the dynamic ones (posts, pay multiplier, state funding, headcount
    and peer quality, this step's arrivals, departures and exits) change every step. Counts are in model
    researchers (weighted).
    """

    def __init__(self, model: mesa.Model, key: str, index: int, region: int, spec: EmployerSpec):
        super().__init__(model)
        self.key = key
        self.index = index
        self.region = region
        self.spec = spec
        self.positions = 0.0
        self.pay_multiplier = 1.0
        self.state_funding_usd = 0.0
        self.headcount = 0.0
        self.peer_quality = 1.0
        self.arrivals = 0.0
        self.departures = 0.0
        self.exits = 0.0

    def adapt(self) -> None:
        """Raise pay after losing people or leaving too many posts unfilled; otherwise relax toward the schedule."""
        strategy = self.spec.strategy
        unfilled = 1.0 - self.headcount / self.positions if self.positions > 0 else 0.0
        if self.departures > self.arrivals or unfilled > strategy.target_unfilled_share:
            self.pay_multiplier = min(strategy.max_pay_multiplier, self.pay_multiplier * (1 + strategy.raise_per_step))
        else:
            self.pay_multiplier = max(1.0, self.pay_multiplier * (1 - strategy.relax_per_step))


@dataclass
class EmployerArrays:
    """The employers' state as arrays indexed by employer, for the column operations of a step."""

    region: np.ndarray
    pay_usd_median: np.ndarray  # pay for a researcher of quality 1, after the pay multiplier
    impact: np.ndarray
    vacancies: np.ndarray  # model researchers (weighted)
    headcount: np.ndarray  # model researchers (weighted)
