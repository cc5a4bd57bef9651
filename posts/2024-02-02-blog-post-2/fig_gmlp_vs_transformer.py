"""gmlp_vs_transformer.png - the small gMLP language model against a Transformer of the
same size, on the same task: byte-level next-token prediction on the pydoc corpus.

What is controlled:

* parameters matched within a few percent with standard proportions: the Transformer
  keeps d_ff = 4 d_model and 4 heads, and its width (or, if that matches better, its
  depth) is what is changed to reach the gMLP's count (`transformer.match`); the figure
  says which;
* the same tokens: for a seed, both models are trained on the same batches, for the same
  steps, with the same optimiser and schedule (`training.train_lm` with the same
  settings but the learning rate, and the same seed);
* a learning rate tuned for each: both models are trained at every rate of
  `LR_GRID[profile]` with the first seed, the same steps and batches, and each keeps
  the rate of its lowest final training loss (the mean of the last eval_every steps).
  That loss is on training windows, never on the held-out text the comparison scores,
  and at the quick profile the runs see each training byte about 1.4 times, so it is
  not yet a memorisation score (at the full profile, about 19 times, it may favour
  a rate that memorises);
* several seeds (initialisation and batch order): each is run for both models at their
  rates (the first seed's run is the sweep's); the final loss of every run is measured
  on the whole held-out text (the same bytes for every run), and the figure shows each
  seed and the mean. The winner is named only if the mean gap is at least twice the
  pooled seed-to-seed standard deviation, otherwise it is a tie.

Not controlled: the recipe other than the rate (warm-up, schedule, clipping, weight
decay, batch, steps) is the profile's, tuned for neither; the sweep has one seed;
and the scale is a toy. The manifest also records how local the first seed's gMLP W is
at each evaluation (`locality`, the measure of spatial_weights.png), to see whether the
locality appears early, when the gMLP pulls ahead.

The gMLP at the profile's own rate and ctx.seed is the run the other figures share
(`training.trained_gmlp`), one of the sweep's; the other runs are trained here only.
At this scale the comparison says little about the paper's claims; the figure gives the
sizes, steps, tokens, rates and seeds so the reader can judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import matplotlib.ticker
import numpy as np
import torch

from explainer.figures import style
from gmlp_snippets.model import GMLPForCausalLM

from . import corpus, training, transformer
from .fig_spatial_weights import locality

N_HEADS = 4
N_SEEDS = 3
VOCAB = 256
TIE_SIGMAS = 2.0  # a gap smaller than this many pooled standard deviations is a tie
# the learning rates each model is trained with (first seed) before the comparison:
# steps of about 3x around the profile's own rate (training.SETTINGS), which is one
LR_GRID = {
    "test": (1e-3, 3e-3, 1e-2, 3e-2),
    "quick": (1e-3, 3e-3, 1e-2, 3e-2),
    "full": (6e-4, 2e-3, 6e-3, 2e-2),
}


def seeds_of(ctx) -> list[int]:
    return [ctx.seed + i for i in range(N_SEEDS)]


def trained(
    ctx, model: str, seed: int, lr: float, size: transformer.Match
) -> training.TrainedLM:
    """`model` ("gmlp" or "transformer", of `size`) trained with the profile's recipe
    at learning rate `lr` from `seed`, once per run. The gMLP at the profile's rate and
    ctx.seed is the run the other figures share."""
    s = training.settings(ctx.profile)
    if model == "gmlp" and seed == ctx.seed and lr == s.lr:
        return training.trained_gmlp(ctx)
    s = replace(s, lr=lr)

    def build() -> training.TrainedLM:
        torch.manual_seed(seed)
        net = (
            GMLPForCausalLM(training.gmlp_config(s))
            if model == "gmlp"
            else size.build(VOCAB, s.seq_len)
        )
        return training.train_lm(net.to(ctx.device), s, ctx.device, seed, ctx)

    key = (
        model,
        ctx.profile,
        str(ctx.device),
        seed,
        lr,
        size if model != "gmlp" else None,
    )
    return training.memo(ctx, key, build)


def transformer_size(ctx, target_params: int) -> transformer.Match:
    s = training.settings(ctx.profile)
    return transformer.match(
        target_params, VOCAB, s.d_model, s.n_layers, N_HEADS, s.seq_len
    )


def best_rate(rates: list[float], losses: list[float | None]) -> float:
    """The rate of the lowest loss (None: the run diverged); the lower rate on a
    tie."""
    finite = [
        (loss, lr) for lr, loss in zip(rates, losses, strict=True) if loss is not None
    ]
    if not finite:
        raise ValueError(f"every learning rate of {rates} diverged")
    return min(finite)[1]


def held_out_windows(seq_len: int, device) -> torch.Tensor:
    """The whole held-out text cut into consecutive (seq_len + 1)-byte windows,
    overlapping by one byte so that every byte after the first is predicted exactly
    once."""
    held_out = corpus.split()[1]
    starts = torch.arange(0, held_out.numel() - (seq_len + 1) + 1, seq_len)
    return corpus.windows(held_out.to(device), starts, seq_len + 1)


@torch.no_grad()
def held_out_loss(
    model: torch.nn.Module, tokens: torch.Tensor, batch: int = 64
) -> float:
    """Mean next-byte cross-entropy over all the windows (every predicted byte weighs
    the same)."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=tokens.device)
    for chunk in tokens.split(batch):
        total += model.loss(chunk).double() * chunk.shape[0]
    return (total / tokens.shape[0]).item()


