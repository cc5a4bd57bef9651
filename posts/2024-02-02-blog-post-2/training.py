"""Train a small byte-level language model on the pydoc corpus - shared by the figures
that need one.

The gMLP language model is trained once per run and reused (`trained_gmlp`): the
SGU-gate and spatial-weight figures both read it, the gMLP-vs-Transformer figure plots
its loss curves.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from gmlp_snippets.config import GMLPConfig
from gmlp_snippets.model import GMLPForCausalLM

from . import corpus


@dataclass(frozen=True)
class LMSettings:
    """Model size and training schedule of one profile."""

    d_model: int
    d_ffn: int
    seq_len: int
    n_layers: int
    batch: int
    steps: int
    lr: float
    warmup: int
    eval_every: int
    eval_batches: int
    weight_decay: float = 0.01


SETTINGS = {
    # tiny: the test suite only checks that the code runs and draws
    "test": LMSettings(
        d_model=16,
        d_ffn=32,
        seq_len=16,
        n_layers=2,
        batch=4,
        steps=12,
        lr=3e-3,
        warmup=2,
        eval_every=6,
        eval_batches=2,
    ),
    # CPU: the package's `tiny` preset, trained for about half a minute on 2 cores
    "quick": LMSettings(
        d_model=64,
        d_ffn=256,
        seq_len=64,
        n_layers=4,
        batch=16,
        steps=600,
        lr=3e-3,
        warmup=50,
        eval_every=50,
        eval_batches=8,
    ),
    # GPU: wider (d_ffn = 6d as in the paper), deeper, 4x longer sequences, 8x the
    # tokens. The corpus has ~420 KB of training text: this is ~20 passes over it, about
    # where the held-out loss stops falling (much longer runs memorise the corpus and
    # the held-out loss climbs back up)
    "full": LMSettings(
        d_model=128,
        d_ffn=768,
        seq_len=256,
        n_layers=6,
        batch=32,
        steps=1000,
        lr=2e-3,
        warmup=100,
        eval_every=100,
        eval_batches=16,
        weight_decay=0.1,
    ),
}


@dataclass
class TrainedLM:
    """A trained model, its weights at initialisation and at each evaluation, and its
    loss curves."""

    model: nn.Module
    init_state: dict[str, torch.Tensor]
    settings: LMSettings
    params: int
    train_loss: list[float] = field(default_factory=list)  # every step
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)  # held-out, at eval_steps
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)  # at eval_steps
    seconds: float = 0.0

    @property
    def final_train_loss(self) -> float:
        """Mean training loss over the last eval_every steps."""
        tail = self.train_loss[-self.settings.eval_every :]
        return sum(tail) / len(tail)

    @property
    def final_eval_loss(self) -> float:
        return self.eval_loss[-1]


def settings(profile: str) -> LMSettings:
    return SETTINGS[profile]


def gmlp_config(s: LMSettings) -> GMLPConfig:
    """The package's `tiny` causal LM preset at this profile's size (byte vocabulary of
    256)."""
    return GMLPConfig.from_preset(
        "tiny", d_model=s.d_model, d_ffn=s.d_ffn, seq_len=s.seq_len, n_layers=s.n_layers
    )


def count_params(model: nn.Module) -> int:
    """Trainable parameters, a tied matrix counted once."""
    return sum(
        p.numel()
        for p in {id(p): p for p in model.parameters() if p.requires_grad}.values()
    )


def loss_function(
    model: nn.Module, device: torch.device, fast: bool | None = None, backend="inductor"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`model.loss`, made fast on a GPU: bf16 autocast (float32 weights and loss) and
    torch.compile (every gMLP compiles into one graph, see tests/test_compile.py).

    `fast` defaults to "on CUDA": on the CPU the loss is the plain eager one, so CPU
    figures stay byte-stable. `backend` lets the tests run the fast path on the CPU.
    """
    if fast is None:
        fast = device.type == "cuda"
    if not fast:
        return model.loss
    compiled = torch.compile(model.loss, backend=backend)
    dtype = torch.bfloat16

    def loss(tokens: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return compiled(tokens).float()

    return loss


def train_lm(
    model: nn.Module, s: LMSettings, device: torch.device, seed: int, ctx=None
) -> TrainedLM:
    """AdamW, linear warm-up then cosine decay to 10%, gradient clipping at 1;
    model.loss(tokens) is the loss.

    Batches are drawn with a CPU generator from `seed`, so every model sees the same
    windows.
    """
    train, held_out = (t.to(device) for t in corpus.split())
    gen = torch.Generator().manual_seed(seed + 1)
    eval_starts = corpus.random_starts(
        held_out,
        s.eval_batches * s.batch,
        s.seq_len + 1,
        torch.Generator().manual_seed(seed + 2),
    )
    eval_tokens = corpus.windows(held_out, eval_starts, s.seq_len + 1).split(s.batch)

    result = TrainedLM(model, cpu_state(model), s, count_params(model))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": s.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=s.lr,
        betas=(0.9, 0.98),
    )

    def lr_factor(step: int) -> float:
        if step < s.warmup:
            return (step + 1) / s.warmup
        progress = (step - s.warmup) / max(s.steps - s.warmup, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_of = loss_function(model, device)
    losses = []  # kept on the device; read back once per evaluation
    start = time.perf_counter()
    for step in range(1, s.steps + 1):
        model.train()
        tokens = corpus.windows(
            train,
            corpus.random_starts(train, s.batch, s.seq_len + 1, gen),
            s.seq_len + 1,
        )
        loss = loss_of(tokens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.detach())
        if step % s.eval_every == 0 or step == s.steps:
            result.train_loss.extend(torch.stack(losses).float().cpu().tolist())
            losses.clear()
            result.eval_steps.append(step)
            result.eval_loss.append(evaluate(model, eval_tokens, loss_of))
            result.states.append(cpu_state(model))
        if ctx is not None:
            ctx.advance()
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's weights (a few hundred KB at these sizes)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: tuple[torch.Tensor, ...],
    loss_of: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Mean next-token cross-entropy (nats per byte) over fixed held-out batches."""
    model.eval()
    loss_of = loss_of or model.loss
    total = torch.zeros((), device=batches[0].device)
    for tokens in batches:
        total += loss_of(tokens)
    return (total / len(batches)).item()


def trained_gmlp(ctx) -> TrainedLM:
    """The gMLP causal LM of ctx.profile trained on ctx.device with ctx.seed - trained
    once per run (kept in ctx.memo)."""
    key = ("gmlp", ctx.profile, str(ctx.device), ctx.seed)
    s = settings(ctx.profile)
    if key in ctx.memo:
        ctx.advance(s.steps)
    else:
        torch.manual_seed(ctx.seed)
        model = GMLPForCausalLM(gmlp_config(s)).to(ctx.device)
        ctx.memo[key] = train_lm(model, s, ctx.device, ctx.seed, ctx)
    return ctx.memo[key]


def memo(ctx, key: tuple, build) -> TrainedLM:
    """Train with build() once per run under `key` (for other models, e.g. the
    Transformer baseline)."""
    if key not in ctx.memo:
        ctx.memo[key] = build()
    return ctx.memo[key]


def snapshot(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of `model` holding the weights `state` (e.g. its initialisation)."""
    other = copy.deepcopy(model)
    other.load_state_dict(state)
    return other
