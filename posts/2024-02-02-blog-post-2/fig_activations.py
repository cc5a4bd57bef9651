"""activations.png - ReLU and GeLU (the package's activations) and their slopes."""

from __future__ import annotations

import torch

from explainer.figures import style
from gmlp_snippets.projection import ACTIVATIONS


def make(ctx) -> None:
    x = torch.linspace(-4, 4, 801, dtype=torch.float64, requires_grad=True)
    curves = {}
    for name, colour in (("relu", style.BLUE), ("gelu", style.ORANGE)):
        y = ACTIVATIONS[name]()(x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        curves[name] = (y.detach(), slope, colour)
    xs = style.to_numpy(x)

    fig, (left, right) = style.plt.subplots(1, 2, figsize=(8.6, 3.2))
    for name, (y, slope, colour) in curves.items():
        label = {"relu": "ReLU(x) = max(0, x)", "gelu": "GeLU(x) = x·Φ(x)"}[name]
        left.plot(xs, style.to_numpy(y), color=colour, lw=2.2, label=label)
        right.plot(
            xs,
            style.to_numpy(slope),
            color=colour,
            lw=2.2,
            label={"relu": "ReLU", "gelu": "GeLU"}[name],
        )
    gelu = curves["gelu"][0]
    i_min = int(gelu.argmin())
    left.plot([xs[i_min]], [float(gelu[i_min])], "o", color=style.ORANGE, ms=5)
    left.annotate(
        f"cực tiểu {float(gelu[i_min]):.3f}\ntại x = {xs[i_min]:.2f}",
        (xs[i_min], float(gelu[i_min])),
        xytext=(-3.9, 1.4),
        fontsize=8.5,
        arrowprops={"arrowstyle": "-", "color": style.GREY, "lw": 0.8},
    )
    left.set_title("Hàm kích hoạt σ")
    right.set_title("Đạo hàm σ'(x)")
    for ax in (left, right):
        ax.axhline(0, color=style.SOFT_GREY, lw=1)
        ax.axvline(0, color=style.SOFT_GREY, lw=1)
        ax.set_xlabel("x")
        ax.legend(loc="upper left", fontsize=8.5)
    left.set_ylim(-0.6, 4.1)
    right.set_ylim(-0.25, 1.3)
    right.legend(loc="upper left", fontsize=8.5)
    fig.tight_layout()
    ctx.save(fig, "activations.png")
    ctx.measures.update(
        {
            "gelu_min": round(float(gelu[i_min]), 4),
            "gelu_argmin": round(float(xs[i_min]), 3),
        }
    )
