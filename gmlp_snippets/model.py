"""The gMLP block, the backbone of L identical blocks, the heads for text and images.

Shapes: b - batch, n - tokens, d - d_model, V - vocabulary size, C - classes.
"""

# --8<-- [start:imports]
import torch
import torch.nn.functional as F
from torch import nn

from gmlp_snippets.config import GMLPConfig, check_positive, check_prob, check_sizes
from gmlp_snippets.norm import LayerNorm
from gmlp_snippets.projection import ChannelProjection
from gmlp_snippets.sgu import SpatialGatingUnit

# --8<-- [end:imports]


# --8<-- [start:block]
class GMLPBlock(nn.Module):
    """Y = X + s(σ(norm(X) U)) V: pre-norm, channel projection, SGU, projection back."""

    def __init__(
        self,
        d_model: int,
        d_ffn: int,
        seq_len: int,
        causal: bool = False,
        d_attn: int | None = None,
        survival_prob: float = 1.0,
        norm_eps: float = 1e-5,
        activation: str = "gelu",
    ):
        super().__init__()
        check_sizes(self, d_model=d_model, d_ffn=d_ffn, seq_len=seq_len)
        check_prob(self, survival_prob=survival_prob)
        check_positive(self, norm_eps=norm_eps)
        self.d_model = d_model
        self.survival_prob = survival_prob
        self.norm = LayerNorm(d_model, eps=norm_eps)
        self.proj_in = ChannelProjection(d_model, d_ffn, activation)  # U, then σ
        self.sgu = SpatialGatingUnit(d_ffn, seq_len, causal, d_attn, d_model)
        self.proj_out = nn.Linear(d_ffn // 2, d_model)  # V

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            d = self.d_model
            raise ValueError(
                f"GMLPBlock: expected x of shape (batch, n, {d}), got {tuple(x.shape)}"
            )
        shortcut = x
        x = self.norm(x)
        z = self.proj_in(x)  # (b, n, d_ffn)
        z = self.sgu(z, x)  # (b, n, d_ffn/2)
        y = self.proj_out(z)  # (b, n, d)
        if self.training and self.survival_prob < 1.0:
            # stochastic depth: drop the whole block for some samples, rescale the rest
            keep = torch.rand(y.shape[0], 1, 1, device=y.device) < self.survival_prob
            y = y * keep / self.survival_prob
        return shortcut + y


# --8<-- [end:block]


# --8<-- [start:backbone]
class GMLP(nn.Module):
    """L identical gMLP blocks and a final norm: (b, n, d) in, (b, n, d) out."""

    def __init__(self, cfg: GMLPConfig):
        super().__init__()
        self.cfg = cfg
        # survival falls linearly from 1 (first block) to survival_prob (last block)
        drop = 1.0 - cfg.survival_prob
        self.blocks = nn.ModuleList(
            GMLPBlock(
                cfg.d_model,
                cfg.d_ffn,
                cfg.seq_len,
                cfg.causal,
                cfg.d_attn,
                survival_prob=1.0 - i / max(cfg.n_layers - 1, 1) * drop,
                norm_eps=cfg.norm_eps,
                activation=cfg.activation,
            )
            for i in range(cfg.n_layers)
        )
        self.norm = LayerNorm(cfg.d_model, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # no position embeddings: each block's W already knows which token sits where
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


# --8<-- [end:backbone]


# --8<-- [start:lm]
# nn.Embedding reads int64 and int32 ids; the narrower ones are widened to int64 first
TOKEN_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class GMLPForMaskedLM(nn.Module):
    """Token embedding -> gMLP -> logits over the vocabulary, one per token."""

    def __init__(self, cfg: GMLPConfig):
        super().__init__()
        if cfg.vocab_size is None:
            raise ValueError(
                f"{type(self).__name__}: the config needs a vocab_size, got None"
            )
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.gmlp = GMLP(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)
        if cfg.tie_embeddings:
            # one V x d matrix reads the tokens in and writes them out
            self.head.weight = self.embed.weight
        self.init_weights()

    def init_weights(self) -> None:
        # small embeddings keep the first logits near 0: the first loss is near log(V)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.check_tokens(tokens)  # (b, n) ids in [0, V)
        return self.head(self.gmlp(self.embed(tokens)))  # (b, n, V)

    def check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The ids as int64 or int32; a ValueError names a wrong shape, dtype or range.

        The range is read on the host only for CPU tensors outside torch.compile: on a
        GPU it would wait for the device, and under torch.compile it would break the
        graph. There, an id out of range fails in nn.Embedding's own bounds check.
        """
        name, V = type(self).__name__, self.cfg.vocab_size
        if tokens.dim() != 2 or tokens.dtype not in TOKEN_DTYPES:
            raise ValueError(
                f"{name}: expected integer token ids (int64, int32, "
                f"int16, int8 or uint8) of shape (batch, n), "
                f"got {tokens.dtype} of shape {tuple(tokens.shape)}"
            )
        if tokens.dtype not in (torch.int64, torch.int32):
            tokens = tokens.long()  # compared below as int64: uint8 255 stays 255
        cpu = tokens.device.type == "cpu"
        if cpu and tokens.numel() and not torch.compiler.is_compiling():
            lo, hi = (int(v) for v in tokens.aminmax())
            if lo < 0 or hi >= V:
                raise ValueError(
                    f"{name}: token ids must lie in [0, {V}), got [{lo}, {hi}]"
                )
        return tokens


class GMLPForCausalLM(GMLPForMaskedLM):
    """The same model with causal SGUs: logits at token i depend on tokens <= i only."""

    def __init__(self, cfg: GMLPConfig):
        if not cfg.causal:
            raise ValueError(
                "GMLPForCausalLM: the config must have causal=True, got causal=False"
            )
        super().__init__(cfg)

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of a (b, n + 1) batch of token ids."""
        logits = self(tokens[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())

    @torch.no_grad()
    def generate(
        self,
        tokens: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample max_new_tokens after a (b, n) prompt, reading its last seq_len."""
        if not temperature > 0:  # NaN fails too
            raise ValueError(
                f"GMLPForCausalLM.generate: temperature must be > 0, got {temperature}"
            )
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(
                f"GMLPForCausalLM.generate: the prompt must be (batch, n) "
                f"token ids with n >= 1, got shape {tuple(tokens.shape)}"
            )
        for _ in range(max_new_tokens):
            logits = self(tokens[:, -self.cfg.seq_len :])[:, -1] / temperature  # (b, V)
            next_token = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            tokens = torch.cat([tokens, next_token], dim=1)  # (b, n + 1)
        return tokens


# --8<-- [end:lm]


# --8<-- [start:vision]
class GMLPForImageClassification(nn.Module):
    """Patches -> linear embedding -> gMLP -> mean over patches -> class logits."""

    def __init__(self, cfg: GMLPConfig):
        super().__init__()
        if cfg.image_size is None:
            raise ValueError(
                "GMLPForImageClassification: the config needs an image_size, got None"
            )
        self.cfg = cfg
        p = cfg.patch_size
        # a p x p convolution with stride p = one linear map applied to every patch
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.d_model, kernel_size=p, stride=p)
        self.gmlp = GMLP(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        c, s = self.cfg.in_chans, self.cfg.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, s, s):
            raise ValueError(
                f"GMLPForImageClassification: expected images of shape "
                f"(batch, {c}, {s}, {s}), got {tuple(images.shape)}"
            )
        # (b, d, h, w) -> (b, n = h*w, d); contiguous, or blocks read a transposed view
        x = self.patch_embed(images).flatten(2).transpose(1, 2).contiguous()
        return self.head(self.gmlp(x).mean(dim=1))  # (b, C)


# --8<-- [end:vision]