def bigram_loss(windows: torch.Tensor) -> float:
    """The held-out loss of byte-pair counts from the training text (add-one smoothing):
    the loss of a model that looks at the previous byte only, as a yardstick for the two
    networks."""
    train = corpus.split()[0].long()
    counts = (
        torch.bincount(train[:-1] * VOCAB + train[1:], minlength=VOCAB * VOCAB)
        .double()
        .view(VOCAB, VOCAB)
        + 1
    )
    log_p = (counts / counts.sum(1, keepdim=True)).log()
    w = windows.cpu()
    return float(-log_p[w[:, :-1], w[:, 1:]].mean())


def thousands(value: int) -> str:
    """1234567 -> '1 234 567' (narrow no-break spaces, as Vietnamese writes them)."""
    return f"{value:,}".replace(",", "\u202f")


def signed(value: float, digits: int) -> str:
    """+0.123 / −0.123: an explicit sign, and a real minus sign as the tick labels
    have."""
    return f"{value:+.{digits}f}".replace("-", "−")


def smooth(values: list[float], window: int) -> np.ndarray:
    """Trailing moving average (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def sample_std(values: list[float]) -> float:
    """Seed-to-seed standard deviation (ddof = 1; 0 for a single seed)."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def verdict(gap: float, pooled_std: float) -> str:
    """'gmlp' or 'transformer' (the lower loss) when |gap| >= TIE_SIGMAS pooled std,
    else 'tie'."""
    if abs(gap) < TIE_SIGMAS * pooled_std or gap == 0:
        return "tie"
    return "gmlp" if gap < 0 else "transformer"


def r4(x: float) -> float:
    return round(float(x), 4)


