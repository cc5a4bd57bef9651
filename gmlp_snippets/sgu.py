"""Spatial Gating Unit: s(Z) = Z1 ⊙ f_{W,b}(norm(Z2)), token mixing with a static n x n matrix.

Shapes: b - batch, n - tokens (sequence length), d - channels of Z (d_ffn), d/2 - channels of Z1, Z2.
"""

# --8<-- [start:imports]
import torch
import torch.nn.functional as F
from torch import nn

from gmlp_snippets.norm import LayerNorm
# --8<-- [end:imports]


# --8<-- [start:tiny_attention]
class TinyAttention(nn.Module):
    """aMLP's single head: softmax(QK^T / sqrt(d_attn)) V, projected to the gate's width."""

    def __init__(self, d_in: int, d_out: int, d_attn: int = 64, causal: bool = False):
        super().__init__()
        self.d_attn = d_attn
        self.causal = causal
        self.qkv = nn.Linear(d_in, 3 * d_attn)
        self.proj = nn.Linear(d_attn, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 x (b, n, d_attn)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (b, n, d_attn)
        return self.proj(out)  # (b, n, d_out)
# --8<-- [end:tiny_attention]


# --8<-- [start:sgu]
class SpatialGatingUnit(nn.Module):
    """s(Z) = Z1 ⊙ f_{W,b}(norm(Z2)) with f_{W,b}(Z2) = W Z2 + b mixing the n tokens."""

    def __init__(self, d_ffn: int, seq_len: int, causal: bool = False,
                 d_attn: int | None = None, d_model: int | None = None):
        super().__init__()
        if d_ffn % 2:
            raise ValueError(f"SpatialGatingUnit: d_ffn must be even (Z is split in two halves), got {d_ffn}")
        self.d_ffn, self.seq_len, self.causal = d_ffn, seq_len, causal
        self.norm = LayerNorm(d_ffn // 2)
        self.weight = nn.Parameter(torch.empty(seq_len, seq_len))  # W: row i says how token i reads tokens j
        self.bias = nn.Parameter(torch.empty(seq_len))  # b: one per token
        # aMLP: a tiny attention over the block input, added to the gate (d_model = block input width)
        self.attn = TinyAttention(d_model or d_ffn, d_ffn // 2, d_attn, causal) if d_attn else None
        self.init_weights()

    def init_weights(self) -> None:
        # W near zero and b = 1: f(Z2) ≈ 1, so s(Z) ≈ Z1 and each block starts as a plain FFN
        eps = 1e-3 / self.seq_len
        nn.init.uniform_(self.weight, -eps, eps)
        nn.init.ones_(self.bias)

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """z: (b, n, d_ffn) from the channel projection; x: the normalised block input (aMLP only)."""
        if z.dim() != 3 or z.shape[-1] != self.d_ffn:
            raise ValueError(f"SpatialGatingUnit: expected z of shape (batch, n, {self.d_ffn}), "
                             f"got {tuple(z.shape)}")
        n = z.shape[1]
        if n > self.seq_len or (n < self.seq_len and not self.causal):
            need = f"<= {self.seq_len}" if self.causal else f"exactly {self.seq_len} (pad shorter inputs)"
            raise ValueError(f"SpatialGatingUnit: expected a sequence length {need} (seq_len), "
                             f"got {n}")
        z1, z2 = z.chunk(2, dim=-1)  # (b, n, d_ffn/2) each
        z2 = self.norm(z2)
        w, b = self.weight[:n, :n], self.bias[:n]
        if self.causal:
            w = w.tril()  # token i may only read tokens j <= i: zero the upper triangle of W
        # W Z2 + b over the token axis: per sample one (n x n) @ (n x d_ffn/2) product, plus b
        gate = torch.baddbmm(b.unsqueeze(-1), w.expand(z2.shape[0], n, n), z2)  # (b, n, d_ffn/2)
        if self.attn is not None:
            if x is None:
                raise ValueError("SpatialGatingUnit: this aMLP unit needs the block input x for its tiny attention")
            gate = gate + self.attn(x)
        return z1 * gate  # (b, n, d_ffn/2)
# --8<-- [end:sgu]

    def extra_repr(self) -> str:
        return f"d_ffn={self.d_ffn}, seq_len={self.seq_len}, causal={self.causal}"
