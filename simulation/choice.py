"""Choice: the alternatives researchers weigh in a step, what each is worth to them, and the logit choice.

Targeted offers (signing bonuses, return-programme packages) are few and kept as rows (``Offers``). The
alternatives of a search are many and alike (staying, plus ``search.offers_per_search`` offers from employers
with vacancies), so they form a dense block (``ChoiceSets``) with one column per deciding researcher and one
row per slot, slot 0 being staying. A researcher's attributes are gathered once per column and broadcast down
it, and the choice is a maximum down each column: the same multinomial logit as a maximum over rows grouped by
researcher, at a fraction of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .market import OfferKind, best_row, choose_best, offer_utility

__all__ = [
    "ChoiceSets", "Deciders", "Offers", "PostTables", "feasible", "join_cost_table", "lever_tables", "score_choice_sets",
    "utility",
]


def _take_fields(obj, index, skip=()):
    return {f.name: getattr(obj, f.name)[index] for f in fields(obj) if f.name not in skip}


def _positions(index: np.ndarray) -> np.ndarray:
    """Return ``index`` as positions: several arrays are gathered far faster by positions found once than each
    by a scattered boolean mask."""
    return np.flatnonzero(index) if index.dtype == bool else index


@dataclass
class Offers:
    """Alternatives as rows, one per offer (or per stay, where a row says so through ``kind``)."""

    researcher: np.ndarray  # int64 row in the population
    employer: np.ndarray  # int16; -1 for staying without a post
    region: np.ndarray  # int8
    bonus_usd: np.ndarray  # float64, signing bonus or return package
    kind: np.ndarray  # int8, OfferKind
    policy: np.ndarray  # int16, index of the targeted-offer policy that made it; -1 for staying and vacancies
    score: np.ndarray | None = None  # utility plus Gumbel noise, once evaluated

    @classmethod
    def empty(cls) -> Offers:
        return cls(
            np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0, np.int8), np.empty(0), np.empty(0, np.int8),
            np.empty(0, np.int16), np.empty(0),
        )

    @classmethod
    def concat(cls, parts: list[Offers]) -> Offers:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        has_score = all(p.score is not None for p in parts)
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls) if f.name != "score"),
            score=np.concatenate([p.score for p in parts]) if has_score else None,
        )

    def take(self, index: np.ndarray) -> Offers:
        """Return the rows that ``index`` (a mask or row numbers) selects."""
        index = _positions(index)
        return Offers(
            **_take_fields(self, index, skip=("score",)), score=None if self.score is None else self.score[index]
        )

    def __len__(self) -> int:
        return len(self.researcher)


@dataclass
class Deciders:
    """The researchers deciding this step, with the attributes their choice depends on, one entry each."""

    row: np.ndarray  # int64, row in the population (ascending)
    origin: np.ndarray  # int64
    region: np.ndarray  # int64
    employer: np.ndarray  # int64; -1 without a post
    quality_pay: np.ndarray  # quality ** market.pay_quality_elasticity
    vesting_usd: np.ndarray  # USD/year of a signing bonus still vesting, paid only by staying
    permanent: np.ndarray  # bool: holds permanent status in the current region (no visa needed there)
    bound: np.ndarray  # bool: an exit restriction keeps the researcher in the region
    b_pay: np.ndarray  # float64 preference weights
    b_impact: np.ndarray
    b_home: np.ndarray
    b_net: np.ndarray

    def take(self, index: np.ndarray) -> Deciders:
        """Return the deciders (or repeats of them) that ``index`` selects."""
        return Deciders(**_take_fields(self, _positions(index)))

    def __len__(self) -> int:
        return len(self.row)


@dataclass
class ChoiceSets:
    """The alternatives of every deciding researcher.

    ``employer``, ``region`` and ``score`` are (slots, deciders) arrays: slot 0 is staying (the current employer,
    -1 without a post), the others are the offers a search found. An offer that cannot be taken scores -inf.
    ``targeted`` holds the signing-bonus and return offers the deciders received, as rows, with
    ``targeted_decider`` the column of each.
    """

    deciders: Deciders
    employer: np.ndarray  # (slots, deciders) int16
    region: np.ndarray  # (slots, deciders) int8
    score: np.ndarray  # (slots, deciders) float64: utility plus Gumbel noise; -inf if not available
    targeted: Offers  # with score
    targeted_decider: np.ndarray  # int64 column of each targeted offer

    def __len__(self) -> int:
        return len(self.deciders)

    @property
    def slots(self) -> int:
        return len(self.score)

    def choose(self) -> np.ndarray:
        """Return each decider's highest-scoring alternative (ties: the later one).

        A value below ``slots`` is a slot of the dense block; ``slots + t`` is targeted offer ``t``.
        """
        choice = best_row(self.score)
        if len(self.targeted):
            best = np.take_along_axis(self.score, choice[None, :], axis=0)[0]
            rows = choose_best(self.targeted.score, self.targeted_decider)
            column = self.targeted_decider[rows]
            better = self.targeted.score[rows] >= best[column]
            choice[column[better]] = self.slots + rows[better]
        return choice

    def picked(self, choice: np.ndarray, columns: np.ndarray | None = None) -> Offers:
        """Return the chosen alternative of each decider, or of the deciders at ``columns``, as rows (staying
        included)."""
        if columns is not None:
            choice = choice[columns]
        n = len(choice)
        dense = choice < self.slots
        column = np.flatnonzero(dense) if columns is None else columns[dense]
        slot = choice[dense]
        employer = np.empty(n, dtype=np.int16)
        region = np.empty(n, dtype=np.int8)
        bonus = np.zeros(n)
        kind = np.empty(n, dtype=np.int8)
        policy = np.full(n, -1, dtype=np.int16)
        flat = slot * len(self) + column  # position in the (slots, deciders) blocks
        employer[dense] = np.take(self.employer, flat)
        region[dense] = np.take(self.region, flat)
        kind[dense] = np.where(slot == 0, OfferKind.STAY, OfferKind.VACANCY)
        if not dense.all():
            t = choice[~dense] - self.slots
            employer[~dense] = self.targeted.employer[t]
            region[~dense] = self.targeted.region[t]
            bonus[~dense] = self.targeted.bonus_usd[t]
            kind[~dense] = self.targeted.kind[t]
            policy[~dense] = self.targeted.policy[t]
        row = self.deciders.row if columns is None else self.deciders.row[columns]
        return Offers(row, employer, region, bonus, kind, policy)

    def after_rejection(self, rejected: np.ndarray, choice: np.ndarray, vacancies: np.ndarray) -> ChoiceSets:
        """Return the choice sets of the ``rejected`` deciders for another round of choice.

        The offer each chose is withdrawn, and so are the offers of employers with no vacancies left; deciders
        with nothing left but staying drop out.
        """
        if not vacancies.any():
            rejected = np.zeros_like(rejected)  # every employer is full: nothing is left to choose
        slots = self.slots
        column = np.flatnonzero(rejected)
        chose = choice[column]
        dense = chose < slots
        employer = np.take(self.employer, column, axis=1)  # np.take: much faster than [:, column]
        # The offers still open: available (finite score), not the one chosen, from an employer with vacancies left.
        # Found from flags, so only the deciders left with an open offer have their scores copied.
        open_ = np.take(np.isfinite(self.score[1:]), column, axis=1)
        open_ &= vacancies[employer[1:]] > 0
        withdrawn = chose[dense]
        open_[withdrawn[withdrawn > 0] - 1, np.flatnonzero(dense)[withdrawn > 0]] = False

        keep = rejected[self.targeted_decider]  # targeted offers bring their own post
        keep[chose[~dense] - slots] = False
        targeted = self.targeted.take(keep)
        targeted_decider = (np.cumsum(rejected) - 1)[self.targeted_decider[keep]]

        open_offer = np.zeros(len(column), dtype=bool)
        for offer in open_:  # slot by slot: faster than a reduction down the columns
            open_offer |= offer
        open_offer[targeted_decider] = True
        renumber = np.cumsum(open_offer) - 1
        still = np.flatnonzero(open_offer)
        column, chose, dense, employer = column[still], chose[still], dense[still], np.take(employer, still, axis=1)
        score = np.take(self.score, column, axis=1)
        score[chose[dense], np.flatnonzero(dense)] = -np.inf
        score[1:].reshape(-1)[np.flatnonzero(vacancies[employer[1:]] <= 0)] = -np.inf  # a view: score is a copy
        return ChoiceSets(
            self.deciders.take(column),
            employer,
            np.take(self.region, column, axis=1),
            score,
            targeted,
            renumber[targeted_decider],
        )

    def alternatives(self) -> Offers:
        """Return every available alternative as rows, stays first (for inspection and checks, not the step)."""
        slot, column = np.nonzero(np.isfinite(self.score))
        order = np.lexsort((column, slot))
        slot, column = slot[order], column[order]
        dense = Offers(
            researcher=self.deciders.row[column],
            employer=self.employer[slot, column],
            region=self.region[slot, column],
            bonus_usd=np.zeros(len(slot)),
            kind=np.where(slot == 0, OfferKind.STAY, OfferKind.VACANCY).astype(np.int8),
            policy=np.full(len(slot), -1, dtype=np.int16),
            score=self.score[slot, column],
        )
        return Offers.concat([dense, self.targeted])


# ------------------------------------------------------------------------------------------------------------
# Scoring choice sets through lookup tables


@dataclass(frozen=True)
class PostTables:
    """What an alternative is worth and whether it can be taken, by post.

    A post is an employer (codes 0 to employers - 1) or staying without a research post in a region
    (employers + region). Tables over (post, origin, ...) are flattened in that order.
    """

    n_regions: int
    pay_usd: np.ndarray  # (employers,) median pay, after the pay multiplier
    unplaced_pay_usd: np.ndarray  # (regions,) pay outside research posts
    impact: np.ndarray  # (posts,) research impact
    home: np.ndarray  # (posts, origin): 1 where the post is in the origin region
    network: np.ndarray  # (posts, origin): ln(1 + co-nationals there)
    cost: np.ndarray  # (posts, origin, current region, flag): flag 2 x changing employer + permanent status
    odds: np.ndarray  # (posts, origin, current region, bound): a lottery number below it wins the offer
    join_cost: np.ndarray | None = None  # (posts, current region): cost of joining where an exit restriction binds


def lever_tables(
    post_region: np.ndarray,
    *,
    visa_friction: np.ndarray,
    climate: np.ndarray,
    visa_odds: np.ndarray,
    move_cost_region: float,
    move_cost_employer: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the tables of ``PostTables`` that depend on levers and fixed settings only: cost, odds, home.

    ``climate`` and ``visa_odds`` are (destination, origin). The odds are 1 where no visa is needed and 0 where
    an exit restriction binds the decider to the current region (the last index, 1 if bound); the caller
    zeroes those of employers without vacancies.
    """
    n = len(visa_friction)
    r = post_region[:, None, None]  # the post's region
    o = np.arange(n)[None, :, None]  # the decider's origin
    h = np.arange(n)[None, None, :]  # the decider's current region
    moving = r != h
    at_home = r == o
    cost = np.stack(
        [
            move_cost_region * moving
            + move_cost_employer * (~moving & changing)
            + visa_friction[r] * (~at_home & ~(~moving & permanent))
            + climate[r, o]
            for changing in (False, True)
            for permanent in (False, True)
        ],
        axis=-1,
    )
    odds = np.where(moving & ~at_home, visa_odds[r, o], 1.0)
    odds = np.stack([odds, np.where(moving, 0.0, odds)], axis=-1)
    return cost.ravel(), odds.ravel(), at_home[:, :, 0].ravel().astype(float)


