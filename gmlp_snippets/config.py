"""GMLPConfig: the sizes of a gMLP model, with presets for the paper's models.

A wrong field fails at construction with a message naming it (gmlp_snippets/checks.py),
never later inside a matrix product; the models built from a config check nothing again.
"""

# --8<-- [start:imports]
import dataclasses
from dataclasses import dataclass

from gmlp_snippets.checks import check_config
from gmlp_snippets.projection import ACTIVATIONS

# --8<-- [end:imports]


# --8<-- [start:config]
@dataclass
class GMLPConfig:
    """Sizes of a gMLP model. The presets are the paper's (Tables 1 and 5)."""

    d_model: int = 256
    d_ffn: int = 1536  # width of Z = σ(XU); the SGU halves it
    seq_len: int = 256  # n: W is n x n, so the number of tokens is fixed at build time
    n_layers: int = 30
    causal: bool = False  # True for language modelling: token i only sees tokens <= i
    d_attn: int | None = None  # aMLP: width of the tiny attention; None = plain gMLP
    survival_prob: float = 1.0  # stochastic depth: survival probability of block L
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

    def __post_init__(self) -> None:
        """Reject a field outside its range, naming the field and the range."""
        check_config(self, sorted(k for k in ACTIVATIONS if k is not None))

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "GMLPConfig":
        """A copy of a named preset (see PRESETS), with any field overridden."""
        if name not in PRESETS:
            raise KeyError(
                f"GMLPConfig.from_preset: unknown preset {name!r}; "
                f"known: {sorted(PRESETS)}"
            )
        return dataclasses.replace(PRESETS[name], **overrides)


def _vision(d_model: int, d_ffn: int) -> GMLPConfig:
    # ImageNet-1K at 224 x 224 with 16 x 16 patches: n = 14 * 14 = 196 tokens, L = 30.
    # Stochastic depth is left off (survival_prob 1.0): it is part of a training recipe,
    # not of the architecture, and the presets only fix the architecture.
    return GMLPConfig(
        d_model=d_model,
        d_ffn=d_ffn,
        seq_len=196,
        n_layers=30,
        image_size=224,
        patch_size=16,
        num_classes=1000,
    )


def _bert(n_layers: int, d_attn: int | None) -> GMLPConfig:
    # BERT-scale masked LMs. d_model 512, d_ffn 3072 and L = 48 (gMLP) / 36 (aMLP) give
    # the paper's 130M / 109M parameters; the 128-token length and 32k vocabulary are
    # assumptions of this package.
    return GMLPConfig(
        d_model=512,
        d_ffn=3072,
        seq_len=128,
        n_layers=n_layers,
        d_attn=d_attn,
        vocab_size=32000,
    )


PRESETS: dict[str, GMLPConfig] = {
    "gmlp-ti16": _vision(128, 768),
    "gmlp-s16": _vision(256, 1536),
    "gmlp-b16": _vision(512, 3072),
    "gmlp-base": _bert(48, None),
    "amlp-base": _bert(36, 64),
    # small enough to train in seconds on a laptop CPU: tests, figures, the notebook
    "tiny": GMLPConfig(
        d_model=64, d_ffn=256, seq_len=64, n_layers=4, causal=True, vocab_size=256
    ),
}


# --8<-- [end:config]
