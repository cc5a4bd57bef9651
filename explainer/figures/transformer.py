"""A small pre-norm causal Transformer language model: the baseline the gMLP is compared with.

Same interface as GMLPForCausalLM (`loss(tokens)` on a (b, n + 1) batch), learned position
embeddings, tied input/output embeddings; `matched(...)` picks the feed-forward width that
gives the same number of parameters as a given model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TransformerBlock(nn.Module):
    """x + attn(norm(x)), then x + ffn(norm(x)); causal multi-head self-attention."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"TransformerBlock: d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (b, heads, n, d / heads)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.ffn(self.norm2(x))


class TransformerLM(nn.Module):
    """Token + learned position embeddings -> pre-norm blocks -> norm -> tied output layer."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, d_ff: int, seq_len: int):
        super().__init__()
        self.seq_len = seq_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.zeros(seq_len, d_model))
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, d_ff) for _ in range(n_layers))
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


def param_count(vocab_size: int, d_model: int, n_layers: int, d_ff: int, seq_len: int) -> int:
    """Parameters of TransformerLM (the tied output matrix counted once), without building it."""
    block = 2 * 2 * d_model + (3 * d_model * d_model + 3 * d_model) + (d_model * d_model + d_model) \
        + (d_model * d_ff + d_ff) + (d_ff * d_model + d_model)
    return vocab_size * d_model + seq_len * d_model + n_layers * block + 2 * d_model + vocab_size


def matched(target_params: int, vocab_size: int, d_model: int, n_layers: int, n_heads: int, seq_len: int) -> TransformerLM:
    """The TransformerLM of this width and depth whose feed-forward width (a multiple of 8) comes
    closest to `target_params` parameters."""
    best = min(range(8, 16 * d_model + 1, 8),
               key=lambda d_ff: abs(param_count(vocab_size, d_model, n_layers, d_ff, seq_len) - target_params))
    return TransformerLM(vocab_size, d_model, n_layers, n_heads, best, seq_len)