def score_choice_sets(who: Deciders, employer: np.ndarray, lottery: np.ndarray, tables: PostTables) -> np.ndarray:
    """Return the systematic utility of each decider's alternatives (slots x deciders), -inf where infeasible.

    ``employer`` is the choice sets' block: slot 0 staying (-1 without a post), the others the offers a search
    found; ``lottery`` has one uniform number per offer (slots 1 on). The utility is
    ``b_pay ln(pay) + b_impact impact + b_home [home] + b_net network - cost``, as ``market.offer_utility``;
    an offer can be taken when its employer is another one with a vacancy, its lottery number wins the visa
    odds and no exit restriction binds a move out of the region. Staying is always possible.
    """
    n = tables.n_regions
    n_employers = len(tables.pay_usd)
    placed = who.employer >= 0
    # In-place operations throughout: fresh temporaries of this size cost more than the arithmetic. Takes into
    # ``out`` use mode="clip" (the indices are valid by construction): the default mode would buffer the result.
    post = employer.astype(np.int64)
    post[0] = np.where(placed, who.employer, n_employers + who.region)
    offers = post[1:]
    ok = offers != who.employer

    utility = np.empty(post.shape)
    np.take(np.log(np.maximum(tables.pay_usd, 1.0)), offers, out=utility[1:], mode="clip")
    utility[1:] += np.log(who.quality_pay)
    # Staying pays any bonus still vesting, and pay outside research posts does not scale with quality.
    stay_pay = np.where(placed, tables.pay_usd[who.employer] * who.quality_pay, tables.unplaced_pay_usd[who.region])
    stay_pay += who.vesting_usd
    utility[0] = np.log(np.maximum(stay_pay, 1.0))
    utility *= who.b_pay
    term = np.take(tables.impact, post)
    term *= who.b_impact
    utility += term
    join = None
    if tables.join_cost is not None:
        join = np.take(tables.join_cost, offers * n + who.region)
    # The posts become the tables' index, refined in place: (post, origin), then (post, origin, current region),
    # then with the flags of each table.
    index = post
    index *= n
    index += who.origin
    np.take(tables.home, index, out=term, mode="clip")
    term *= who.b_home
    utility += term
    np.take(tables.network, index, out=term, mode="clip")
    term *= who.b_net
    utility += term
    index *= n
    index += who.region
    offered = index[1:]
    offered *= 2
    offered += who.bound  # (post, origin, current region, bound): the odds
    np.take(tables.odds, offered, out=term[1:], mode="clip")
    ok &= lottery < term[1:]
    offered -= who.bound
    offered *= 2
    index[0] *= 4
    index += who.permanent
    offered += 2 * placed  # staying is not changing employer; (post, origin, current region, flag): the cost
    np.take(tables.cost, index, out=term, mode="clip")
    utility -= term
    if join is not None:
        utility[1:] -= join
    # Through the positions of the infeasible offers: faster than a boolean mask assignment.
    utility[1:].reshape(-1)[np.flatnonzero(~ok)] = -np.inf
    return utility


