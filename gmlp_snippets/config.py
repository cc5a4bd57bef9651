"""GMLPConfig: the hyper-parameters of a gMLP model, with presets for the paper's models."""

from __future__ import annotations

import dataclasses

# --8<-- [start:imports]
from dataclasses import dataclass
# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass
class GMLPConfig:
    """Sizes of a gMLP model; the presets are the paper's (Liu et al. 2021, Tables 1 and 5)."""

    d_model: int = 256
    d_ffn: int = 1536  # width of Z = σ(XU); the SGU halves it
    seq_len: int = 256  # n: W is n x n, so the number of tokens is fixed when the model is built
    n_layers: int = 30
    causal: bool = False  # True for language modelling: token i only sees tokens <= i
    d_attn: int | None = None  # aMLP: width of the tiny attention head; None = plain gMLP
    survival_prob: float = 1.0  # stochastic depth: the last block survives with this probability
    norm_eps: float = 1e-5
    activation: str = "gelu"
    # language models
    vocab_size: int | None = None
    tie_embeddings: bool = True  # the LM head reuses the token embedding matrix
    # image models: the image is cut into (image_size / patch_size)^2 = seq_len patches
    image_size: int | None = None
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
# --8<-- [end:config]

    def __post_init__(self) -> None:
        if self.d_ffn % 2:
            raise ValueError(f"GMLPConfig: d_ffn must be even (the SGU splits Z in two), got {self.d_ffn}")
        if not 0.0 < self.survival_prob <= 1.0:
            raise ValueError(f"GMLPConfig: survival_prob must be in (0, 1], got {self.survival_prob}")
        if self.image_size is not None:
            if self.image_size % self.patch_size:
                raise ValueError(f"GMLPConfig: image_size must be a multiple of patch_size {self.patch_size}, "
                                 f"got {self.image_size}")
            patches = (self.image_size // self.patch_size) ** 2
            if self.seq_len != patches:
                raise ValueError(f"GMLPConfig: seq_len must equal the number of patches {patches} "
                                 f"for image_size {self.image_size}, got {self.seq_len}")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GMLPConfig:
        """A copy of a named preset (see PRESETS), with any field overridden."""
        if name not in PRESETS:
            raise KeyError(f"GMLPConfig.from_preset: unknown preset {name!r}; known: {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)


def _vision(d_model: int, d_ffn: int, survival_prob: float) -> GMLPConfig:
    # ImageNet-1K at 224 x 224 with 16 x 16 patches: n = 14 * 14 = 196 tokens, L = 30. The survival
    # probabilities (1.00 / 0.95 / 0.80 for Ti / S / B) are the paper's training recipe as we recall it,
    # not checked against its text; they only matter in training mode.
    return GMLPConfig(d_model=d_model, d_ffn=d_ffn, seq_len=196, n_layers=30, survival_prob=survival_prob,
                      image_size=224, patch_size=16, num_classes=1000)


def _bert(n_layers: int, d_attn: int | None) -> GMLPConfig:
    # BERT-scale masked LMs. d_model 512, d_ffn 3072 and L = 48 (gMLP) / 36 (aMLP) give the paper's
    # 130M / 109M parameters; the 128-token length and 32k vocabulary are assumptions of this package.
    return GMLPConfig(d_model=512, d_ffn=3072, seq_len=128, n_layers=n_layers, d_attn=d_attn, vocab_size=32000)


PRESETS: dict[str, GMLPConfig] = {
    "gmlp-ti16": _vision(128, 768, 1.00),
    "gmlp-s16": _vision(256, 1536, 0.95),
    "gmlp-b16": _vision(512, 3072, 0.80),
    "gmlp-base": _bert(48, None),
    "amlp-base": _bert(36, 64),
    # small enough to train in seconds on a laptop CPU: tests, figures, the notebook
    "tiny": GMLPConfig(d_model=64, d_ffn=256, seq_len=64, n_layers=4, causal=True, vocab_size=256),
}
