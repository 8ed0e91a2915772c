"""One figure style: fixed region colours from a colour-blind-safe palette, sizes for a report column."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; library code never opens a window

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["COLUMN_WIDTH_IN", "DPI", "add_caption", "new_figure", "region_colours", "styled"]

# Okabe & Ito (2008) palette, safe for the common forms of colour blindness.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
FIXED = {"US": "#0072B2", "China": "#D55E00", "Europe": "#009E73", "RoW": "#7F7F7F", "UK": "#56B4E9",
         "Canada": "#CC79A7", "India": "#E69F00"}
COLUMN_WIDTH_IN = 6.5
DPI = 200

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
}


def region_colours(regions: list[str]) -> dict[str, str]:
    """Return a colour for each region: fixed for the usual regions, then the rest of the palette in order."""
    free = [c for c in OKABE_ITO if c not in FIXED.values()] + [c for c in OKABE_ITO if c in FIXED.values()]
    out = {}
    for region in regions:
        if region in FIXED and FIXED[region] not in out.values():
            out[region] = FIXED[region]
    for region in regions:
        if region not in out:
            out[region] = next((c for c in free if c not in out.values()), "#333333")
    return out


def styled(function):
    """Draw the decorated figure function under the house style."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return function(*args, **kwargs)

    return wrapper


def new_figure(height_in: float = 3.6, width_in: float = COLUMN_WIDTH_IN, **subplots):
    """Return a new (figure, axes) sized for a report column."""
    return plt.subplots(figsize=(width_in, height_in), layout="constrained", **subplots)


def add_caption(fig, text: str) -> None:
    """Write a source line under the figure."""
    fig.get_layout_engine().set(h_pad=0.1)
    fig.supxlabel(text, fontsize=7, color="#555555", x=0.0, ha="left")