def join_cost_table(post_region: np.ndarray, bound_post: np.ndarray, bound_region: np.ndarray, aversion: float) -> np.ndarray:
    """Return the utility cost of joining each post from each current region where exit restrictions bind.

    Joining a restricted employer costs ``aversion`` x its restriction share; moving into a restricted region
    costs ``aversion`` x the region's share; where both apply, the larger. (posts x current region, flattened.)
    """
    moving = post_region[:, None] != np.arange(len(bound_region))[None, :]
    share = np.maximum(bound_post[:, None], bound_region[post_region][:, None] * moving)
    return (aversion * share).ravel()


def utility(model, who: Deciders, employer: np.ndarray, region: np.ndarray, *, staying: bool = False,
            bonus_usd: np.ndarray | None = None) -> np.ndarray:
    """Return the systematic utility of alternatives for the deciders ``who`` (the general form).

    ``employer`` and ``region`` have the deciders' shape or (slots, deciders). ``staying`` says they are the
    deciders' current posts (a stay pays any bonus still vesting and costs nothing to join); ``bonus_usd`` is each
    offer's signing bonus or return package. ``score_choice_sets`` computes the same for a step's choice sets, faster.
    """
    mkt = model.market
    cfg = model.config
    prefs = cfg.preferences
    levers = model.levers
    pay = mkt.pay_usd_median[employer] * who.quality_pay
    impact = mkt.impact[employer]
    placed = employer >= 0
    if not placed.all():  # staying without a post: the region's pay and impact outside research posts
        pay = np.where(placed, pay, model.unplaced_pay[region])
        impact = np.where(placed, impact, model.unplaced_impact[region])
    if bonus_usd is not None:
        pay += bonus_usd / cfg.market.bonus_amortisation_years
    if staying:
        pay += who.vesting_usd
    moving = region != who.region
    changing_employer = ~moving & (who.employer >= 0) & (not staying)
    permanent = ~moving & who.permanent
    at_home = region == who.origin
    cost = (
        prefs.move_cost_region * moving
        + prefs.move_cost_employer * changing_employer
        + model.visa_friction[region] * (~at_home & ~permanent)
        + levers.climate[region, who.origin]
    )
    if not staying and levers.restricted:
        bound_post = np.append(levers.bound_employer, 0.0)[employer]
        cost = cost + prefs.restriction_aversion * np.maximum(bound_post, levers.bound_region[region] * moving)
    return offer_utility(
        b_pay=who.b_pay,
        b_impact=who.b_impact,
        b_home=who.b_home,
        b_net=who.b_net,
        pay_usd=pay,
        impact=impact,
        at_home=at_home,
        network=model.network[who.origin, region],
        cost=cost,
    )


def feasible(model, who: Deciders, employer: np.ndarray, region: np.ndarray, lottery: np.ndarray, *,
             targeted: bool = False) -> np.ndarray:
    """Return which offers can be taken: another employer, visa granted, no exit restriction binding.

    Ordinary offers need an open vacancy and cross borders through the general visa lottery; targeted offers
    bring their own post and cross on the talent-visa route. Arrays have the deciders' shape or (slots, deciders).
    """
    levers = model.levers
    ok = employer != who.employer
    if not targeted:
        ok &= model.market.vacancies[employer] > 0
    odds = levers.talent_visa_odds if targeted else levers.visa_odds
    needs_visa = (region != who.region) & (region != who.origin)
    ok &= ~needs_visa | (lottery < odds[region, who.origin])
    ok &= ~(who.bound & (region != who.region))
    return ok
