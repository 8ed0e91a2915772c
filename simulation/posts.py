"""Posts follow money: how many research posts each employer has, from its budget and the compute it can use.

An employer's research budget (USD/year, real) is its own money — staff at the start times pay plus funding per
researcher, moving with its region's private investment index (companies) or public research funding index
(state-backed employers) — plus the state funding that reaches it. Posts move with the budget through
``market.posts_funding_elasticity`` and with the region's compute access through ``market.posts_compute_elasticity``;
the rest of a change in budget changes funding per researcher. Accepted targeted offers add a post each (the offer
is the funding). There is no free growth rate: without a change in money or compute, posts stay as they were.
"""

from __future__ import annotations

import numpy as np

from .levers import LeverState

__all__ = ["Posts"]


class Posts:
    """Research posts of every employer, in model researchers.

    Args:
        staff: weighted headcount of each employer at the start (model researchers).
        scale: real researchers per model researcher.
        scenario: the scenario (employers' pay, funding and vacancy shares; the market's elasticities).
        levers: the levers in force at the start.
        state_backed: which employers receive their region's state funding.
        employer_region: region index of each employer.
    """

    def __init__(self, staff, scale, scenario, levers: LeverState, state_backed, employer_region):
        specs = list(scenario.employers.values())
        self.scale = scale
        self.state_backed = state_backed
        self.employer_region = employer_region
        self.funding_elasticity = scenario.market.posts_funding_elasticity
        self.compute_elasticity = scenario.market.posts_compute_elasticity
        self.base_posts = staff * (1.0 + np.array([s.vacancy_share for s in specs]))
        real_staff = np.maximum(staff, 1e-9) * scale
        self.own_budget_usd = real_staff * np.array([s.base_pay_usd + s.funding_usd_per_researcher for s in specs])
        self.start_state_usd = self.state_funding(levers, staff)
        self.start_budget_usd = self.own_budget_usd + self.start_state_usd
        self.start_compute = levers.compute_access[employer_region].copy()
        self.start_funding_per_researcher = (
            np.array([s.funding_usd_per_researcher for s in specs]) + self.start_state_usd / real_staff
        )
        self.targeted = np.zeros(len(specs))  # posts brought by accepted targeted offers
        self.budget_ratio = np.ones(len(specs))
        self.posts = self.base_posts.copy()
        self.state_usd = self.start_state_usd.copy()

    def state_funding(self, levers: LeverState, staff: np.ndarray) -> np.ndarray:
        """Return state funding (USD/year) reaching each employer: its own plus its share of its region's, by staff."""
        funding = levers.state_funding_employer_usd.copy()
        for region, total in enumerate(levers.state_funding_region_usd):
            if total <= 0:
                continue
            members = self.state_backed & (self.employer_region == region)
            weight = np.where(members, np.maximum(staff, 1e-9), 0.0)
            if weight.sum() > 0:
                funding += total * weight / weight.sum()
        return funding

    def step(self, levers: LeverState, staff: np.ndarray) -> np.ndarray:
        """Return this step's posts of every employer, from the budgets and compute the levers give."""
        r = self.employer_region
        index = np.where(self.state_backed, levers.research_funding[r], levers.investment[r])
        self.state_usd = self.state_funding(levers, staff)
        self.budget_ratio = (self.own_budget_usd * index + self.state_usd) / self.start_budget_usd
        compute_ratio = np.maximum(levers.compute_access[r], 1e-6) / np.maximum(self.start_compute, 1e-6)
        funded = self.base_posts * self.budget_ratio**self.funding_elasticity * compute_ratio**self.compute_elasticity
        self.posts = funded + self.targeted
        return self.posts

    def funding_per_researcher(self) -> np.ndarray:
        """Return research funding per researcher (USD/year): the part of budget changes that posts do not take."""
        return self.start_funding_per_researcher * self.budget_ratio ** (1.0 - self.funding_elasticity)

    def add_targeted(self, employer: np.ndarray, weight: np.ndarray) -> None:
        """Add the posts that accepted targeted offers bring (``weight`` model researchers each)."""
        added = np.bincount(employer, weights=weight, minlength=len(self.targeted))
        self.targeted += added
        self.posts = self.posts + added
