"""neuralnetwork.png - the universal approximation idea: one hidden layer fits a curve
better and better as it gets more hidden units (2, 8, 64). The fits are tiny and run on
the CPU whatever the device."""

from __future__ import annotations

import math

import torch
from torch import nn

from explainer.figures import style

SETTINGS = {
    "test": {"steps": 100, "widths": (2, 8)},
    "quick": {"steps": 2500, "widths": (2, 8, 64)},
    "full": {"steps": 6000, "widths": (2, 8, 64)},
}


def target(x: torch.Tensor) -> torch.Tensor:
    """A continuous function with a few bumps to approximate on [-pi, pi]."""
    return (
        torch.sin(2 * x) + 0.4 * torch.cos(5 * x) * torch.exp(-0.3 * x * x) + 0.15 * x
    )


def fit(
    width: int, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int, ctx
) -> nn.Module:
    """A 1 -> width -> 1 ReLU network trained with Adam on the squared error (float64,
    CPU)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, 1)).double()
    with torch.no_grad():  # spread the kinks of the ReLUs over the interval
        net[0].weight.copy_(
            torch.where(torch.rand(width, 1, dtype=torch.float64) < 0.5, -1.0, 1.0)
        )
        net[0].bias.copy_(
            torch.linspace(-math.pi, math.pi, width + 2, dtype=torch.float64)[1:-1]
            * -net[0].weight[:, 0]
        )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        loss = (net(x.unsqueeze(1)).squeeze(1) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 99:
            ctx.advance(100)
    return net


def make(ctx) -> None:
    cfg = SETTINGS[ctx.profile]
    widths = cfg["widths"]
    ctx.progress(cfg["steps"] * len(widths))
    x = torch.linspace(-math.pi, math.pi, 256, dtype=torch.float64)
    y = target(x)
    fig, axes = style.plt.subplots(
        1, len(widths), figsize=(3.0 * len(widths), 3.0), sharey=True
    )
    mses = {}
    for ax, width, colour in zip(
        axes, widths, (style.RED, style.ORANGE, style.GREEN), strict=False
    ):
        net = fit(width, x, y, cfg["steps"], ctx.seed, ctx)
        with torch.no_grad():
            pred = net(x.unsqueeze(1)).squeeze(1)
        mses[width] = (pred - y).pow(2).mean().item()
        ax.plot(
            style.to_numpy(x),
            style.to_numpy(y),
            color=style.GREY,
            lw=4,
            alpha=0.45,
            label="hàm cần xấp xỉ",
        )
        ax.plot(
            style.to_numpy(x),
            style.to_numpy(pred),
            color=colour,
            lw=2,
            label="mạng neuron",
        )
        ax.set_title(f"{width} neuron ẩn (ReLU)\nMSE = {mses[width]:.4f}")
        ax.set_xlabel("x")
        ax.set_xticks([-3, 0, 3])
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("Thêm neuron ẩn, một lớp ẩn xấp xỉ hàm liên tục ngày càng sát")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    ctx.save(fig, "neuralnetwork.png")
    ctx.measures["mse_by_width"] = {str(w): round(m, 5) for w, m in mses.items()}
