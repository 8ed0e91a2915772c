"""Regenerate the README's figure gallery (docs/figures/*.png and compare.csv) in one command.

From the repository root, in the environment where talentsim is installed:

    python docs/figures/gallery.py                 # about a minute and a half on 2 cores
    python docs/figures/gallery.py --grey /tmp/g   # also write a greyscale rendering of each figure to check

It runs the baseline and docs/figures/us_visa_cut.yaml (10 replicates each, 20,000 researchers, the same root
seed, so the comparison is paired), draws every run figure of us_visa_cut (identical to the baseline until its
policy change in January 2025, which the figures mark) and the two comparison figures, at 150 dpi.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulation.cli import main as talentsim

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def regenerate(results: Path, grey: Path | None) -> None:
    baseline, cut = results / "baseline", results / "us_visa_cut"
    steps = [
        ["run", str(ROOT / "scenarios" / "baseline.yaml"), "--out", str(baseline), "--replicates", "10",
         "--no-figures", "--quiet"],
        ["run", str(HERE / "us_visa_cut.yaml"), "--out", str(cut), "--replicates", "10", "--no-figures", "--quiet"],
        ["plot", str(cut), "--out", str(HERE), "--format", "png", "--dpi", "150"],
        ["compare", str(baseline), str(cut), "--at", "2030", "--out", str(HERE), "--format", "png", "--dpi", "150",
         "--quiet"],
    ]
    for args in steps:
        print("talentsim " + " ".join(args), flush=True)
        code = talentsim(args)
        if code != 0:
            sys.exit(code)
    if grey is not None:
        from PIL import Image

        grey.mkdir(parents=True, exist_ok=True)
        for path in sorted(HERE.glob("*.png")):
            Image.open(path).convert("L").save(grey / path.name)
            print(f"greyscale: {grey / path.name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate the README's figure gallery.")
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "gallery",
                        help="folder for the two runs (default results/gallery)")
    parser.add_argument("--grey", type=Path, help="also write greyscale renderings of the figures here")
    options = parser.parse_args()
    regenerate(options.results, options.grey)