@dataclass
class Comparison:
    """Both models over the seeds, scored on the same held-out bytes: what the figure
    draws and the manifest records. The summary numbers are derived from `loss`."""

    s: training.LMSettings
    seeds: list[int]
    gmlps: list[training.TrainedLM]
    bases: list[training.TrainedLM]
    size: transformer.Match
    loss: dict[str, list[float]]  # {"gmlp" | "transformer": held-out loss per seed}
    eval_bytes: int
    bigram: float  # the byte-pair counting baseline on the same bytes
    rates: list[float]  # the learning rates tried, for both models
    # {"gmlp" | "transformer": final training loss per rate, seed seeds[0]}; None:
    # the run diverged
    sweep: dict[str, list[float | None]]
    # share of |W| within k tokens (mean over the blocks) of the seeds[0] gMLP, at
    # initialisation and at each evaluation; the same share for an even |W|
    locality: list[float]
    k: int
    uniform: float

    @property
    def lr(self) -> dict[str, float]:
        """The rate each model's comparison runs use: its best in the sweep."""
        return {k: best_rate(self.rates, v) for k, v in self.sweep.items()}

    @property
    def mean(self) -> dict[str, float]:
        return {k: float(np.mean(v)) for k, v in self.loss.items()}

    @property
    def std(self) -> dict[str, float]:
        return {k: sample_std(v) for k, v in self.loss.items()}

    @property
    def gap(self) -> float:
        """gMLP - Transformer: < 0 when the gMLP is lower."""
        return self.mean["gmlp"] - self.mean["transformer"]

    @property
    def pooled(self) -> float:
        std = self.std
        return math.sqrt((std["gmlp"] ** 2 + std["transformer"] ** 2) / 2)

    @property
    def winner(self) -> str:
        return verdict(self.gap, self.pooled)

    @property
    def tokens_seen(self) -> int:
        return self.s.steps * self.s.batch * self.s.seq_len


