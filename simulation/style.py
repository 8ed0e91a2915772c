"""One figure style: fixed region colours from colour-blind-safe palettes, sizes for a report column.

Every figure function draws under :func:`styled`, sizes itself with :func:`new_figure`, puts its legend with
:func:`figure_legend` (below the axes, never to the side, so the figure keeps the column width) and its caption with
:func:`add_caption` (wrapped to the figure width, under everything else).
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Iterable, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; library code never opens a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, PercentFormatter  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

__all__ = [
    "CAPTION_FONTSIZE",
    "COLUMN_WIDTH_IN",
    "DPI",
    "NEUTRAL",
    "SCENARIO_LINESTYLES",
    "add_caption",
    "add_title",
    "body",
    "display_name",
    "label_line_ends",
    "mark_policy_changes",
    "region_styles",
    "shade_fitted_period",
    "caption_of",
    "figure_legend",
    "new_figure",
    "percent_axis",
    "region_colours",
    "scenario_linestyles",
    "styled",
    "title_of",
    "wrap_text",
    "year_axis",
]

# Okabe & Ito (2008) palette, safe for the common forms of colour blindness.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
# Paul Tol's "muted" scheme (also colour-blind safe), for regions beyond the usual ones.
TOL_MUTED = ("#332288", "#882255", "#44AA99", "#999933", "#AA4499", "#117733", "#661100", "#88CCEE", "#DDCC77")
# The usual regions always get the same colour, whichever scenario or figure they appear in.
FIXED = {
    "US": "#0072B2",
    "China": "#D55E00",
    "Europe": "#009E73",
    "RoW": "#7F7F7F",
    "UK": "#56B4E9",
    "Canada": "#CC79A7",
    "India": "#E69F00",
    "unplaced": "#A0A0A0",  # researchers without a research post: a neutral grey, not a region's colour
}
NEUTRAL = "#222222"  # totals, published reference points, the baseline in comparisons
MUTED_TEXT = "#555555"
SCENARIO_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2, 4, 2)))

COLUMN_WIDTH_IN = 6.5  # a report column (US letter or A4 with 1-inch margins)
DPI = 300  # print resolution for PNG
CAPTION_FONTSIZE = 7.5

RC = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.titleweight": "normal",
    "axes.labelsize": 9,
    "figure.titlesize": 10.5,
    "figure.titleweight": "bold",
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "pdf.fonttype": 42,  # TrueType in PDF: text stays selectable and looks the same everywhere
}
SAVE_RC = {"pdf.fonttype": 42, "svg.fonttype": "path"}  # read when saving, so set by save_figure


def region_colours(regions: Iterable[str]) -> dict[str, str]:
    """Return a colour for each region id.

    The usual regions (US, China, Europe, RoW, UK, Canada, India) always get their fixed colour; any other region
    gets a colour from a second colour-blind-safe palette chosen by its name, so it keeps that colour in every
    figure and every scenario (unless two unusual regions of one scenario collide, when the later one moves on).
    """
    regions = list(dict.fromkeys(regions))
    out: dict[str, str] = {}
    for region in regions:
        if region in FIXED:
            out[region] = FIXED[region]
    spare = list(TOL_MUTED) + [c for c in OKABE_ITO if c not in FIXED.values() and c != "#F0E442"]
    for region in regions:
        if region in out:
            continue
        start = zlib.crc32(region.encode()) % len(TOL_MUTED)
        order = spare[start:len(TOL_MUTED)] + spare[:start] + spare[len(TOL_MUTED):]
        out[region] = next((c for c in order if c not in out.values()), "#333333")
    return out


# Regions are told apart by a marker and a line style as well as by colour, so lines stay distinguishable in
# greyscale print. The usual regions keep theirs everywhere; others get the next unused pair.
FIXED_STYLES = {
    "US": ("-", "o"),
    "China": ((0, (5, 2)), "s"),
    "Europe": ((0, (1, 1.5)), "^"),
    "RoW": ((0, (6, 1.5, 1, 1.5)), "D"),
    "UK": ((0, (3, 1, 1, 1, 1, 1)), "v"),
    "Canada": ((0, (8, 2)), "P"),
    "India": ((0, (2, 2)), "X"),
    "unplaced": ((0, (1, 2)), "x"),
}
SPARE_STYLES = (("-", "h"), ((0, (5, 2)), "*"), ((0, (1, 1.5)), "p"), ((0, (6, 1.5, 1, 1.5)), "<"),
                ((0, (3, 1, 1, 1)), ">"), ((0, (8, 2)), "d"))
UNPLACED = "unplaced"  # researchers without a research post: a category of their own, not a region


def region_styles(regions: Iterable[str]) -> dict[str, dict]:
    """Return line keyword arguments (colour, line style, marker) for each region id or category.

    Colour alone fails in greyscale: each region also has its own marker and dash pattern.
    """
    regions = list(dict.fromkeys(regions))
    colours = region_colours(regions)
    used: set[int] = set()
    out = {}
    for region in regions:
        if region in FIXED_STYLES:
            ls, marker = FIXED_STYLES[region]
        else:
            index = next((i for i in range(len(SPARE_STYLES)) if i not in used), len(used) % len(SPARE_STYLES))
            used.add(index)
            ls, marker = SPARE_STYLES[index]
        out[region] = {"color": colours[region], "ls": ls, "marker": marker}
    return out


def display_name(identifier: str) -> str:
    """Return a scenario or other identifier as words for titles and legends: 'us_visa_cut' -> 'US visa cut'."""
    known = {"us": "US", "uk": "UK", "eu": "EU", "ai": "AI", "row": "RoW", "phd": "PhD", "h1b": "H-1B",
             "china": "China", "india": "India", "europe": "Europe", "canada": "Canada"}
    words = [w for w in identifier.replace("-", "_").split("_") if w]
    if not words:
        return identifier
    out = [known.get(w.lower(), w) for w in words]
    first = out[0]
    out[0] = first if first in known.values() or not first.islower() else first.capitalize()
    return " ".join(out)


def _spread(positions: list[float], gap: float, low: float, high: float) -> list[float]:
    """Return ``positions`` moved apart so neighbours are at least ``gap`` apart, kept within [low, high]."""
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    placed = [positions[i] for i in order]
    for _ in range(50):
        moved = False
        for k in range(1, len(placed)):
            if placed[k] - placed[k - 1] < gap - 1e-12:
                middle = (placed[k] + placed[k - 1]) / 2
                placed[k - 1], placed[k] = middle - gap / 2, middle + gap / 2
                moved = True
        if placed and placed[0] < low:
            shift = low - placed[0]
            placed = [p + shift for p in placed]
        if placed and placed[-1] > high:
            shift = placed[-1] - high
            placed = [p - shift for p in placed]
        if not moved:
            break
    out = [0.0] * len(positions)
    for k, i in enumerate(order):
        out[i] = placed[k]
    return out


def label_line_ends(ax, ends: Sequence[tuple[float, float, str, str]], *, fontsize: float = 7.5,
                    room: float = 0.16) -> None:
    """Write a label at the right end of each line: ``ends`` holds (x, y, text, colour).

    The x axis is widened by ``room`` of its span to make space; labels that would overlap are moved apart
    vertically, with a thin leader to their line's end.
    """
    ends = [e for e in ends if np.isfinite(e[0]) and np.isfinite(e[1])]
    if not ends:
        return
    x0, x1 = ax.get_xlim()
    last = max(e[0] for e in ends)
    starts = [float(np.asarray(line.get_xdata(), dtype=float).min()) for line in ax.get_lines()
              if len(line.get_xdata())]
    first_x = min(starts) if starts else x0
    ax.set_xlim(x0, max(x1, last) + room * (max(x1, last) - x0))
    year_axis(ax, float(first_x), float(last))
    y0, y1 = ax.get_ylim()
    height_pt = ax.get_window_extent().height * 72 / ax.figure.dpi or 100
    gap = (y1 - y0) * (fontsize * 1.25) / height_pt
    wanted = [e[1] for e in ends]
    placed = _spread(wanted, gap, y0 + gap / 2, y1 - gap / 2)
    span = (max(x1, last) - x0)
    for (x, y, text, colour), y_text in zip(ends, placed):
        x_text = last + 0.02 * span
        if abs(y_text - y) > gap * 0.3:
            ax.plot([x, x_text], [y, y_text], color=colour, lw=0.6, alpha=0.8, clip_on=False, zorder=6)
        ax.text(x_text + 0.005 * span, y_text, text, color=colour if colour != "#7F7F7F" else "#555555",
                fontsize=fontsize, va="center", ha="left", fontweight="bold", clip_on=False, zorder=7,
                gid=f"end_label:{text}")


def year_axis(ax, first: float, last: float) -> None:
    """Put ticks on whole years between ``first`` and ``last`` only (room added beyond for labels gets none)."""
    span = last - first
    step = 1 if span <= 6 else 2 if span <= 14 else 5 if span <= 40 else 10
    start = math.ceil(first / step - 1e-9) * step
    ticks = [y for y in range(int(start), int(math.floor(last)) + 1, step)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))


def mark_policy_changes(ax, months: Sequence[float], *, label: bool = True) -> None:
    """Draw a thin vertical line at each policy change (decimal years), labelled at the top of the axes."""
    shown = sorted(set(round(m, 4) for m in months))
    for m in shown:
        ax.axvline(m, color=NEUTRAL, lw=0.9, ls=(0, (4, 2)), zorder=1.5, gid=f"policy:{m:g}")
        if label:
            ax.annotate("policy", xy=(m, 1), xycoords=("data", "axes fraction"), xytext=(2, -2),
                        textcoords="offset points", fontsize=6.5, color=NEUTRAL, ha="left", va="top",
                        rotation=90, gid=f"policy_label:{m:g}")


def shade_fitted_period(ax, start: float, end: float, *, label: bool = True) -> None:
    """Shade the years the model's parameters were fitted to; later years are projection."""
    lo, hi = ax.get_xlim()
    if end <= lo or start >= hi:
        return
    ax.axvspan(max(start, lo), min(end, hi), color="#000000", alpha=0.07, lw=0, zorder=0, gid="fitted_period")
    if label:
        ax.annotate("fitted", xy=(max(start, lo), 0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                    textcoords="offset points", fontsize=6.5, color=MUTED_TEXT, ha="left", va="bottom",
                    gid="fitted_label")


def scenario_linestyles(names: Sequence[str]) -> dict[str, object]:
    """Return a line style for each scenario, in order: the first (the baseline) solid."""
    return {name: SCENARIO_LINESTYLES[i % len(SCENARIO_LINESTYLES)] for i, name in enumerate(names)}


def styled(function):
    """Draw the decorated figure function under the house style."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with plt.rc_context(RC):
            return function(*args, **kwargs)

    return wrapper


def new_figure(height_in: float = 3.4, width_in: float = COLUMN_WIDTH_IN, **subplots):
    """Return a new (figure, axes) sized for a report column, laid out by matplotlib's constrained layout.

    ``height_in`` is the height of the plot area (title, axes and legend); :func:`add_caption` adds the caption's
    height below it. The axes live in the figure's body (a subfigure, see :func:`body`), so the title, legend and
    caption each keep their own space however the figure is saved. ``subplots`` go to ``SubFigure.subplots``.
    """
    fig = plt.figure(figsize=(width_in, height_in), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, hspace=0, wspace=0)
    grid = fig.add_gridspec(2, 1, height_ratios=[height_in, 1e-3], hspace=0)
    fig.talentsim_grid = grid
    fig.talentsim_body = fig.add_subfigure(grid[0])
    fig.talentsim_foot = fig.add_subfigure(grid[1])
    fig.talentsim_body_height = height_in
    axes = fig.talentsim_body.subplots(**subplots)
    return fig, axes


def body(fig):
    """Return the part of ``fig`` that holds the title, axes and legend (the figure itself if not ours)."""
    return getattr(fig, "talentsim_body", fig)


def add_title(fig, text: str) -> None:
    """Write the figure's title, left-aligned above the axes (kept on the figure: see :func:`title_of`)."""
    fig.talentsim_title = text
    body(fig).suptitle(text, x=0.01, ha="left")


def title_of(fig) -> str:
    """Return the title written by :func:`add_title` ('' if none)."""
    return getattr(fig, "talentsim_title", "")


def percent_axis(axis, decimals: int | None = 0) -> None:
    """Format an axis (``ax.yaxis`` or ``ax.xaxis``) whose values are shares as percentages (``decimals=None``:
    as many decimals as the axis range needs)."""
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


_TEXT = TextToPath()


def _text_width_pt(text: str, fontsize: float) -> float:
    width, _, _ = _TEXT.get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)
    return width


