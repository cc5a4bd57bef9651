"""whitevsblack.png - the swan hypothesis: many white swans seen on one lake, then one
black swan.

Drawn from matplotlib shapes (no photo): the inductive-bias section of the post.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Circle, Ellipse, PathPatch, Polygon
from matplotlib.path import Path

from explainer.figures import style

WATER = "#4c8ce455"  # translucent mid blue: a lake on white and on dark backgrounds
RIPPLE = "#4c8ce4aa"


def swan(
    ax,
    x: float,
    y: float,
    size: float = 1.0,
    body: str = "#ffffff",
    edge: str = style.GREY,
    beak: str = style.ORANGE,
    facing: int = 1,
    zorder: int = 3,
) -> None:
    """A swan floating at (x, y): body, raised wing, S-shaped neck, head, beak, eye."""
    s, f = size, facing

    def pt(dx: float, dy: float) -> tuple[float, float]:
        return x + f * dx * s, y + dy * s

    lw = 1.1
    ax.add_patch(
        Ellipse(
            pt(0, 0.18),
            1.5 * s,
            0.62 * s,
            facecolor=body,
            edgecolor=edge,
            lw=lw,
            zorder=zorder,
        )
    )
    ax.add_patch(
        Polygon(
            [pt(-0.75, 0.22), pt(-0.95, 0.62), pt(-0.35, 0.42), pt(0.25, 0.38)],
            closed=True,
            facecolor=body,
            edgecolor=edge,
            lw=lw,
            zorder=zorder + 0.1,
            joinstyle="round",
        )
    )
    neck = Path(
        [pt(0.55, 0.3), pt(0.95, 0.55), pt(0.35, 0.95), pt(0.55, 1.35)],
        [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4],
    )
    ax.add_patch(
        PathPatch(
            neck,
            facecolor="none",
            edgecolor=edge,
            lw=7.5 * s + 2 * lw,
            capstyle="round",
            zorder=zorder + 0.2,
        )
    )
    ax.add_patch(
        PathPatch(
            neck,
            facecolor="none",
            edgecolor=body,
            lw=7.5 * s,
            capstyle="round",
            zorder=zorder + 0.3,
        )
    )
    ax.add_patch(
        Circle(
            pt(0.6, 1.38),
            0.13 * s,
            facecolor=body,
            edgecolor=edge,
            lw=lw,
            zorder=zorder + 0.4,
        )
    )
    ax.add_patch(
        Polygon(
            [pt(0.68, 1.44), pt(0.98, 1.3), pt(0.7, 1.3)],
            closed=True,
            facecolor=beak,
            edgecolor="none",
            zorder=zorder + 0.5,
        )
    )
    ax.add_patch(
        Circle(
            pt(0.6, 1.41),
            0.025 * s,
            facecolor=edge,
            edgecolor="none",
            zorder=zorder + 0.6,
        )
    )
    for dy, half in ((-0.1, 0.9), (-0.22, 0.6)):
        ax.plot(
            [x - half * s, x + half * s],
            [y + dy * s] * 2,
            color=RIPPLE,
            lw=1.2,
            solid_capstyle="round",
            zorder=zorder - 0.5,
        )


def make(ctx) -> None:
    rng = np.random.default_rng(ctx.seed)
    fig, (left, right) = style.plt.subplots(
        1, 2, figsize=(9.0, 3.9), gridspec_kw={"width_ratios": [1.55, 1]}
    )
    for ax in (left, right):
        ax.set_aspect("equal")
        ax.axis("off")

    # left: one lake, many white swans - the only swans we have ever seen
    left.add_patch(
        Ellipse((5.0, 2.7), 10.4, 4.6, facecolor=WATER, edgecolor="none", zorder=1)
    )
    spots = [
        (2.5, 0.95),
        (4.8, 0.95),
        (7.1, 0.95),
        (1.3, 2.2),
        (3.6, 2.2),
        (5.9, 2.2),
        (8.2, 2.2),
        (2.6, 3.45),
        (4.9, 3.45),
        (7.2, 3.45),
    ]
    for i, (x, y) in enumerate(spots):
        jitter = rng.uniform(-0.1, 0.1, size=2)
        swan(
            left,
            x + jitter[0],
            y + jitter[1],
            size=0.68 + 0.08 * rng.random(),
            facing=-1 if i in (1, 5, 9) else 1,
            zorder=3 + int(10 - y),
        )
    left.set_xlim(-0.4, 10.4)
    left.set_ylim(0.0, 6.3)
    left.text(
        5.0,
        5.95,
        "Quan sát: chỉ một cái hồ, toàn thiên nga trắng",
        ha="center",
        fontsize=11,
    )
    left.text(
        5.0,
        5.45,
        "Giả thuyết: \u201cmọi con thiên nga đều có màu trắng\u201d",
        ha="center",
        fontsize=10,
        style="italic",
    )

    # right: one black swan is enough to break the hypothesis
    right.add_patch(
        Ellipse((3.0, 2.7), 5.6, 3.2, facecolor=WATER, edgecolor="none", zorder=1)
    )
    swan(
        right,
        2.9,
        2.3,
        size=1.45,
        body="#1b1b1b",
        edge=style.GREY,
        beak=style.RED,
        facing=-1,
    )
    right.set_xlim(-0.2, 6.2)
    right.set_ylim(0.0, 6.3)
    right.text(3.0, 5.95, "Một con thiên nga đen", ha="center", fontsize=11)
    right.text(
        3.0, 5.45, "\u21d2 giả thuyết sai", ha="center", fontsize=10, color=style.RED
    )

    fig.subplots_adjust(wspace=0.04)
    ctx.save(fig, "whitevsblack.png")
    ctx.measures["white_swans"] = len(spots)
