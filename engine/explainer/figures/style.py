"""The look shared by every figure, and the PNG writer that makes the bytes
reproducible.

The site has a light and a dark theme (white and #1e2129 backgrounds), so figures have a
transparent background, grey text and lines, and mid-tone colours that read on both.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import matplotlib
import torch

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

GREY = "#808080"  # text, axes, arrows: readable on white and on #1e2129
SOFT_GREY = "#80808040"  # grid lines, faint guides
BLUE = "#4c8ce4"
ORANGE = "#f08a24"
GREEN = "#2fa876"
RED = "#e0504d"
PURPLE = "#9b6bdf"
TEAL = "#1fa2b0"
PALETTE = (BLUE, ORANGE, GREEN, RED, PURPLE, TEAL)
DIVERGING = "coolwarm"  # heatmaps: opaque, so they read on both themes
DPI = 110  # ~900 px wide for a 8-inch figure: sharp in a blog column, small files

RC = {
    "figure.facecolor": "none",
    "axes.facecolor": "none",
    "savefig.facecolor": "none",
    "savefig.transparent": True,
    "text.color": GREY,
    "axes.labelcolor": GREY,
    "axes.titlecolor": GREY,
    "axes.edgecolor": GREY,
    "xtick.color": GREY,
    "ytick.color": GREY,
    "grid.color": SOFT_GREY,
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "legend.frameon": False,
    "font.family": "DejaVu Sans",  # ships with matplotlib; has the Vietnamese letters
    "font.size": 10,
    "axes.titlesize": 10.5,
    "figure.titlesize": 11.5,
    "mathtext.fontset": "dejavusans",
    "image.interpolation": "nearest",
    "svg.hashsalt": "gmlp-snippets",  # stable ids if a figure is ever saved as SVG
    "path.simplify": True,
}


@contextlib.contextmanager
def context() -> Iterator[None]:
    """Apply the shared style for the figures drawn inside (and restore rcParams
    after)."""
    with matplotlib.rc_context(RC):
        yield


def png_bytes(fig, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes with no metadata (no software string, no date), then
    close it."""
    buf = io.BytesIO()
    try:
        fig.savefig(
            buf,
            format="png",
            dpi=dpi,
            metadata={"Software": None},
            transparent=True,
            bbox_inches="tight",
            pad_inches=0.06,
        )
    finally:
        plt.close(fig)
    return buf.getvalue()


def to_numpy(t):
    """A tensor as a float64 numpy array, wherever it lives (CUDA tensors are copied to
    the CPU)."""
    return t.detach().to("cpu", torch.float64).numpy()