def make(ctx) -> None:
    s = training.settings(ctx.profile)
    seeds, rates = seeds_of(ctx), list(LR_GRID[ctx.profile])
    ctx.progress(2 * (len(rates) + len(seeds) - 1) * s.steps)
    # the sweep: every rate with the first seed, the same budget for both models
    tried = {"gmlp": [trained(ctx, "gmlp", seeds[0], lr, None) for lr in rates]}
    size = transformer_size(ctx, tried["gmlp"][0].params)
    tried["transformer"] = [
        trained(ctx, "transformer", seeds[0], lr, size) for lr in rates
    ]
    sweep = {
        name: [
            r4(r.final_train_loss) if math.isfinite(r.final_train_loss) else None
            for r in runs
        ]
        for name, runs in tried.items()
    }
    # the comparison: each model at its best rate, every seed (the first seed's run is
    # the sweep's)
    lr = {name: best_rate(rates, losses) for name, losses in sweep.items()}
    runs = {
        name: [tried[name][rates.index(lr[name])]]
        + [trained(ctx, name, seed, lr[name], size) for seed in seeds[1:]]
        for name in tried
    }
    gmlps, bases = runs["gmlp"], runs["transformer"]
    k = max(2, s.seq_len // 16)  # as spatial_weights.png
    shares = [
        [
            locality(state[f"gmlp.blocks.{i}.sgu.weight"].double().tril(), k)
            for i in range(s.n_layers)
        ]
        for state in (gmlps[0].init_state, *gmlps[0].states)
    ]
    windows = held_out_windows(s.seq_len, ctx.device)
    loss = {
        "gmlp": [held_out_loss(r.model, windows) for r in gmlps],
        "transformer": [held_out_loss(r.model, windows) for r in bases],
    }
    c = Comparison(
        s,
        seeds,
        gmlps,
        bases,
        size,
        loss,
        eval_bytes=int(windows.shape[0] * s.seq_len),
        bigram=bigram_loss(windows),
        rates=rates,
        sweep=sweep,
        locality=[float(np.mean([share for share, _ in blocks])) for blocks in shares],
        k=k,
        uniform=shares[0][0][1],
    )
    draw(ctx, c)
    ctx.measures.update(measures(c))


def measures(c: Comparison) -> dict:
    """The numbers the manifest keeps (and the post quotes), floats to 4 decimals."""
    s, mean, std, gap, pooled = c.s, c.mean, c.std, c.gap, c.pooled

    def model_measures(runs, name) -> dict:
        return {
            "lr": c.lr[name],
            "eval_loss": [r4(x) for x in c.loss[name]],
            "eval_loss_mean": r4(mean[name]),
            "eval_loss_std": r4(std[name]),
            # = eval_loss_mean (the name older readers use)
            "final_eval_loss": r4(mean[name]),
            "train_loss": [r4(r.final_train_loss) for r in runs],
            "train_loss_mean": r4(np.mean([r.final_train_loss for r in runs])),
            "train_seconds": [round(r.seconds, 1) for r in runs],
            # the held-out curve drawn on the left (random windows), mean of the seeds
            "eval_curve_mean": [
                r4(x) for x in np.mean([r.eval_loss for r in runs], axis=0)
            ],
        }

    return {
        "seeds": c.seeds,
        "n_seeds": len(c.seeds),
        "steps": s.steps,
        "batch": s.batch,
        "seq_len": s.seq_len,
        "tokens_seen": c.tokens_seen,
        # how many times each run sees the training text, on average
        "train_passes": r4(c.tokens_seen / corpus.split()[0].numel()),
        "eval_bytes": c.eval_bytes,
        "lr_sweep": {
            "seed": c.seeds[0],
            "rates": c.rates,
            "criterion": f"mean training loss of the last {s.eval_every} steps",
            **c.sweep,
            "at_edge": {
                name: c.lr[name] in (c.rates[0], c.rates[-1]) for name in c.sweep
            },
        },
        "curve_steps": c.gmlps[0].eval_steps,
        "locality": {
            "k": c.k,
            "uniform": r4(c.uniform),
            "steps": [0, *c.gmlps[0].eval_steps],
            "share": [r4(x) for x in c.locality],
            # at initialisation, at the first evaluation, at the end
            "init_share": r4(c.locality[0]),
            "early_step": c.gmlps[0].eval_steps[0],
            "early_share": r4(c.locality[1]),
            "final_share": r4(c.locality[-1]),
        },
        "gmlp": {
            "params": c.gmlps[0].params,
            "d_model": s.d_model,
            "d_ffn": s.d_ffn,
            "n_layers": s.n_layers,
            **model_measures(c.gmlps, "gmlp"),
        },
        "transformer": {
            "params": c.bases[0].params,
            "d_model": c.size.d_model,
            "d_ff": c.size.d_ff,
            "n_heads": c.size.n_heads,
            "n_layers": c.size.n_layers,
            **model_measures(c.bases, "transformer"),
        },
        "matched_by": c.size.changed,
        "param_ratio": r4(c.bases[0].params / c.gmlps[0].params),
        "gap_mean": r4(gap),  # gMLP - Transformer: < 0 when the gMLP is lower
        "gap_abs": r4(abs(gap)),
        "gap_per_seed": [
            r4(g - t)
            for g, t in zip(c.loss["gmlp"], c.loss["transformer"], strict=True)
        ],
        "pooled_std": r4(pooled),
        "gap_in_pooled_std": r4(abs(gap) / pooled) if pooled > 0 else None,
        "winner": c.winner,
        "bigram_eval_loss": r4(c.bigram),
    }


def draw(ctx, c: Comparison) -> None:
    s, size, seeds, gmlps, bases = c.s, c.size, c.seeds, c.gmlps, c.bases
    loss, mean, std, bigram = c.loss, c.mean, c.std, c.bigram
    fig, (ax, bx, cx) = style.plt.subplots(
        1, 3, figsize=(11.6, 4.6), gridspec_kw={"width_ratios": [2.3, 1, 1]}
    )
    window = max(s.eval_every // 2, 1)
    steps = np.arange(1, s.steps + 1)
    n = len(seeds)
    runs = (
        ("gmlp", gmlps, "gMLP", style.ORANGE),
        ("transformer", bases, "Transformer", style.BLUE),
    )

    # left: the curves - train (moving average, mean of the seeds), held-out (each seed
    # thin, mean thick)
    low = math.inf
    for _, group, name, colour in runs:
        train = np.mean([smooth(r.train_loss, window) for r in group], axis=0)
        ax.plot(
            steps,
            train,
            color=colour,
            lw=1.1,
            alpha=0.5,
            label=f"{name}: train (trung bình trượt {window} bước)",
        )
        for r in group:
            ax.plot(r.eval_steps, r.eval_loss, color=colour, lw=0.7, alpha=0.45)
        curve = np.mean([r.eval_loss for r in group], axis=0)
        ax.plot(
            group[0].eval_steps,
            curve,
            "o-",
            color=colour,
            lw=2,
            ms=3.5,
            label=f"{name}: held-out (mảnh: từng seed, đậm: trung bình)",
        )
        low = min(
            low,
            float(np.min([r.eval_loss for r in group])),
            float(train[window:].min()),
        )
    ax.axhline(math.log(VOCAB), color=style.SOFT_GREY, lw=1, ls="--")
    ax.text(
        0.12 * s.steps,
        math.log(VOCAB),
        "ln 256: đoán đều 256 byte",
        ha="left",
        va="bottom",
        fontsize=8,
    )
    # how local the gMLP's W is as it learns (right axis)
    lx = ax.twinx()
    lx.plot(
        [0, *gmlps[0].eval_steps],
        c.locality,
        "s--",
        color=style.GREEN,
        lw=1.2,
        ms=3,
        label=f"gMLP seed {seeds[0]}: phần |W| trong {c.k} token sát chéo (trục phải)",
    )
    lx.axhline(c.uniform, color=style.GREEN, lw=0.8, ls=":")
    lx.text(
        0.05 * s.steps,
        c.uniform,
        f"|W| trải đều: {c.uniform:.0%}",
        ha="left",
        va="top",
        fontsize=7.5,
        color=style.GREEN,
    )
    # room above 100% so the line stays under the legend
    lx.set_ylim(0, 1.25)
    lx.set_yticks([0, 0.25, 0.5, 0.75, 1])
    lx.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    lx.spines["right"].set_visible(True)
    lx.spines["right"].set_color(style.GREEN)
    lx.tick_params(axis="y", colors=style.GREEN, labelsize=8)
    lx.set_ylabel("phần |W| sát chéo (gMLP)", color=style.GREEN, fontsize=9)
    ax.set_xlabel("bước huấn luyện")
    ax.set_ylabel("cross-entropy (nats / byte)")
    ax.set_ylim(max(low - 0.2, 0), math.log(VOCAB) + 0.3)
    ax.set_xlim(0, s.steps)
    handles = ax.get_legend_handles_labels()[0] + lx.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=8, loc="upper right", bbox_to_anchor=(1, 0.93))
    ax.set_title(
        f"Đường loss (held-out trong lúc học: {s.eval_batches * s.batch} "
        "đoạn ngẫu nhiên, mỗi seed một bộ)",
        fontsize=9.5,
    )

    # right: the final loss of each run on the whole held-out text, mean +- one standard
    # deviation
    offsets = np.linspace(-0.12, 0.12, n) if n > 1 else np.zeros(1)
    for x, (key, _, _name, colour) in enumerate(runs):
        bx.scatter(
            x + offsets,
            loss[key],
            s=18,
            color=colour,
            alpha=0.6,
            zorder=3,
            linewidths=0,
        )
        bx.errorbar(
            x + 0.3,
            mean[key],
            yerr=std[key],
            fmt="o",
            color=colour,
            ms=6,
            capsize=4,
            lw=1.6,
            zorder=4,
        )
        bx.text(
            x + 0.42,
            mean[key],
            f"{mean[key]:.3f}\n± {std[key]:.3f}",
            va="center",
            ha="left",
            fontsize=8,
            color=colour,
        )
    bx.axhline(bigram, color=style.GREY, lw=1, ls=":")
    bx.text(
        -0.4,
        bigram,
        f"bigram (đếm cặp byte): {bigram:.3f}",
        va="bottom",
        ha="left",
        fontsize=7.5,
    )
    values = loss["gmlp"] + loss["transformer"] + [bigram]
    spread = max(max(values) - min(values), 1e-3)
    bx.set_ylim(min(values) - 0.2 * spread, max(values) + 0.2 * spread)
    bx.set_xlim(-0.45, 2.05)
    bx.set_xticks([0, 1], ["gMLP", "Transformer"])
    bx.set_ylabel("loss cuối trên toàn bộ phần để riêng")
    said = {
        "gmlp": "gMLP thấp hơn",
        "transformer": "Transformer thấp hơn",
        "tie": f"hoà (|chênh| < {TIE_SIGMAS:g}σ gộp)",
    }[c.winner]
    bx.set_title(
        f"{n} seed: chấm = từng seed,\nthanh = TB ± độ lệch chuẩn\n"
        f"gMLP − Transformer = {signed(c.gap, 3)} (σ gộp {c.pooled:.3f})\n→ {said}",
        fontsize=9,
    )

    # far right: the learning-rate sweep (first seed), the chosen rate ringed
    for key, _, name, colour in runs:
        rates, losses = zip(
            *((lr, v) for lr, v in zip(c.rates, c.sweep[key], strict=True) if v),
            strict=True,
        )  # a diverged run (None) is left out
        cx.plot(rates, losses, "o-", color=colour, lw=1.4, ms=4, label=name)
        cx.scatter(
            [c.lr[key]],
            [c.sweep[key][c.rates.index(c.lr[key])]],
            s=110,
            facecolors="none",
            edgecolors=colour,
            lw=1.6,
            zorder=4,
        )
    cx.set_xscale("log")
    cx.set_xticks(c.rates, [f"{lr:g}" for lr in c.rates], fontsize=8)
    cx.minorticks_off()
    cx.set_xlabel("learning rate (đỉnh)")
    cx.set_ylabel(f"loss train cuối ({s.eval_every} bước cuối)")
    cx.legend(fontsize=8)
    cx.set_title(
        f"Dò learning rate: seed {seeds[0]},\n{s.steps} bước mỗi mức, như nhau\n"
        "cho hai mô hình; vòng = mức được chọn",
        fontsize=9,
    )

    changed = {
        "width": f"độ rộng d đổi từ {s.d_model} thành {size.d_model}",
        "depth": f"số lớp đổi từ {s.n_layers} thành {size.n_layers}",
    }[size.changed]
    extra = signed((bases[0].params / gmlps[0].params - 1) * 100, 1)
    fig.suptitle(
        f"gMLP: d = {s.d_model}, d_ffn = {s.d_ffn}, {s.n_layers} lớp, "
        f"{thousands(gmlps[0].params)} tham số  |  "
        f"Transformer: d = {size.d_model}, d_ff = 4d = {size.d_ff}, "
        f"{size.n_heads} head, {size.n_layers} lớp, "
        f"{thousands(bases[0].params)} tham số ({extra}%)\n"
        f"Khớp số tham số bằng cách giữ d_ff = 4d, {changed}. "
        f"Cùng dữ liệu: {s.steps} bước × batch {s.batch} × "
        f"n = {s.seq_len} = {thousands(c.tokens_seen)} token mỗi lần chạy,\n"
        "cùng AdamW và lịch learning rate; learning rate của mỗi mô hình là mức tốt "
        f"nhất của nó khi dò (ô phải): gMLP {c.lr['gmlp']:g}, "
        f"Transformer {c.lr['transformer']:g};\n"
        f"seed {', '.join(map(str, seeds))}; byte-level trên văn bản pydoc, "
        "đánh giá trên "
        f"{thousands(c.eval_bytes)} byte để riêng (quy mô đồ chơi)",
        fontsize=9.5,
    )
    fig.tight_layout()
    ctx.save(fig, "gmlp_vs_transformer.png")
