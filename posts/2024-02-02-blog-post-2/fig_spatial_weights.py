"""spatial_weights.png - the paper's key picture at small scale: the spatial weights W
(n x n) that the small causal gMLP language model learned on the pydoc corpus, one panel
per block.

The paper finds W local and shift-invariant (each row the same short filter, shifted: a
Toeplitz matrix). Two measures, per block, recorded in the manifest and printed on the
figure:

* locality: share of |W| (lower triangle) within k tokens of the diagonal,
  0 <= i - j < k, against the share a W with equal |W| everywhere would have;
* Toeplitz score: the share of the variance of the entries explained by their diagonal's
  mean (1 - within-diagonal variance / total variance), over the diagonals 0 <= i - j <=
  n/2; 1 for a Toeplitz matrix, about (diagonals / entries) for noise. The score of W at
  initialisation is the reference.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import torch

from explainer.figures import style

from . import training

WINDOW = 96  # heatmaps show at most this many tokens (a block around the middle token)
SPAN = 48  # the middle token's row is drawn for the last SPAN + 1 tokens


def locality(w: torch.Tensor, k: int) -> tuple[float, float]:
    """(share of |W| with 0 <= i - j < k, the same share for a W with equal |W|
    everywhere)."""
    n = w.shape[0]
    offset = torch.arange(n).unsqueeze(1) - torch.arange(n).unsqueeze(0)
    lower, near = offset >= 0, (offset >= 0) & (offset < k)
    mass = w.abs()
    return float(mass[near].sum() / mass[lower].sum()), float(near.sum() / lower.sum())


def toeplitz_score(w: torch.Tensor) -> float:
    """1 - within-diagonal variance / total variance over the diagonals
    0 <= i - j <= n/2."""
    diagonals = [torch.diagonal(w, -o) for o in range(w.shape[0] // 2 + 1)]
    values = torch.cat(diagonals)
    total = float(((values - values.mean()) ** 2).sum())
    within = sum(float(((d - d.mean()) ** 2).sum()) for d in diagonals)
    return 1.0 - within / total if total > 0 else 0.0


def make(ctx) -> None:
    s = training.settings(ctx.profile)
    ctx.progress(s.steps)
    trained = training.trained_gmlp(ctx)
    n, k = s.seq_len, max(2, s.seq_len // 16)
    weights = [
        block.sgu.weight.detach().to("cpu", torch.float64).tril()
        for block in trained.model.gmlp.blocks
    ]
    initial = [
        trained.init_state[f"gmlp.blocks.{i}.sgu.weight"].double().tril()
        for i in range(len(weights))
    ]
    shares, chance = zip(*(locality(w, k) for w in weights), strict=True)
    chance = chance[0]
    scores = [toeplitz_score(w) for w in weights]
    scores_init = [toeplitz_score(w) for w in initial]
    mean_share, mean_score = float(np.mean(shares)), float(np.mean(scores))
    local = mean_share >= 2 * chance and mean_score >= 0.5
    verdict = (
        "W học được là cục bộ và gần như bất biến khi dịch (dạng Toeplitz)"
        if local
        else "ở quy mô này W chưa cho thấy rõ tính cục bộ / bất biến khi dịch"
    )

    layers = len(weights)
    fig, axes = style.plt.subplots(
        2,
        layers,
        figsize=(max(1.95 * layers, 7.0) + 0.8, 5.3),
        gridspec_kw={"height_ratios": [1.15, 1]},
        squeeze=False,
    )
    # a limited palette: the heatmaps read the same and the PNG stays small
    # the upper triangle (masked by the causal SGU) stays transparent
    cmap = (
        matplotlib.colormaps[style.DIVERGING]
        .resampled(21)
        .with_extremes(bad=(0, 0, 0, 0))
    )
    row = n // 2  # the middle token, drawn as a row below
    size = min(n, WINDOW)  # large W: show the size x size block around the middle token
    lo = row - size // 2 if n > WINDOW else 0
    span = min(row, SPAN)
    for i, (w, share, score) in enumerate(zip(weights, shares, scores, strict=True)):
        top, bottom = axes[0, i], axes[1, i]
        lower = style.to_numpy(w)[np.tril_indices(n)]
        limit = float(np.percentile(np.abs(lower), 99.5)) or 1.0
        shown = style.to_numpy(w[lo : lo + size, lo : lo + size])
        shown[np.triu_indices(size, 1)] = np.nan
        top.imshow(
            shown,
            cmap=cmap,
            vmin=-limit,
            vmax=limit,
            extent=(lo - 0.5, lo + size - 0.5, lo + size - 0.5, lo - 0.5),
        )
        top.axhline(row, color=style.GREY, lw=0.8, ls=":")
        top.set_title(
            f"khối {i + 1}\ncục bộ {share:.0%} · Toeplitz {score:.2f}", fontsize=9
        )
        top.set_xticks([lo, lo + size - 1])
        top.set_yticks([lo, lo + size - 1] if i == 0 else [])
        if i == 0:
            top.set_ylabel("token i (dòng của W)")
        top.set_xlabel("token j", fontsize=8.5)
        values = style.to_numpy(w[row, row - span : row + 1])
        offsets = np.arange(-span, 1)
        bottom.bar(
            offsets,
            values,
            width=0.9,
            color=np.where(values >= 0, style.RED, style.BLUE),
        )
        bottom.axhline(0, color=style.GREY, lw=0.8)
        bottom.axvspan(-k + 0.5, 0.5, color=style.SOFT_GREY, lw=0)
        bottom.set_xlim(-span - 0.5, 0.5)
        bottom.set_xlabel("j − i", fontsize=8.5)
        if i == 0:
            bottom.set_ylabel(f"W[{row}, j] (token giữa)")
    fig.suptitle(
        f"Spatial weights W sau {s.steps} bước "
        f"(gMLP {trained.params / 1e3:.0f}k tham số, {layers} khối, "
        f"n = {n}, byte-level, văn bản pydoc)\n{verdict}:\n"
        f"|W| nằm trong {k} token sát đường chéo: "
        f"{mean_share:.0%} (nếu trải đều: {chance:.0%}) · độ Toeplitz {mean_score:.2f} "
        f"(lúc khởi tạo: {np.mean(scores_init):.2f})",
        fontsize=10,
    )
    fig.tight_layout()
    ctx.save(fig, "spatial_weights.png")
    ctx.measures.update(
        {
            "steps": s.steps,
            "params": trained.params,
            "seq_len": n,
            "k": k,
            "row": row,
            "locality_share": [round(v, 4) for v in shares],
            "locality_share_uniform": round(chance, 4),
            "toeplitz_score": [round(v, 4) for v in scores],
            "toeplitz_score_init": [round(v, 4) for v in scores_init],
            "local_and_shift_invariant": local,
        }
    )
