"""Argument and input checks: a wrong size fails early, naming the class and the field.

Kept apart from the modules the post shows, so that the shown code is the paper's. Each
layer calls one of these in one line. This module imports nothing of the package.
"""

from __future__ import annotations

# --8<-- [start:imports]
import torch

# --8<-- [end:imports]


# --8<-- [start:checks]


def _name(owner: object) -> str:
    return owner if isinstance(owner, str) else type(owner).__name__


def check_sizes(owner: object, **values: object) -> None:
    """Raise a ValueError naming `owner.field` unless every value is an int >= 1."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{_name(owner)}.{name} must be an int >= 1, got {value!r}"
            )


def check_even(owner: object, **values: int) -> None:
    """Raise a ValueError naming `owner.field` unless every value is even."""
    for name, value in values.items():
        if value % 2:
            raise ValueError(
                f"{_name(owner)}.{name} must be even (the SGU splits Z in two), "
                f"got {value}"
            )


def check_positive(owner: object, **values: object) -> None:
    """Raise a ValueError naming `owner.field` unless every value is a number > 0."""
    for name, value in values.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and 0 < value < float("inf")):
            raise ValueError(
                f"{_name(owner)}.{name} must be a number > 0, got {value!r}"
            )


def check_prob(owner: object, **values: object) -> None:
    """Raise a ValueError naming `owner.field` unless every value lies in (0, 1]."""
    for name, value in values.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and 0 < value <= 1):
            raise ValueError(
                f"{_name(owner)}.{name} must be a number in (0, 1], got {value!r}"
            )


def check_one_of(owner: object, name: str, value: object, known: list) -> None:
    """Raise a ValueError naming `owner.name` unless value is in known."""
    if value not in known:
        raise ValueError(f"{_name(owner)}.{name} must be one of {known}, got {value!r}")


def check_channels(owner: object, x: torch.Tensor, d: int) -> None:
    """The last axis of x holds d channels."""
    if x.shape[-1] != d:
        raise ValueError(
            f"{_name(owner)}: expected {d} channels in the last axis, "
            f"got {x.shape[-1]} (shape {tuple(x.shape)})"
        )


def check_tokens_by_channels(
    owner: object, x: torch.Tensor, d: int, what: str = "x"
) -> None:
    """x is (batch, n, d)."""
    if x.dim() != 3 or x.shape[-1] != d:
        raise ValueError(
            f"{_name(owner)}: expected {what} of shape (batch, n, {d}), "
            f"got {tuple(x.shape)}"
        )


def check_sgu_args(owner, d_ffn, seq_len, d_attn, d_model) -> None:
    """The sizes of a SpatialGatingUnit; d_attn and d_model only for aMLP."""
    check_sizes(owner, d_ffn=d_ffn, seq_len=seq_len)
    check_even(owner, d_ffn=d_ffn)
    if d_attn is not None:
        check_sizes(owner, d_attn=d_attn, d_model=d_ffn if d_model is None else d_model)


def check_sgu_inputs(sgu, z: torch.Tensor, x: torch.Tensor | None) -> None:
    """z is (batch, n, d_ffn), n = seq_len (or fewer if causal); x given for aMLP."""
    name, n = _name(sgu), sgu.seq_len
    check_tokens_by_channels(sgu, z, sgu.d_ffn, "z")
    if z.shape[1] > n or (z.shape[1] < n and not sgu.causal):
        need = f"<= {n}" if sgu.causal else f"exactly {n} (pad shorter inputs)"
        raise ValueError(
            f"{name}: expected a sequence length {need} (seq_len), got {z.shape[1]}"
        )
    if sgu.attn is not None and x is None:
        raise ValueError(
            f"{name}: this aMLP unit needs the block input x for its tiny attention"
        )


# nn.Embedding reads int64 and int32 ids; the narrower ones are widened to int64 first
TOKEN_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_token_ids(model, tokens: torch.Tensor) -> torch.Tensor:
    """The ids as int64 or int32; a ValueError names a wrong shape, dtype or range.

    The range is read on the host only for CPU tensors outside torch.compile: on a GPU
    it would wait for the device, and under torch.compile it would break the graph.
    There, an id out of range fails in nn.Embedding's own bounds check.
    """
    name, vocab = _name(model), model.cfg.vocab_size
    if tokens.dim() != 2 or tokens.dtype not in TOKEN_DTYPES:
        raise ValueError(
            f"{name}: expected integer token ids (int64, int32, int16, int8 or uint8) "
            f"of shape (batch, n), got {tokens.dtype} of shape {tuple(tokens.shape)}"
        )
    if tokens.dtype not in (torch.int64, torch.int32):
        tokens = tokens.long()  # compared below as int64: uint8 255 stays 255
    cpu = tokens.device.type == "cpu"
    if cpu and tokens.numel() and not torch.compiler.is_compiling():
        lo, hi = (int(v) for v in tokens.aminmax())
        if lo < 0 or hi >= vocab:
            raise ValueError(
                f"{name}: token ids must lie in [0, {vocab}), got [{lo}, {hi}]"
            )
    return tokens


def check_prompt(model, tokens: torch.Tensor, temperature: float) -> None:
    """generate(): a (batch, n >= 1) prompt and a temperature > 0."""
    name = f"{_name(model)}.generate"
    if not temperature > 0:  # NaN fails too
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")
    if tokens.dim() != 2 or tokens.shape[1] == 0:
        raise ValueError(
            f"{name}: the prompt must be (batch, n) token ids with n >= 1, "
            f"got shape {tuple(tokens.shape)}"
        )


def check_lm_config(model, cfg) -> None:
    """A language model's config has a vocabulary and the model's causal flag."""
    name = _name(model)
    if cfg.vocab_size is None:
        raise ValueError(f"{name}: the config needs a vocab_size, got None")
    if cfg.causal != model.causal:
        other = "GMLPForMaskedLM" if cfg.causal else "GMLPForCausalLM"
        raise ValueError(
            f"{name}: the config must have causal={model.causal}, "
            f"got causal={cfg.causal} (for that, use {other})"
        )


def check_images_config(model, cfg) -> None:
    """An image model's config has an image_size."""
    if cfg.image_size is None:
        raise ValueError(f"{_name(model)}: the config needs an image_size, got None")


