"""Spatial Gating Unit: s(Z) = Z1 ⊙ f_{W,b}(norm(Z2)), token mixing with an n x n W.

Shapes: b - batch, n - tokens (sequence length), d_ffn - channels of Z (Z1, Z2: half).
"""

# --8<-- [start:imports]
import torch
import torch.nn.functional as F
from torch import nn

from gmlp_snippets.checks import check_sgu_args, check_sgu_inputs, check_sizes
from gmlp_snippets.norm import LayerNorm

# --8<-- [end:imports]


# --8<-- [start:tiny_attention]
class TinyAttention(nn.Module):
    """aMLP's single head: softmax(QK^T / sqrt(d_attn)) V, projected to d_out."""

    def __init__(self, d_in: int, d_out: int, d_attn: int = 64, causal: bool = False):
        super().__init__()
        check_sizes(self, d_in=d_in, d_out=d_out, d_attn=d_attn)
        self.causal = causal
        self.qkv = nn.Linear(d_in, 3 * d_attn)
        self.proj = nn.Linear(d_attn, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 x (b, n, d_attn)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(out)  # (b, n, d_attn) -> (b, n, d_out)


# --8<-- [end:tiny_attention]


# --8<-- [start:sgu]
class SpatialGatingUnit(nn.Module):
    """s(Z) = Z1 ⊙ f_{W,b}(norm(Z2)) with f_{W,b}(Z2) = W Z2 + b mixing the n tokens."""

    def __init__(self, d_ffn, seq_len, causal=False, d_attn=None, d_model=None):
        super().__init__()
        check_sgu_args(self, d_ffn, seq_len, d_attn, d_model)
        self.d_ffn, self.seq_len, self.causal = d_ffn, seq_len, causal
        self.norm = LayerNorm(d_ffn // 2)
        # W: row i says how token i reads the tokens j; b: one per token
        self.weight = nn.Parameter(torch.empty(seq_len, seq_len))
        self.bias = nn.Parameter(torch.empty(seq_len))
        # aMLP: a tiny attention over the block input x (d_model wide) joins the gate
        self.attn = None
        if d_attn is not None:
            self.attn = TinyAttention(d_model or d_ffn, d_ffn // 2, d_attn, causal)
        self.init_weights()

    def init_weights(self) -> None:
        # W ~ U(-1e-3/n, 1e-3/n) and b = 1, g-mlp-pytorch's (lucidrains) initialisation:
        # f(Z2) ≈ 1, so s(Z) ≈ Z1 and each block starts as a plain FFN
        eps = 1e-3 / self.seq_len
        nn.init.uniform_(self.weight, -eps, eps)
        nn.init.ones_(self.bias)

    def forward(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """z: (b, n, d_ffn) = σ(XU); x: the normalised block input (aMLP only)."""
        check_sgu_inputs(self, z, x)
        n = z.shape[1]  # seq_len, or fewer tokens in a causal model
        z1, z2 = z.chunk(2, dim=-1)  # (b, n, d_ffn/2) each
        z2 = self.norm(z2)
        w, b = self.weight[:n, :n], self.bias[:n, None]  # (n, n), (n, 1)
        if self.causal:
            w = w.tril()  # token i reads only tokens j <= i: zero W's upper triangle
        # W Z2 + b as one batched product with b added in place: `w @ z2 + b` reads the
        # same but makes a gMLP-S training step 8-11% slower (benchmarks/sgu_product.py)
        z2 = torch.baddbmm(b, w.expand(z.shape[0], n, n), z2)  # (b, n, d_ffn/2)
        if self.attn is not None:
            z2 = z2 + self.attn(x)  # aMLP: the tiny attention joins the gate
        return z1 * z2  # (b, n, d_ffn/2)

    # --8<-- [end:sgu]

    def extra_repr(self) -> str:
        return f"d_ffn={self.d_ffn}, seq_len={self.seq_len}, causal={self.causal}"
