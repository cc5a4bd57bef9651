"""A small pre-norm causal Transformer language model: the baseline the gMLP is compared
with.

Same interface as GMLPForCausalLM (`loss(tokens)` on a (b, n + 1) batch), learned
position embeddings, tied input/output embeddings. `match(...)` sizes it to a given
number of parameters with the standard proportions (d_ff = 4 d_model, fixed number of
heads) by changing its width or its depth - never by starving the feed-forward layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class TransformerBlock(nn.Module):
    """x + attn(norm(x)), then x + ffn(norm(x)); causal multi-head self-attention."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(
                f"TransformerBlock: d_model {d_model} "
                f"is not a multiple of n_heads {n_heads}"
            )
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (
            self.qkv(self.norm1(x))
            .view(b, n, 3, self.n_heads, d // self.n_heads)
            .permute(2, 0, 3, 1, 4)
        )
        attn = F.scaled_dot_product_attention(
            q, k, v, is_causal=True
        )  # (b, heads, n, d / heads)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.ffn(self.norm2(x))


class TransformerLM(nn.Module):
    """Token + learned position embeddings -> pre-norm blocks -> norm -> tied output
    layer."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        d_ff: int,
        seq_len: int,
    ):
        super().__init__()
        self.seq_len = seq_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.zeros(seq_len, d_model))
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.head.weight = self.embed.weight
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        if n > self.seq_len:
            raise ValueError(f"TransformerLM: at most {self.seq_len} tokens, got {n}")
        x = self.embed(tokens) + self.pos[:n]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of a (b, n + 1) batch of token ids."""
        logits = self(tokens[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())


def param_count(
    vocab_size: int, d_model: int, n_layers: int, d_ff: int, seq_len: int
) -> int:
    """Parameters of TransformerLM (the tied output matrix counted once), without
    building it."""
    block = (
        2 * 2 * d_model
        + (3 * d_model * d_model + 3 * d_model)
        + (d_model * d_model + d_model)
        + (d_model * d_ff + d_ff)
        + (d_ff * d_model + d_model)
    )
    return (
        vocab_size * d_model
        + seq_len * d_model
        + n_layers * block
        + 2 * d_model
        + vocab_size
    )


FF_MULT = 4  # d_ff = 4 d_model, as in the original Transformer, BERT and GPT-2


@dataclass(frozen=True)
class Match:
    """The size of a TransformerLM chosen to have about `target` parameters.

    `changed` says which of the reference model's sizes was changed: "width" (d_model,
    same depth) or "depth" (n_layers, same width).
    """

    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    params: int
    target: int
    changed: str

    @property
    def ratio(self) -> float:
        """params / target (1.0 = exactly matched)."""
        return self.params / self.target

    def build(self, vocab_size: int, seq_len: int) -> TransformerLM:
        return TransformerLM(
            vocab_size, self.d_model, self.n_layers, self.n_heads, self.d_ff, seq_len
        )


def match(
    target_params: int,
    vocab_size: int,
    d_model: int,
    n_layers: int,
    n_heads: int,
    seq_len: int,
    ff_mult: int = FF_MULT,
) -> Match:
    """The TransformerLM with d_ff = ff_mult * d_model closest to `target_params`
    parameters, among

    * the reference depth `n_layers` at any width that is a multiple of `n_heads`
      ("width"), and
    * the reference width `d_model` at any depth ("depth");

    the smaller relative mismatch wins, the width on a tie (the depth then stays the
    reference's).
    """

    def candidate(d: int, layers: int, changed: str) -> Match:
        params = param_count(vocab_size, d, layers, ff_mult * d, seq_len)
        return Match(d, layers, n_heads, ff_mult * d, params, target_params, changed)

    if d_model % n_heads:
        raise ValueError(
            f"match: d_model {d_model} is not a multiple of n_heads {n_heads}"
        )
    widths = [
        candidate(d, n_layers, "width")
        for d in range(n_heads, 4 * d_model + 1, n_heads)
    ]
    depths = [
        candidate(d_model, layers, "depth") for layers in range(1, 4 * n_layers + 1)
    ]
    return min(
        widths + depths,
        key=lambda m: (abs(m.params - target_params), m.changed != "width"),
    )
