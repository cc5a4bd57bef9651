"""gmlp.png - one gMLP block with the shapes of the post's example: n = 150 tokens,
d = 512 channels, d_ffn = 3072 (the package's gmlp-base preset), read from the bottom
up as in the paper's Figure 1."""

from __future__ import annotations

from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

from explainer.figures import style
from gmlp_snippets.config import GMLPConfig

N_TOKENS = 150  # the post's running example: 150 tokens (rows) x 512 channels (columns)
MAIN_X = 4.5  # the trunk of the block
Z1_X, Z2_X = 2.0, 6.5  # the two halves of Z inside the SGU
SKIP_X = 0.3  # the residual connection
NOTES_X = 10.6


def box(
    ax,
    x: float,
    y: float,
    text: str,
    colour: str,
    width: float = 2.6,
    height: float = 0.62,
) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            facecolor=colour,
            edgecolor="none",
            boxstyle="round,pad=0,rounding_size=0.14",
            zorder=3,
        )
    )
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        color="white",
        fontsize=10,
        fontweight="bold",
        zorder=4,
    )


def arrow(ax, points: list[tuple[float, float]], shape: str | None = None) -> None:
    """A grey polyline ending in an arrow head, with an optional tensor shape next to
    its last segment."""
    for (x0, y0), (x1, y1) in zip(points[:-2], points[1:-1], strict=True):
        ax.plot(
            [x0, x1],
            [y0, y1],
            color=style.GREY,
            lw=1.4,
            solid_capstyle="butt",
            zorder=2,
        )
    ax.add_patch(
        FancyArrowPatch(
            points[-2],
            points[-1],
            arrowstyle="-|>",
            mutation_scale=12,
            color=style.GREY,
            lw=1.4,
            shrinkA=0,
            shrinkB=0,
            zorder=2,
        )
    )
    if shape:
        (x0, y0), (x1, y1) = points[-2], points[-1]
        shape_text(ax, (x0 + x1) / 2 + 0.12, (y0 + y1) / 2, shape)


def shape_text(ax, x: float, y: float, text: str) -> None:
    """A tensor shape, left-aligned at (x, y)."""
    ax.text(
        x,
        y,
        text,
        ha="left",
        va="center",
        fontsize=9,
        family="DejaVu Sans Mono",
        zorder=4,
    )


