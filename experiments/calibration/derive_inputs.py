"""Derive the baseline's evidence-based inputs and mapped targets from the figures in EVIDENCE.md, reproducibly.

    python experiments/calibration/derive_inputs.py            # print the derivation
    python experiments/calibration/derive_inputs.py --write    # also write derived_inputs.yaml beside this file

What it derives (every number below is either an EVIDENCE figure, with its code, or a stated assumption):

1. **Quality distributions by origin** (``population.quality_by_origin``): per origin, a shift of the mean of
   ln quality and its sigma, such that the origin mix of the top 20% is B1's and that of the top 1% (the elite)
   is A9's, given the origin shares of all researchers. In z-units each origin's share above the top-tier and
   elite thresholds fixes the two quantiles of its distribution, so sigma and shift follow in closed form; the
   location and scale are fixed by keeping the population's mean shift 0 and its mean sigma ``quality_sigma``.
   With all-researcher origin shares equal to B1 (the world's assumption), origins differ only above the top
   tier: China's thinner upper tail is what A9's 10% elite share against B1's 29% top-tier share says.
2. **Graduate origin mix by year** (``levers.pipeline.origin_mix``) from B8: China-trained and US-trained STEM
   PhDs 2019 and 2025 (growth in between geometric), Chinese students' share of US-trained PhDs, and Europe's
   and the rest of the world's graduates held in their B1 proportion to US-origin graduates and growing at the
   US rate (assumptions: EVIDENCE has no counts for them). The mix holds after 2025, the last figure.
3. **Mapped targets**: MacroPolo's categories onto the model's four regions (A1, A3, A9), as in targets.yaml.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from statistics import NormalDist

HERE = Path(__file__).resolve().parent
REGIONS = ("US", "China", "Europe", "RoW")

# ---- EVIDENCE figures (codes as in EVIDENCE.md)
B1_TOP_TIER_ORIGIN = {"China": 0.29, "US": 0.20, "Europe excl. UK": 0.18, "India": 0.08, "Canada": 0.05, "UK": 0.04,
                      "Iran": 0.03, "Israel": 0.03}
A1_WORK_2019 = {"US": 0.59, "China": 0.11, "Europe excl. UK": 0.10, "UK": 0.04, "Canada": 0.06}  # rest about 10%
A3_US_BASED_ORIGIN = {"US": 0.31, "China": 0.27, "India": 0.11, "Europe": 0.11}
A9_ELITE_ORIGIN = {"US": 0.35, "India": 0.12, "China": 0.10, "Israel": 0.07, "France": 0.06}  # top five listed
A9_ELITE_WORK = {"US": 0.65, "Canada": 0.10, "France": 0.08}  # top three listed
B8_PHDS = {"China": {2019: 49_498, 2025: 77_179}, "US": {2019: 33_759, 2025: 39_959}}
B8_US_INTERNATIONAL = 0.42  # share of US STEM PhDs who are international

# ---- stated assumptions
CHINESE_SHARE_OF_US_INTERNATIONAL = 1 / 3  # China is the largest origin of US temporary-visa S&E doctorates (NSF SED)
ELITE_CHINA_WORK = 0.03  # A9: China not among the top three work locations (below 8%); 2018 China-born orals all in US
TOP_TIER_QUANTILE, ELITE_QUANTILE = 0.80, 0.99
QUALITY_SIGMA = 1.0


def bloc(shares: dict[str, float]) -> dict[str, float]:
    """Return listed countries' shares summed into the model's blocs (unlisted countries not included)."""
    where = {"US": "US", "China": "China", "Europe": "Europe", "Europe excl. UK": "Europe", "UK": "Europe",
             "France": "Europe", "India": "RoW", "Canada": "RoW", "Iran": "RoW", "Israel": "RoW"}
    out = dict.fromkeys(REGIONS, 0.0)
    for country, share in shares.items():
        out[where[country]] += share
    return out


def split_rest(listed: dict[str, float], weights: dict[str, float]) -> dict[str, float]:
    """Return ``listed`` bloc shares with the unlisted remainder split between Europe and RoW by ``weights``."""
    rest = 1.0 - sum(listed.values())
    total = weights["Europe"] + weights["RoW"]
    out = dict(listed)
    out["Europe"] += rest * weights["Europe"] / total
    out["RoW"] += rest * weights["RoW"] / total
    return out


def mapped_targets() -> dict[str, dict[str, float]]:
    """Return the section-A figures on the model's regions."""
    b1 = bloc(B1_TOP_TIER_ORIGIN)
    b1["RoW"] = 1 - b1["US"] - b1["China"] - b1["Europe"]  # B1's unlisted 10% are outside Europe (assumption)
    a1 = bloc(A1_WORK_2019)
    a1["RoW"] = 1 - a1["US"] - a1["China"] - a1["Europe"]
    a3 = bloc(A3_US_BASED_ORIGIN)
    a3["RoW"] = 1 - a3["US"] - a3["China"] - a3["Europe"]
    # A9 origin: the unlisted 30 points split as B1's Europe and rest of world, less the countries A9 lists there
    # (B1 lists India and Israel; it gives no figure for France).
    listed = bloc(A9_ELITE_ORIGIN)
    a9_origin = split_rest(listed, {"Europe": b1["Europe"], "RoW": b1["RoW"] - 0.08 - 0.03})
    # A9 work: China assumed 3%; the rest split as A1's Europe : rest of world excl. Canada.
    listed = {**bloc(A9_ELITE_WORK), "China": ELITE_CHINA_WORK}
    a9_work = split_rest(listed, {"Europe": a1["Europe"], "RoW": a1["RoW"] - 0.06})
    return {"B1 top-tier origin": b1, "A1 top-tier work 2019": a1, "A3 origin of US-based top tier": a3,
            "A9 elite origin": a9_origin, "A9 elite work": a9_work}


