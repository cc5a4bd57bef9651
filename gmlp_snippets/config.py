"""GMLPConfig: the sizes of a gMLP model, with presets for the paper's models.

The `checks` section holds the argument checks every constructor of the package runs: a
wrong size fails at construction with a message naming the class and the field, never
later inside a matrix product.
"""

from __future__ import annotations

import dataclasses

# --8<-- [start:imports]
from dataclasses import dataclass

# --8<-- [end:imports]


# --8<-- [start:checks]
def _owner(owner: object) -> str:
    return owner if isinstance(owner, str) else type(owner).__name__


def check_sizes(owner: object, **sizes: object) -> None:
    """Raise a ValueError naming `owner.field` unless every size is an int >= 1."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{_owner(owner)}.{name} must be an int >= 1, got {value!r}"
            )


def check_positive(owner: object, **values: object) -> None:
    """Raise a ValueError naming `owner.field` unless every value is a number > 0."""
    for name, value in values.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and 0 < value < float("inf")):
            raise ValueError(
                f"{_owner(owner)}.{name} must be a number > 0, got {value!r}"
            )


def check_prob(owner: object, **values: object) -> None:
    """Raise a ValueError naming `owner.field` unless every value lies in (0, 1]."""
    for name, value in values.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and 0 < value <= 1):
            raise ValueError(
                f"{_owner(owner)}.{name} must be a number in (0, 1], got {value!r}"
            )


# --8<-- [end:checks]


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
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        """Reject a field outside its range, naming the field and the range."""
        # imported here, not at the top: projection.py imports this module's checks
        from gmlp_snippets.projection import ACTIVATIONS

        check_sizes(
            self,
            d_model=self.d_model,
            d_ffn=self.d_ffn,
            seq_len=self.seq_len,
            n_layers=self.n_layers,
            patch_size=self.patch_size,
            in_chans=self.in_chans,
            num_classes=self.num_classes,
        )
        for name in ("d_attn", "vocab_size", "image_size"):  # None: not used
            if getattr(self, name) is not None:
                check_sizes(self, **{name: getattr(self, name)})
        if self.d_ffn % 2:
            raise ValueError(
                f"GMLPConfig.d_ffn must be even (the SGU splits Z in "
                f"two), got {self.d_ffn}"
            )
        for name in ("causal", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"GMLPConfig.{name} must be a bool, got {getattr(self, name)!r}"
                )
        check_prob(self, survival_prob=self.survival_prob)
        check_positive(self, norm_eps=self.norm_eps)
        known = sorted(str(k) for k in ACTIVATIONS if k is not None)
        if self.activation not in known:
            raise ValueError(
                f"GMLPConfig.activation must be one of {known}, got {self.activation!r}"
            )
        if self.image_size is not None:
            if self.image_size % self.patch_size:
                raise ValueError(
                    f"GMLPConfig.image_size must be a multiple of "
                    f"patch_size {self.patch_size}, got {self.image_size}"
                )
            patches = (self.image_size // self.patch_size) ** 2
            if self.seq_len != patches:
                raise ValueError(
                    f"GMLPConfig.seq_len must equal the number of patches "
                    f"{patches} for image_size {self.image_size}, "
                    f"got {self.seq_len}"
                )

    @classmethod
    def from_preset(cls, name: str, **overrides) -> GMLPConfig:
        """A copy of a named preset (see PRESETS), with any field overridden."""
        if name not in PRESETS:
            raise KeyError(
                f"GMLPConfig.from_preset: unknown preset {name!r}; "
                f"known: {sorted(PRESETS)}"
            )
        return dataclasses.replace(PRESETS[name], **overrides)


def _vision(d_model: int, d_ffn: int, survival_prob: float) -> GMLPConfig:
    # ImageNet-1K at 224 x 224 with 16 x 16 patches: n = 14 * 14 = 196 tokens, L = 30.
    # The survival probabilities (1.00 / 0.95 / 0.80 for Ti / S / B) are the paper's
    # training recipe as we recall it, not checked against its text; they only matter in
    # training.
    return GMLPConfig(
        d_model=d_model,
        d_ffn=d_ffn,
        seq_len=196,
        n_layers=30,
        survival_prob=survival_prob,
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
    "gmlp-ti16": _vision(128, 768, 1.00),
    "gmlp-s16": _vision(256, 1536, 0.95),
    "gmlp-b16": _vision(512, 3072, 0.80),
    "gmlp-base": _bert(48, None),
    "amlp-base": _bert(36, 64),
    # small enough to train in seconds on a laptop CPU: tests, figures, the notebook
    "tiny": GMLPConfig(
        d_model=64, d_ffn=256, seq_len=64, n_layers=4, causal=True, vocab_size=256
    ),
}
