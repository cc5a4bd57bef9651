"""gmlp_vs_transformer.png - the small gMLP language model against a Transformer of the same size
(pre-norm, causal, learned positions, parameters matched within a few percent) on the same task:
byte-level next-token prediction on the pydoc corpus, same batches, same optimiser and schedule.

At this scale the comparison says little about the paper's claims; the title gives the sizes
and the number of steps so the reader can judge.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explainer.figures import style, training, transformer

N_HEADS = 4


def trained_transformer(ctx, target_params: int) -> training.TrainedLM:
    s = training.settings(ctx.profile)

    def build() -> training.TrainedLM:
        torch.manual_seed(ctx.seed)
        model = transformer.matched(target_params, 256, s.d_model, s.n_layers, N_HEADS, s.seq_len).to(ctx.device)
        return training.train_lm(model, s, ctx.device, ctx.seed, ctx)

    return training.memo(("transformer", ctx.profile, str(ctx.device), ctx.seed), build)


def thousands(value: int) -> str:
    """1234567 -> '1 234 567' (narrow no-break spaces, as Vietnamese writes them)."""
    return f"{value:,}".replace(",", "\u202f")


def smooth(values: list[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def make(ctx) -> None:
    s = training.settings(ctx.profile)
    ctx.progress(2 * s.steps)
    gmlp = training.trained_gmlp(ctx)
    base = trained_transformer(ctx, gmlp.params)
    d_ff = base.model.blocks[0].ffn[0].out_features

    fig, ax = style.plt.subplots(figsize=(8.0, 4.0))
    window = max(s.eval_every // 2, 1)
    steps = np.arange(1, s.steps + 1)
    runs = ((gmlp, "gMLP", style.ORANGE), (base, "Transformer", style.BLUE))
    for run, name, colour in runs:
        ax.plot(steps, smooth(run.train_loss, window), color=colour, lw=1.2, alpha=0.55,
                label=f"{name}: train (trung bình trượt {window} bước)")
        ax.plot(run.eval_steps, run.eval_loss, "o-", color=colour, lw=2, ms=3.5,
                label=f"{name}: held-out = {run.final_eval_loss:.3f}")
    ax.axhline(math.log(256), color=style.SOFT_GREY, lw=1, ls="--")
    ax.text(s.steps, math.log(256), "ln 256: đoán đều 256 byte", ha="right", va="bottom", fontsize=8)
    ax.set_xlabel("bước huấn luyện")
    ax.set_ylabel("cross-entropy (nats / byte)")
    low = min(min(min(r.eval_loss), float(smooth(r.train_loss, window)[window:].min())) for r, _, _ in runs)
    ax.set_ylim(max(low - 0.2, 0), math.log(256) + 0.3)
    ax.set_xlim(0, s.steps)
    ax.legend(fontsize=8.5, loc="best")
    ax.set_title(f"gMLP ({thousands(gmlp.params)} tham số) vs Transformer ({thousands(base.params)} tham số, "
                 f"d_ff = {d_ff})\n{s.n_layers} lớp, d = {s.d_model}, n = {s.seq_len}, {s.steps} bước × batch "
                 f"{s.batch}, byte-level trên văn bản pydoc (quy mô rất nhỏ)")
    fig.tight_layout()
    ctx.save(fig, "gmlp_vs_transformer.png")
    ctx.measures.update({
        "steps": s.steps, "batch": s.batch, "seq_len": s.seq_len, "d_model": s.d_model, "n_layers": s.n_layers,
        "gmlp": {"params": gmlp.params, "final_train_loss": round(gmlp.final_train_loss, 4),
                 "final_eval_loss": round(gmlp.final_eval_loss, 4), "train_seconds": round(gmlp.seconds, 1)},
        "transformer": {"params": base.params, "d_ff": d_ff, "n_heads": N_HEADS,
                        "final_train_loss": round(base.final_train_loss, 4),
                        "final_eval_loss": round(base.final_eval_loss, 4), "train_seconds": round(base.seconds, 1)},
        "param_ratio": round(base.params / gmlp.params, 4),
    })