def wrap_text(text: str, width_pt: float, fontsize: float = CAPTION_FONTSIZE) -> str:
    """Return ``text`` with line breaks so that no line is wider than ``width_pt`` points at ``fontsize``."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and _text_width_pt(candidate, fontsize) > width_pt:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def figure_legend(fig, handles: list, labels: list[str], *, title: str | None = None, max_columns: int | None = None):
    """Put one legend under the axes, as many columns as fit the figure's width; return it.

    Legends never sit beside the axes, where they would widen the saved figure beyond the report column.
    """
    if not handles:
        return None
    fontsize = plt.rcParams["legend.fontsize"]
    fontsize = fontsize if isinstance(fontsize, (int, float)) else 8
    available = fig.get_figwidth() * 72 - 12
    entry = [_text_width_pt(label, fontsize) + 3.6 * fontsize for label in labels]  # handle + pad + spacing
    columns = len(labels) if max_columns is None else min(max_columns, len(labels))
    while columns > 1:
        rows = -(-len(labels) // columns)
        widths = [max(entry[c * rows:(c + 1) * rows]) for c in range(columns) if entry[c * rows:(c + 1) * rows]]
        if sum(widths) <= available:
            break
        columns -= 1
    return body(fig).legend(handles, labels, loc="outside lower center", ncols=columns, title=title, frameon=False)


def add_caption(fig, text: str, *, draw: bool = True) -> None:
    """Attach ``text`` (what is shown, sources) as the figure's caption; write it under the figure if ``draw``.

    The caption is wrapped to the figure's width and gets its own strip under the title, axes and legend (the
    figure grows by the caption's height), so it never widens the figure or overlaps anything. The text is kept on
    the figure (see :func:`caption_of`), so a report can show it as HTML instead.
    """
    fig.talentsim_caption = text
    if not draw:
        return
    wrapped = wrap_text(text, fig.get_figwidth() * 72 - 10)
    if not hasattr(fig, "talentsim_foot"):  # a figure not made by new_figure: use the layout's bottom label
        fig.supxlabel(wrapped, fontsize=CAPTION_FONTSIZE, color=MUTED_TEXT, x=0.0, ha="left", linespacing=1.35)
        return
    lines = wrapped.count("\n") + 1
    height = lines * CAPTION_FONTSIZE * 1.35 / 72 + 0.1
    fig.set_figheight(fig.talentsim_body_height + height)
    fig.talentsim_grid.set_height_ratios([fig.talentsim_body_height, height])
    foot = fig.talentsim_foot
    transform = offset_copy(foot.transSubfigure, fig=fig, x=3, y=-3, units="points")
    foot.text(0, 1, wrapped, transform=transform, ha="left", va="top", fontsize=CAPTION_FONTSIZE, color=MUTED_TEXT,
              linespacing=1.35, gid="caption")


def caption_of(fig) -> str:
    """Return the caption attached to a figure by :func:`add_caption` ('' if none)."""
    return getattr(fig, "talentsim_caption", "")
