"""inductive_bias.png - the same points fitted by a linear model and by a small MLP.

The linear model assumes the relation is a straight line (a strong inductive bias, a
small hypothesis space); the MLP assumes little and bends to the points - and disagrees
with the line once it leaves the data. The fit is tiny and runs on the CPU whatever the
device.
"""

from __future__ import annotations

import torch
from torch import nn

from explainer.figures import style

SETTINGS = {
    "test": {"steps": 150, "hidden": 32},
    "quick": {"steps": 1000, "hidden": 64},
    "full": {"steps": 3000, "hidden": 64},
}


def data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """18 noisy samples of a gently curved trend on [-2, 2]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.linspace(-2, 2, 18, dtype=torch.float64) + 0.06 * torch.randn(
        18, generator=g, dtype=torch.float64
    )
    y = (
        0.55 * x
        + 0.45 * torch.sin(2.2 * x)
        + 0.15 * torch.randn(18, generator=g, dtype=torch.float64)
    )
    return x, y


def fit_linear(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least squares for y = a x + b: returns (a, b)."""
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    return torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)


def fit_mlp(
    x: torch.Tensor, y: torch.Tensor, hidden: int, steps: int, seed: int, ctx=None
) -> nn.Module:
    """A 1 -> hidden -> hidden -> 1 tanh MLP trained with Adam on the squared error
    (float64, CPU: tiny)."""
    torch.manual_seed(seed)
    mlp = nn.Sequential(
        nn.Linear(1, hidden),
        nn.Tanh(),
        nn.Linear(hidden, hidden),
        nn.Tanh(),
        nn.Linear(hidden, 1),
    ).double()
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    for step in range(steps):
        loss = (mlp(x.unsqueeze(1)).squeeze(1) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ctx is not None and step % 50 == 49:
            ctx.advance(50)
    return mlp


def make(ctx) -> None:
    cfg = SETTINGS[ctx.profile]
    ctx.progress(cfg["steps"])
    x, y = data(ctx.seed)
    a, b = fit_linear(x, y)
    mlp = fit_mlp(x, y, cfg["hidden"], cfg["steps"], ctx.seed, ctx)
    grid = torch.linspace(-3.2, 3.2, 400, dtype=torch.float64)
    with torch.no_grad():
        y_lin, y_mlp = a * grid + b, mlp(grid.unsqueeze(1)).squeeze(1)
        mse_lin = (a * x + b - y).pow(2).mean().item()
        mse_mlp = (mlp(x.unsqueeze(1)).squeeze(1) - y).pow(2).mean().item()

    fig, axes = style.plt.subplots(1, 2, figsize=(8.6, 3.3), sharey=True)
    panels = (
        (
            axes[0],
            y_lin,
            style.BLUE,
            f"Hồi quy tuyến tính: y = {a:.2f}x {'+' if b >= 0 else '-'} {abs(b):.2f}",
            "chỉ xét các đường thẳng",
            mse_lin,
        ),
        (
            axes[1],
            y_mlp,
            style.ORANGE,
            f"MLP (2 lớp ẩn × {cfg['hidden']})",
            "gần như hàm nào cũng được",
            mse_mlp,
        ),
    )
    for ax, curve, colour, title, bias, mse in panels:
        ax.axvspan(-3.2, -2.1, color=style.SOFT_GREY, lw=0)
        ax.axvspan(2.1, 3.2, color=style.SOFT_GREY, lw=0)
        ax.plot(style.to_numpy(grid), style.to_numpy(curve), color=colour, lw=2.2)
        ax.scatter(
            style.to_numpy(x),
            style.to_numpy(y),
            s=22,
            color=style.GREY,
            zorder=3,
            label="dữ liệu",
        )
        ax.set_title(f"{title}\n{bias} · MSE = {mse:.3f}")
        ax.set_xlim(-3.2, 3.2)
        ax.set_ylim(-3.0, 3.0)
        ax.set_xlabel("x")
        ax.text(-2.65, -2.75, "ngoài\ndữ liệu", ha="center", fontsize=8)
        ax.text(2.65, -2.75, "ngoài\ndữ liệu", ha="center", fontsize=8)
    axes[0].set_ylabel("y")
    fig.tight_layout()
    ctx.save(fig, "inductive_bias.png")
    ctx.measures.update({"mse_linear": round(mse_lin, 4), "mse_mlp": round(mse_mlp, 4)})