def quality_by_origin(population: dict[str, float], top: dict[str, float], elite: dict[str, float]) -> dict[str, dict[str, float]]:
    """Return per origin the shift of mean ln quality and its sigma giving ``top`` and ``elite`` origin mixes."""
    norm = NormalDist()
    z_top = {o: norm.inv_cdf(1 - top[o] * (1 - TOP_TIER_QUANTILE) / population[o]) for o in REGIONS}
    z_elite = {o: norm.inv_cdf(1 - elite[o] * (1 - ELITE_QUANTILE) / population[o]) for o in REGIONS}
    unit = {o: 1.0 / (z_elite[o] - z_top[o]) for o in REGIONS}  # sigma per unit gap between the two thresholds
    gap = QUALITY_SIGMA / sum(population[o] * unit[o] for o in REGIONS)  # mean sigma = QUALITY_SIGMA
    sigma = {o: gap * unit[o] for o in REGIONS}
    top_threshold = sum(population[o] * sigma[o] * z_top[o] for o in REGIONS)  # mean shift = 0
    return {o: {"log_mean": round(top_threshold - sigma[o] * z_top[o], 4), "sigma": round(sigma[o], 4)} for o in REGIONS}


def check(population: dict[str, float], quality: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Return the top-tier and elite origin mixes the derived distributions give (by bisection on the mixture)."""
    norm = NormalDist()

    def above(t: float) -> dict[str, float]:
        return {o: population[o] * (1 - norm.cdf((t - quality[o]["log_mean"]) / quality[o]["sigma"])) for o in REGIONS}

    out = {}
    for name, share in (("top tier", 1 - TOP_TIER_QUANTILE), ("elite", 1 - ELITE_QUANTILE)):
        low, high = -10.0, 10.0
        for _ in range(100):
            mid = (low + high) / 2
            low, high = (mid, high) if sum(above(mid).values()) > share else (low, mid)
        mass = above(low)
        out[name] = {o: round(mass[o] / sum(mass.values()), 4) for o in REGIONS}
    return out


def graduate_origin_mix() -> dict[int, dict[str, float]]:
    """Return the origin mix of entering graduates by year, 2019-2025, from B8 (and the stated assumptions)."""
    b1 = mapped_targets()["B1 top-tier origin"]
    out = {}
    for year in range(2019, 2026):
        f = (year - 2019) / 6

        def phds(country: str) -> float:
            first, last = B8_PHDS[country][2019], B8_PHDS[country][2025]
            return first * (last / first) ** f

        us_trained, china_trained = phds("US"), phds("China")
        us_origin = (1 - B8_US_INTERNATIONAL) * us_trained
        counts = {
            "China": china_trained + CHINESE_SHARE_OF_US_INTERNATIONAL * B8_US_INTERNATIONAL * us_trained,
            "US": us_origin,
            "Europe": us_origin * b1["Europe"] / b1["US"],
            "RoW": us_origin * b1["RoW"] / b1["US"],
        }
        total = sum(counts.values())
        out[year] = {o: round(counts[o] / total, 4) for o in REGIONS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write derived_inputs.yaml beside this script")
    args = parser.parse_args()
    targets = mapped_targets()
    population = targets["B1 top-tier origin"]  # assumption of the 2019 world: all researchers' origin mix = B1's
    quality = quality_by_origin(population, targets["B1 top-tier origin"], targets["A9 elite origin"])
    mix = graduate_origin_mix()
    print("Mapped targets (model regions):")
    for name, shares in targets.items():
        print(f"  {name:<32} " + "  ".join(f"{o} {shares[o]:.3f}" for o in REGIONS))
    print("Quality by origin (ln quality: shift of the mean, sigma):")
    for o in REGIONS:
        print(f"  {o:<7} shift {quality[o]['log_mean']:+.3f}  sigma {quality[o]['sigma']:.3f}")
    for name, shares in check(population, quality).items():
        print(f"  check, origin mix of the {name}: " + "  ".join(f"{o} {shares[o]:.3f}" for o in REGIONS))
    print("Graduate origin mix (B8):")
    for year, shares in mix.items():
        print(f"  {year}: " + "  ".join(f"{o} {shares[o]:.3f}" for o in REGIONS))
    if args.write:
        import yaml

        text = (
            "# Written by experiments/calibration/derive_inputs.py --write: do not edit by hand.\n"
            + yaml.safe_dump({
                "origin_shares": {o: round(population[o], 4) for o in REGIONS},
                "quality_by_origin": quality,
                "origin_mix": [{"from": f"{y}-01", "value": m} for y, m in mix.items()],
                "mapped_targets": {k: {o: round(v[o], 4) for o in REGIONS} for k, v in targets.items()},
            }, sort_keys=False, default_flow_style=None, width=110)
        )
        (HERE / "derived_inputs.yaml").write_text(text, encoding="utf-8")
        print(f"Wrote {HERE / 'derived_inputs.yaml'}")


if __name__ == "__main__":
    main()
