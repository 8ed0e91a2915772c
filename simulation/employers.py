"""Employers: Mesa agents with positions, a pay schedule, a research environment and an adaptive strategy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import mesa
import numpy as np

from .scenario import BonusPolicy, Employer as EmployerSpec

__all__ = ["Employer", "EmployerArrays"]


class Employer(mesa.Agent):
    """An employer of researchers.

    Static attributes come from the scenario; the dynamic ones (positions, pay multiplier, state
    funding, signing-bonus policy, headcount and peer quality) change every step.
    """

    def __init__(self, model: mesa.Model, key: str, index: int, region: int, spec: EmployerSpec):
        super().__init__(model)
        self.key = key
        self.index = index
        self.region = region
        self.spec = spec
        self.base_positions = 0.0
        self.positions = 0
        self.pay_multiplier = 1.0
        self.state_funding_usd = 0.0
        self.bonus_policy: BonusPolicy | None = None
        self.headcount = 0
        self.peer_quality = 1.0
        self.arrivals = 0
        self.departures = 0

    def grow(self, extra_rate_per_year: float, years: float) -> None:
        """Grow positions at the employer's own yearly rate plus ``extra_rate_per_year`` for ``years``."""
        self.base_positions *= math.exp((self.spec.capacity_growth_per_year + extra_rate_per_year) * years)

    def set_positions(self, scale: float, state_positions_usd: float) -> None:
        """Set positions: grown positions plus those state funding pays for (in model researchers)."""
        cost_per_position = self.spec.base_pay_usd + self.spec.funding_usd_per_researcher
        funded = state_positions_usd / cost_per_position / scale
        self.positions = max(0, int(round(self.base_positions + funded)))

    def adapt(self) -> None:
        """Raise pay after losing people or leaving too many positions unfilled; otherwise relax toward 1."""
        strategy = self.spec.strategy
        unfilled = 1.0 - self.headcount / self.positions if self.positions > 0 else 0.0
        if self.departures > self.arrivals or unfilled > strategy.target_unfilled_share:
            self.pay_multiplier = min(strategy.max_pay_multiplier, self.pay_multiplier * (1 + strategy.raise_per_step))
        else:
            self.pay_multiplier = max(1.0, self.pay_multiplier * (1 - strategy.raise_per_step / 2))


@dataclass
class EmployerArrays:
    """The employers' state as arrays indexed by employer, for the column operations of a step."""

    region: np.ndarray
    pay_usd_median: np.ndarray  # pay for a researcher of quality 1, after the pay multiplier
    impact: np.ndarray
    vacancies: np.ndarray
    headcount: np.ndarray