def check_images(model, x: torch.Tensor) -> None:
    """x is (batch, in_chans, image_size, image_size)."""
    c, s = model.cfg.in_chans, model.cfg.image_size
    if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
        raise ValueError(
            f"{_name(model)}: expected images of shape (batch, {c}, {s}, {s}), "
            f"got {tuple(x.shape)}"
        )


def check_config(cfg, activations: list[str]) -> None:
    """Every field of a GMLPConfig in its range (None: an optional field not used)."""
    check_sizes(
        cfg,
        d_model=cfg.d_model,
        d_ffn=cfg.d_ffn,
        seq_len=cfg.seq_len,
        n_layers=cfg.n_layers,
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        num_classes=cfg.num_classes,
    )
    for name in ("d_attn", "vocab_size", "image_size"):
        if getattr(cfg, name) is not None:
            check_sizes(cfg, **{name: getattr(cfg, name)})
    check_even(cfg, d_ffn=cfg.d_ffn)
    for name in ("causal", "tie_embeddings"):
        if not isinstance(getattr(cfg, name), bool):
            raise ValueError(
                f"GMLPConfig.{name} must be a bool, got {getattr(cfg, name)!r}"
            )
    check_prob(cfg, survival_prob=cfg.survival_prob)
    check_positive(cfg, norm_eps=cfg.norm_eps)
    check_one_of(cfg, "activation", cfg.activation, activations)
    if cfg.image_size is not None:
        if cfg.image_size % cfg.patch_size:
            raise ValueError(
                f"GMLPConfig.image_size must be a multiple of patch_size "
                f"{cfg.patch_size}, got {cfg.image_size}"
            )
        patches = (cfg.image_size // cfg.patch_size) ** 2
        if cfg.seq_len != patches:
            raise ValueError(
                f"GMLPConfig.seq_len must equal the number of patches {patches} for "
                f"image_size {cfg.image_size}, got {cfg.seq_len}"
            )


# --8<-- [end:checks]