def make(ctx) -> None:
    cfg = GMLPConfig.from_preset("gmlp-base")
    n, d, d_ffn = N_TOKENS, cfg.d_model, cfg.d_ffn
    half = d_ffn // 2
    fig, ax = style.plt.subplots(figsize=(9.0, 9.3))
    ax.set_xlim(-0.3, 15.7)
    ax.set_ylim(-0.9, 16.1)
    ax.set_aspect("equal")
    ax.axis("off")

    y_in, y_branch, y_norm, y_u, y_act, y_split = -0.5, 0.75, 2.1, 3.5, 4.9, 6.2
    y_norm2, y_w, y_gate, y_v, y_add, y_out = 7.6, 9.2, 10.8, 12.9, 14.1, 15.6
    box_w, box_h = 3.6, 0.62

    ax.text(
        MAIN_X,
        y_in,
        "Đầu vào X",
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
    )
    box(ax, MAIN_X, y_norm, "chuẩn hóa", style.GREEN, box_w)
    box(ax, MAIN_X, y_u, "chiếu theo kênh U", style.BLUE, box_w)
    box(ax, MAIN_X, y_act, "GeLU  σ", style.PURPLE, box_w)
    box(ax, Z2_X, y_norm2, "chuẩn hóa", style.GREEN, 3.3)
    box(ax, Z2_X, y_w, "chiếu token\nW·norm(Z2) + b", style.ORANGE, 3.3, 0.95)
    box(ax, MAIN_X, y_v, "chiếu theo kênh V", style.BLUE, box_w)
    ax.text(
        MAIN_X,
        y_out,
        "Đầu ra Y",
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
    )
    ax.add_patch(
        Circle(
            (MAIN_X, y_gate),
            0.32,
            facecolor="none",
            edgecolor=style.GREY,
            lw=1.4,
            zorder=3,
        )
    )
    ax.text(MAIN_X, y_gate, "⊙", ha="center", va="center", fontsize=16, zorder=4)
    ax.add_patch(
        Circle(
            (MAIN_X, y_add),
            0.3,
            facecolor="none",
            edgecolor=style.GREY,
            lw=1.4,
            zorder=3,
        )
    )
    ax.text(MAIN_X, y_add - 0.02, "+", ha="center", va="center", fontsize=16, zorder=4)

    arrow(ax, [(MAIN_X, y_in + 0.3), (MAIN_X, y_norm - box_h / 2)])
    # the shape of X inside the block, above the residual's branch point
    shape_text(
        ax, MAIN_X + 0.12, (y_branch + y_norm - box_h / 2) / 2, f"n × d = {n} × {d}"
    )
    arrow(ax, [(MAIN_X, y_norm + box_h / 2), (MAIN_X, y_u - box_h / 2)], f"{n} × {d}")
    arrow(
        ax,
        [(MAIN_X, y_u + box_h / 2), (MAIN_X, y_act - box_h / 2)],
        f"n × d_ffn = {n} × {d_ffn}",
    )
    # split Z along the channels into two halves
    ax.plot(
        [MAIN_X, MAIN_X],
        [y_act + box_h / 2, y_split],
        color=style.GREY,
        lw=1.4,
        zorder=2,
    )
    ax.plot([Z1_X, Z2_X], [y_split, y_split], color=style.GREY, lw=1.4, zorder=2)
    ax.add_patch(Circle((MAIN_X, y_split), 0.07, color=style.GREY, zorder=3))
    ax.text(
        MAIN_X,
        y_split - 0.12,
        "chia đôi",
        ha="center",
        va="top",
        fontsize=8.5,
        style="italic",
    )
    arrow(ax, [(Z2_X, y_split), (Z2_X, y_norm2 - box_h / 2)], f"Z2: {n} × {half}")
    arrow(ax, [(Z2_X, y_norm2 + box_h / 2), (Z2_X, y_w - 0.475)], f"{n} × {half}")
    arrow(ax, [(Z2_X, y_w + 0.475), (Z2_X, y_gate), (MAIN_X + 0.32, y_gate)])
    shape_text(ax, Z2_X + 0.12, (y_w + 0.475 + y_gate) / 2, f"f(Z2): {n} × {half}")
    arrow(ax, [(Z1_X, y_split), (Z1_X, y_gate), (MAIN_X - 0.32, y_gate)])
    shape_text(ax, Z1_X + 0.12, (y_split + y_gate) / 2, f"Z1: {n} × {half}")
    arrow(
        ax,
        [(MAIN_X, y_gate + 0.32), (MAIN_X, y_v - box_h / 2)],
        f"n × d_ffn/2 = {n} × {half}",
    )
    arrow(ax, [(MAIN_X, y_v + box_h / 2), (MAIN_X, y_add - 0.3)], f"{n} × {d}")
    arrow(ax, [(MAIN_X, y_add + 0.3), (MAIN_X, y_out - 0.3)], f"n × d = {n} × {d}")
    # the residual connection around the whole block
    arrow(
        ax,
        [
            (MAIN_X, y_branch),
            (SKIP_X, y_branch),
            (SKIP_X, y_add),
            (MAIN_X - 0.3, y_add),
        ],
    )
    ax.add_patch(Circle((MAIN_X, y_branch), 0.07, color=style.GREY, zorder=3))

    # the Spatial Gating Unit and the block, as dashed frames
    ax.add_patch(
        Rectangle(
            (0.9, y_split - 0.65),
            9.0,
            y_gate - y_split + 1.3,
            fill=False,
            ls=(0, (4, 3)),
            edgecolor=style.ORANGE,
            lw=1.3,
            zorder=1,
        )
    )
    ax.text(
        9.75,
        y_gate + 0.38,
        "Spatial Gating Unit",
        ha="right",
        va="center",
        fontsize=9,
        color=style.ORANGE,
        fontweight="bold",
    )
    ax.add_patch(
        Rectangle(
            (-0.1, y_branch - 0.4),
            10.2,
            y_add + 0.45 - (y_branch - 0.4),
            fill=False,
            ls=(0, (2, 3)),
            edgecolor=style.GREY,
            lw=1.0,
            zorder=1,
        )
    )
    ax.text(
        9.9,
        y_branch - 0.25,
        "× L khối",
        ha="right",
        va="bottom",
        fontsize=10.5,
        fontweight="bold",
    )

    # the equations and the sizes, on the right
    notes = [
        ("Một khối gMLP", {"fontsize": 11.5, "fontweight": "bold"}),
        ("Z = σ(norm(X) U)", {}),
        ("s(Z) = Z1 ⊙ (W·norm(Z2) + b)", {}),
        ("Y = X + s(Z) V", {}),
        ("", {}),
        (f"n = {n} token (dòng)", {}),
        (f"d = {d} kênh (cột)", {}),
        (f"d_ffn = {d_ffn} = {d_ffn // d}d", {}),
        ("", {}),
        (f"U: d × d_ffn = {d} × {d_ffn}", {}),
        (f"W: n × n = {n} × {n}", {}),
        (f"b: n = {n}", {}),
        (f"V: d_ffn/2 × d = {half} × {d}", {}),
        ("", {}),
        ("Chuẩn hóa theo kênh.", {"fontsize": 9}),
        ("W trộn các token (spatial);", {"fontsize": 9}),
        ("U, V trộn các kênh.", {"fontsize": 9}),
        ("Lúc khởi tạo W ≈ 0, b = 1:", {"fontsize": 9}),
        ("s(Z) ≈ Z1, khối là một FFN.", {"fontsize": 9}),
    ]
    for i, (text, kw) in enumerate(notes):
        ax.text(
            NOTES_X,
            14.6 - 0.66 * i,
            text,
            ha="left",
            va="center",
            **{"fontsize": 10, **kw},
        )
    ctx.save(fig, "gmlp.png")
    ctx.measures.update({"n": n, "d_model": d, "d_ffn": d_ffn})
