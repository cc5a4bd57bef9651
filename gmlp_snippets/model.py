"""The gMLP block, the backbone of L identical blocks, the heads for text and images.

Shapes: b - batch, n - tokens, d - d_model, V - vocabulary size, C - classes.
"""

# --8<-- [start:imports]
import torch
import torch.nn.functional as F
from torch import nn

from gmlp_snippets.checks import (
    check_images,
    check_images_config,
    check_lm_config,
    check_prob,
    check_prompt,
    check_token_ids,
    check_tokens_by_channels,
)
from gmlp_snippets.config import GMLPConfig
from gmlp_snippets.norm import LayerNorm
from gmlp_snippets.projection import ChannelProjection
from gmlp_snippets.sgu import SpatialGatingUnit

# --8<-- [end:imports]


# --8<-- [start:block]
class GMLPBlock(nn.Module):
    """Y = X + s(σ(norm(X) U)) V: pre-norm, channel projection, SGU, projection back."""

    def __init__(self, cfg: GMLPConfig, survival_prob: float = 1.0):
        super().__init__()
        check_prob(self, survival_prob=survival_prob)
        self.d_model, self.survival_prob = cfg.d_model, survival_prob
        d, d_ffn = cfg.d_model, cfg.d_ffn
        self.norm = LayerNorm(d, eps=cfg.norm_eps)
        self.proj_in = ChannelProjection(d, d_ffn, cfg.activation)  # U, then σ
        self.sgu = SpatialGatingUnit(d_ffn, cfg.seq_len, cfg.causal, cfg.d_attn, d)
        self.proj_out = nn.Linear(d_ffn // 2, d)  # V

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens_by_channels(self, x, self.d_model)
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
        drop = (1.0 - cfg.survival_prob) / max(cfg.n_layers - 1, 1)
        self.blocks = nn.ModuleList(
            GMLPBlock(cfg, survival_prob=1.0 - i * drop) for i in range(cfg.n_layers)
        )
        self.norm = LayerNorm(cfg.d_model, eps=cfg.norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # no position embeddings: each block's W already knows which token sits where
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


# --8<-- [end:backbone]


# --8<-- [start:lm]
class GMLPLanguageModel(nn.Module):
    """Token embedding -> gMLP -> logits over the vocabulary, one per token."""

    causal: bool  # masked LM: False (every token reads all); causal LM: True

    def __init__(self, cfg: GMLPConfig):
        super().__init__()
        check_lm_config(self, cfg)  # a vocab_size, and cfg.causal == self.causal
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
        tokens = check_token_ids(self, tokens)  # (b, n) ids in [0, V)
        return self.head(self.gmlp(self.embed(tokens)))  # (b, n, V)


class GMLPForMaskedLM(GMLPLanguageModel):
    """BERT-style: every token reads the whole sequence (the paper's MLM models)."""

    causal = False


class GMLPForCausalLM(GMLPLanguageModel):
    """Causal SGUs: the logits at token i depend on tokens <= i only."""

    causal = True

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token cross-entropy of a (b, n + 1) batch of token ids."""
        logits = self(tokens[:, :-1])
        return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())

    @torch.no_grad()
    def generate(self, tokens, max_new_tokens, temperature=1.0, generator=None):
        """Sample max_new_tokens after a (b, n) prompt, reading its last seq_len."""
        check_prompt(self, tokens, temperature)
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
        check_images_config(self, cfg)  # an image_size
        self.cfg = cfg
        p = cfg.patch_size
        # a p x p convolution with stride p = one linear map applied to every patch
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.d_model, kernel_size=p, stride=p)
        self.gmlp = GMLP(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(self, images)  # (b, in_chans, image_size, image_size)
        # (b, d, h, w) -> (b, n = h*w, d); contiguous, or blocks read a transposed view
        x = self.patch_embed(images).flatten(2).transpose(1, 2).contiguous()
        return self.head(self.gmlp(x).mean(dim=1))  # (b, C)


# --8<-- [end:vision]
