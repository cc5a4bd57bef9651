"""layernorm.png - X (n tokens x d channels) before and after the package's LayerNorm,
which normalises every token (row) over its channels: each row ends with mean 0 and
variance 1."""

from __future__ import annotations

import torch

from explainer.figures import style
from gmlp_snippets.norm import LayerNorm

N, D = 12, 32  # tokens, channels


def num(value) -> str:
    """Two decimals, without a minus sign on a rounded zero."""
    text = f"{float(value):.2f}"
    return "0.00" if text == "-0.00" else text


def make(ctx) -> None:
    g = torch.Generator().manual_seed(ctx.seed)
    # every token gets its own offset and scale, as raw embeddings of different tokens
    # would
    mean = torch.linspace(-3, 3, N)[torch.randperm(N, generator=g)].unsqueeze(1)
    scale = torch.exp(torch.empty(N, 1).uniform_(-1.2, 1.0, generator=g))
    x = mean + scale * torch.randn(N, D, generator=g)
    with torch.no_grad():
        y = LayerNorm(D)(x)
    var_x, mean_x = torch.var_mean(x, dim=1, correction=0)
    var_y, mean_y = torch.var_mean(y, dim=1, correction=0)

    fig, axes = style.plt.subplots(1, 2, figsize=(9.6, 3.9))
    panels = (
        (axes[0], x, mean_x, var_x, "X trước LayerNorm"),
        (axes[1], y, mean_y, var_y, "LayerNorm(X)"),
    )
    for ax, data, mean_, var_, title in panels:
        limit = float(data.abs().max())
        im = ax.imshow(
            style.to_numpy(data),
            cmap=style.DIVERGING,
            vmin=-limit,
            vmax=limit,
            aspect="auto",
        )
        std_ = var_.sqrt()
        ax.set_title(
            f"{title} ({N} token × {D} channel)\n"
            f"mỗi dòng: trung bình ∈ [{num(mean_.min())}, {num(mean_.max())}]\n"
            f"độ lệch chuẩn ∈ [{num(std_.min())}, {num(std_.max())}]",
            fontsize=9.5,
        )
        ax.set_xlabel("channel (cột)")
        ax.set_yticks(range(0, N, 2))
        cbar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
        cbar.outline.set_edgecolor(style.GREY)
    axes[0].set_ylabel("token (dòng)")
    fig.tight_layout()
    ctx.save(fig, "layernorm.png")
    ctx.measures.update(
        {
            "max_abs_row_mean_after": float(f"{mean_y.abs().max():.2e}"),
            "max_abs_row_std_minus_1_after": float(
                f"{(var_y.sqrt() - 1).abs().max():.2e}"
            ),
        }
    )
