"""sgu_gate.png - the Spatial Gating Unit's gate f(Z2) = W norm(Z2) + b at
initialisation and after training the small gMLP language model on the pydoc corpus.

At initialisation W is near 0 and b = 1, so the gate is ~1 everywhere and every block is
a plain FFN; training moves it away from 1. The gate is read with the package's own SGU:
feeding it Z = [1, Z2] makes s(Z) = 1 ⊙ f(Z2) = f(Z2).
"""

from __future__ import annotations

import numpy as np
import torch

from explainer.figures import style

from . import corpus, training


@torch.no_grad()
def gate_values(model, tokens: torch.Tensor) -> list[torch.Tensor]:
    """f(Z2) of every block for a batch of tokens: a list of (b, n, d_ffn/2) tensors."""
    captured = []
    hooks = [
        block.proj_in.register_forward_hook(lambda _m, _in, out: captured.append(out))
        for block in model.gmlp.blocks
    ]
    try:
        model(tokens)
    finally:
        for hook in hooks:
            hook.remove()
    gates = []
    for block, z in zip(model.gmlp.blocks, captured, strict=True):
        _, z2 = z.chunk(2, dim=-1)
        gates.append(
            block.sgu(torch.cat([torch.ones_like(z2), z2], dim=-1))
        )  # 1 ⊙ f(Z2)
    return gates


def make(ctx) -> None:
    s = training.settings(ctx.profile)
    ctx.progress(s.steps)
    trained = training.trained_gmlp(ctx)
    model = trained.model
    initial = training.snapshot(model, trained.init_state)
    _, held_out = corpus.split()
    starts = corpus.random_starts(
        held_out, 8, s.seq_len, torch.Generator().manual_seed(ctx.seed + 3)
    )
    tokens = corpus.windows(held_out.to(ctx.device), starts, s.seq_len)
    model.eval()
    initial.eval()
    before = [style.to_numpy(g).ravel() for g in gate_values(initial, tokens)]
    after = [style.to_numpy(g).ravel() for g in gate_values(model, tokens)]

    fig, (left, right) = style.plt.subplots(1, 2, figsize=(9.2, 3.4))
    all_before = np.concatenate(before)
    spread = max(float(np.abs(all_before - 1).max()), 1e-6)
    left.hist(
        all_before,
        bins=np.linspace(1 - 1.1 * spread, 1 + 1.1 * spread, 41),
        color=style.BLUE,
    )
    left.set_title(
        "Lúc khởi tạo (W ≈ 0, b = 1)\n"
        f"f(Z2) ∈ [{all_before.min():.4f}, {all_before.max():.4f}]"
    )
    left.set_xlabel("giá trị cổng f(Z2)")
    left.set_ylabel("số phần tử")
    left.ticklabel_format(axis="x", useOffset=False)
    left.locator_params(axis="x", nbins=4)
    lo, hi = np.percentile(np.concatenate(after), [0.5, 99.5])
    bins = np.linspace(min(lo, 0.0), max(hi, 2.0), 61)
    for i, (values, colour) in enumerate(zip(after, style.PALETTE * 2, strict=False)):
        right.hist(
            values,
            bins=bins,
            histtype="step",
            lw=1.6,
            color=colour,
            label=f"khối {i + 1}",
        )
    right.axvline(1.0, color=style.GREY, lw=1, ls="--")
    right.set_title(
        f"Sau {s.steps} bước huấn luyện\n"
        f"(gMLP {trained.params / 1e3:.0f}k tham số, n = {s.seq_len})"
    )
    right.set_xlabel("giá trị cổng f(Z2)")
    right.legend(fontsize=8, ncol=2 if len(after) > 4 else 1)
    fig.suptitle("Cổng của Spatial Gating Unit: s(Z) = Z1 ⊙ f(Z2)")
    fig.tight_layout()
    ctx.save(fig, "sgu_gate.png")
    ctx.measures.update(
        {
            "steps": s.steps,
            "params": trained.params,
            "gate_init": {
                "mean": round(float(all_before.mean()), 6),
                "std": float(f"{all_before.std():.3e}"),
            },
            "gate_trained": [
                {
                    "layer": i + 1,
                    "mean": round(float(v.mean()), 4),
                    "std": round(float(v.std()), 4),
                }
                for i, v in enumerate(after)
            ],
        }
    )
