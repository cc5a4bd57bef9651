"""Weight converters: g-mlp-pytorch (lucidrains) and timm gMLP weights into our models.

Both converters build a plan - for each of our parameters, the peer's key, the peer's
expected shape and how to reshape it - and load it all or nothing. First every peer
value is checked (missing and unexpected keys, a non-tensor or a `meta` tensor, shapes)
and converted, so a mismatch raises a ValueError naming the key, the expected and the
actual value before anything is written; then the weights are copied, and if a copy
fails, the parameters already overwritten get their old values back. Either way a
failed load leaves the model untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from gmlp_snippets.model import GMLPForImageClassification, GMLPLanguageModel

Model = GMLPLanguageModel | GMLPForImageClassification


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


@dataclass(frozen=True)
class _Source:
    """Where one of our tensors comes from: a peer key of some shape, or a constant."""

    key: str | None  # None: no peer tensor, fill with `fill`
    shape: tuple[int, ...]  # the shape the peer tensor must have
    transform: Callable[[torch.Tensor], torch.Tensor] = _same
    fill: float = 0.0


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _first(t: torch.Tensor) -> torch.Tensor:
    return t[0]


def _listed(keys: list[str]) -> str:
    return f"{keys[:8]}" + (" ..." if len(keys) > 8 else "")


def _check_value(
    source: str, key: str, name: str, value: object, shape: tuple[int, ...]
) -> torch.Tensor:
    """value, if it is a floating-point tensor with data of the given shape."""
    where = f"{source}: key {key!r} (for our {name!r})"
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{where} is a {type(value).__name__}, expected a tensor")
    if value.is_meta:
        raise ValueError(
            f"{where} is a meta tensor (a shape without values), "
            f"expected a tensor with data"
        )
    if not value.is_floating_point():
        raise ValueError(
            f"{where} has dtype {value.dtype}, expected a floating-point tensor"
        )
    if _shape(value) != shape:
        raise ValueError(f"{where} has shape {_shape(value)}, expected {shape}")
    return value


def _apply_plan(
    model: nn.Module,
    plan: dict[str, _Source],
    state_dict: Mapping[str, torch.Tensor],
    source: str,
) -> None:
    """Check and convert every value of state_dict against plan, then copy into model.

    The copy is transactional: if one copy fails, the parameters already written get
    their old values back before the error propagates.
    """
    ours = model.state_dict()  # its tensors share storage with the parameters
    unplanned = sorted(set(ours) - set(plan))
    if unplanned:  # a bug in the plan, not in the checkpoint
        raise ValueError(f"{source}: no source for our parameter(s) {unplanned}")
    needed = {s.key for s in plan.values() if s.key is not None}
    missing = sorted(needed - set(state_dict))
    if missing:
        raise ValueError(
            f"{source}: the state dict lacks {len(missing)} key(s) our "
            f"model needs: {_listed(missing)}"
        )
    unexpected = sorted(set(state_dict) - needed)
    if unexpected:
        raise ValueError(
            f"{source}: the state dict has {len(unexpected)} key(s) our "
            f"model has no place for: {_listed(unexpected)} (check the "
            f"config: n_layers, d_attn, the model class)"
        )
    # phase 1: check and convert everything; nothing of ours is written yet
    new: dict[str, torch.Tensor] = {}
    for name, src in plan.items():
        target = ours[name]
        if src.key is None:
            new[name] = torch.full_like(target, src.fill)
            continue
        value = _check_value(source, src.key, name, state_dict[src.key], src.shape)
        value = src.transform(value.detach())
        new[name] = value.to(device=target.device, dtype=target.dtype)
    # phase 2: copy, restoring every parameter already written if a copy fails
    backup = {name: ours[name].detach().clone() for name in new}
    done: list[str] = []
    with torch.no_grad():
        try:
            for name, value in new.items():
                done.append(name)
                ours[name].copy_(value)
        except BaseException as error:
            for name in done:
                ours[name].copy_(backup[name])
            if not isinstance(error, Exception):  # KeyboardInterrupt and the like
                raise
            failed = done[-1]
            raise RuntimeError(
                f"{source}: copying key {plan[failed].key!r} into our "
                f"{failed!r} failed ({error}); every parameter was "
                f"restored, the model is unchanged"
            ) from error


# -------------------------------------------------------------------------------------
# g-mlp-pytorch 0.1.5 (lucidrains)
# -------------------------------------------------------------------------------------


def _check_lucidrains_module(model: Model, peer: nn.Module) -> None:
    """Check what a g-mlp-pytorch module holds outside its state dict.

    That is: causal, the gate activation, heads, circulant W, token shift, norm eps.
    """
    cfg = model.cfg
    where = "load_lucidrains:"
    for i, layer in enumerate(getattr(peer, "layers", [])):
        block = layer.fn.fn  # Residual -> PreNorm -> (PreShiftTokens ->) gMLPBlock
        if hasattr(block, "shifts"):
            if block.shifts != (0,):
                raise ValueError(
                    f"{where} layer {i} shifts tokens by {block.shifts}; "
                    f"ours has no token shift, expected shift_tokens=0"
                )
            block = block.fn
        sgu = block.sgu
        if sgu.causal != cfg.causal:
            raise ValueError(
                f"{where} the peer's layer {i} has causal={sgu.causal}, "
                f"our config has causal={cfg.causal}"
            )
        if not isinstance(sgu.act, nn.Identity):
            raise ValueError(
                f"{where} layer {i} applies {type(sgu.act).__name__} to "
                f"the gate; ours has none, expected act=nn.Identity()"
            )
        if sgu.heads != 1:
            raise ValueError(
                f"{where} layer {i} has heads={sgu.heads}; ours supports heads=1 only"
            )
        if getattr(sgu, "circulant_matrix", False):
            raise ValueError(
                f"{where} layer {i} uses circulant_matrix=True; ours has "
                f"a full W, expected circulant_matrix=False"
            )
        eps = layer.fn.norm.eps
        if eps != cfg.norm_eps:
            raise ValueError(
                f"{where} the peer's LayerNorm eps is {eps}, our config "
                f"has norm_eps={cfg.norm_eps}"
            )


def _lucidrains_plan(
    model: Model, state_dict: Mapping[str, torch.Tensor]
) -> dict[str, _Source]:
    """Our key -> g-mlp-pytorch key, for gMLP (language) and gMLPVision."""
    cfg = model.cfg
    d, f, n, h = cfg.d_model, cfg.d_ffn, cfg.seq_len, cfg.d_ffn // 2
    vision = isinstance(model, GMLPForImageClassification)
    peer_vision = "to_patch_embed.1.weight" in state_dict
    if vision != peer_vision:
        theirs = "gMLPVision" if peer_vision else "gMLP"
        expected = "gMLPVision" if vision else "gMLP(num_tokens=...)"
        raise ValueError(
            f"load_lucidrains: our model is {type(model).__name__}, the "
            f"state dict is from {theirs}; expected {expected}"
        )
    if cfg.activation != "gelu":
        raise ValueError(
            f"load_lucidrains: g-mlp-pytorch uses GELU, our config has "
            f"activation={cfg.activation!r}"
        )
    sgu_w = next((v for k, v in state_dict.items() if k.endswith(".sgu.weight")), None)
    # (a value that is no tensor is named by _apply_plan's checks)
    if isinstance(sgu_w, torch.Tensor) and (sgu_w.dim() != 3 or sgu_w.shape[0] != 1):
        raise ValueError(
            f"load_lucidrains: the peer's sgu.weight has shape "
            f"{_shape(sgu_w)}; ours supports heads=1 and a full W only, "
            f"expected (1, {n}, {n})"
        )

    plan: dict[str, _Source] = {}
    if vision:
        c, p = cfg.in_chans, cfg.patch_size
        # Rearrange('b c (h p1) (w p2) -> b (h w) (c p1 p2)') + Linear: input feature
        # c*p*p + p1*p + p2, the order of a Conv2d weight (d, c, p, p) flattened, and
        # the patches in the same row-major order
        plan["patch_embed.weight"] = _Source(
            "to_patch_embed.1.weight", (d, c * p * p), lambda t: t.reshape(d, c, p, p)
        )
        plan["patch_embed.bias"] = _Source("to_patch_embed.1.bias", (d,))
        blk = "layers.{i}.fn.fn."  # Residual -> PreNorm -> gMLPBlock
        # to_logits = LayerNorm, Reduce(mean), Linear
        plan["head.weight"] = _Source("to_logits.2.weight", (cfg.num_classes, d))
        plan["head.bias"] = _Source("to_logits.2.bias", (cfg.num_classes,))
    else:
        if cfg.tie_embeddings:
            raise ValueError(
                "load_lucidrains: g-mlp-pytorch's output layer is "
                "separate from its embedding, our config has "
                "tie_embeddings=True; "
                "build ours with GMLPConfig(..., tie_embeddings=False)"
            )
        V = cfg.vocab_size
        plan["embed.weight"] = _Source("to_embed.weight", (V, d))
        # Residual -> PreNorm -> PreShiftTokens -> gMLPBlock
        blk = "layers.{i}.fn.fn.fn."
        plan["head.weight"] = _Source("to_logits.1.weight", (V, d))
        plan["head.bias"] = _Source("to_logits.1.bias", (V,))
    plan["gmlp.norm.weight"] = _Source("to_logits.0.weight", (d,))
    plan["gmlp.norm.bias"] = _Source("to_logits.0.bias", (d,))

    for i in range(cfg.n_layers):
        ours, theirs = f"gmlp.blocks.{i}.", blk.format(i=i)
        # their W is (heads, n, n) and gate[m] = sum_n W[m, n] Z2[n], as ours: W = W[0]
        first = _first
        for our_name, their_key, shape, transform in [
            ("norm.weight", f"layers.{i}.fn.norm.weight", (d,), _same),
            ("norm.bias", f"layers.{i}.fn.norm.bias", (d,), _same),
            ("proj_in.proj.weight", theirs + "proj_in.0.weight", (f, d), _same),
            ("proj_in.proj.bias", theirs + "proj_in.0.bias", (f,), _same),
            ("sgu.norm.weight", theirs + "sgu.norm.weight", (h,), _same),
            ("sgu.norm.bias", theirs + "sgu.norm.bias", (h,), _same),
            ("sgu.weight", theirs + "sgu.weight", (1, n, n), first),
            ("sgu.bias", theirs + "sgu.bias", (1, n), first),
            ("proj_out.weight", theirs + "proj_out.weight", (d, h), _same),
            ("proj_out.bias", theirs + "proj_out.bias", (d,), _same),
        ]:
            plan[ours + our_name] = _Source(their_key, shape, transform)
        if cfg.d_attn:
            a, attn, peer = cfg.d_attn, ours + "sgu.attn.", theirs + "attn."
            plan[attn + "qkv.weight"] = _Source(peer + "to_qkv.weight", (3 * a, d))
            # their to_qkv has no bias: ours is set to zero
            plan[attn + "qkv.bias"] = _Source(None, (3 * a,), fill=0.0)
            plan[attn + "proj.weight"] = _Source(peer + "to_out.weight", (h, a))
            plan[attn + "proj.bias"] = _Source(peer + "to_out.bias", (h,))
    return plan


def load_lucidrains(
    model: Model, peer: nn.Module | Mapping[str, torch.Tensor]
) -> Model:
    """Copy a g-mlp-pytorch 0.1.5 gMLP / gMLPVision (module or state dict) into model.

    The mapping: Residual(PreNorm(gMLPBlock)) -> GMLPBlock (PreNorm.norm -> norm,
    proj_in.0 -> proj_in.proj, sgu.{norm,weight[0],bias[0]} -> sgu.*, attn.to_qkv ->
    sgu.attn.qkv with a zero bias, attn.to_out -> sgu.attn.proj, proj_out -> proj_out),
    to_logits LayerNorm -> gmlp.norm, to_logits Linear -> head, and the vision patch
    Linear (d, c*p*p) -> the Conv2d weight (d, c, p, p).

    Requirements (a ValueError names what differs): heads=1, no circulant matrix, no
    token shift, no gate activation, GELU, norm_eps=1e-5, the same causal flag, and for
    language models tie_embeddings=False (their output layer is untied). A plain state
    dict does not record causal, act or shift_tokens, so only a module is checked for
    those. Their prob_survival drops whole layers for the whole batch, without
    rescaling; ours drops blocks per sample and rescales, so outputs agree in eval mode
    only. All or nothing: a failed load leaves the model untouched.
    """
    if isinstance(peer, nn.Module):
        _check_lucidrains_module(model, peer)
        state_dict = peer.state_dict()
    else:
        state_dict = peer
        if model.cfg.norm_eps != 1e-5:
            raise ValueError(
                f"load_lucidrains: g-mlp-pytorch's LayerNorm eps is "
                f"1e-05, our config has norm_eps={model.cfg.norm_eps}"
            )
    plan = _lucidrains_plan(model, state_dict)
    _apply_plan(model, plan, state_dict, "load_lucidrains")
    return model


# -------------------------------------------------------------------------------------
# timm 1.0.x gmlp_{ti,s,b}16_224 (MlpMixer with SpatialGatingBlock)
# -------------------------------------------------------------------------------------


def load_timm_state_dict(
    model: GMLPForImageClassification,
    state_dict: Mapping[str, torch.Tensor],
) -> GMLPForImageClassification:
    """Copy a timm gmlp_*16_224 state dict (MlpMixer + SpatialGatingBlock) into model.

    timm's block is x + fc2(gate(GELU(fc1(norm(x))))) with
    gate(x) = u * proj(norm(v)^T)^T for u, v = x.chunk(2, -1): u is our Z1, v our Z2,
    and proj = nn.Linear(n, n) is our W, b. Mapping: stem.proj -> patch_embed,
    blocks.{i}.norm -> gmlp.blocks.{i}.norm, blocks.{i}.mlp_channels.fc1 ->
    proj_in.proj, .gate.norm -> sgu.norm, .gate.proj -> sgu.{weight,bias}, .fc2 ->
    proj_out, norm -> gmlp.norm, head -> head.

    timm's block and final LayerNorms use eps=1e-6 (its SGU norm keeps 1e-5, as ours
    does): build ours with GMLPConfig.from_preset("gmlp-s16", norm_eps=1e-6). The
    only published ImageNet gMLP weights are timm's gmlp_s16_224.ra3_in1k (fetching
    them needs the network, e.g.
    timm.create_model("gmlp_s16_224", pretrained=True).state_dict()); they expect
    images resized with bicubic interpolation, centre-cropped and normalised with
    mean = std = (0.5, 0.5, 0.5). All or nothing: a failed load leaves the model
    untouched.
    """
    where = "load_timm_state_dict:"
    if not isinstance(model, GMLPForImageClassification):
        raise ValueError(
            f"{where} expected a GMLPForImageClassification, got {type(model).__name__}"
        )
    cfg = model.cfg
    if cfg.norm_eps != 1e-6:
        raise ValueError(
            f"{where} timm's gMLP LayerNorms use eps=1e-06, our config "
            f"has norm_eps={cfg.norm_eps}; build ours with norm_eps=1e-6"
        )
    if cfg.d_attn:
        raise ValueError(
            f"{where} timm's gMLP has no tiny attention, our config has "
            f"d_attn={cfg.d_attn}; expected None"
        )
    if cfg.activation != "gelu":
        raise ValueError(
            f"{where} timm's gMLP uses GELU, our config has "
            f"activation={cfg.activation!r}"
        )
    d, f, n, h = cfg.d_model, cfg.d_ffn, cfg.seq_len, cfg.d_ffn // 2
    c, p = cfg.in_chans, cfg.patch_size
    plan: dict[str, _Source] = {
        "patch_embed.weight": _Source("stem.proj.weight", (d, c, p, p)),
        "patch_embed.bias": _Source("stem.proj.bias", (d,)),
        "gmlp.norm.weight": _Source("norm.weight", (d,)),
        "gmlp.norm.bias": _Source("norm.bias", (d,)),
        "head.weight": _Source("head.weight", (cfg.num_classes, d)),
        "head.bias": _Source("head.bias", (cfg.num_classes,)),
    }
    for i in range(cfg.n_layers):
        ours, theirs = f"gmlp.blocks.{i}.", f"blocks.{i}."
        mlp = theirs + "mlp_channels."
        for our_name, their_name, shape in [
            ("norm.weight", theirs + "norm.weight", (d,)),
            ("norm.bias", theirs + "norm.bias", (d,)),
            ("proj_in.proj.weight", mlp + "fc1.weight", (f, d)),
            ("proj_in.proj.bias", mlp + "fc1.bias", (f,)),
            ("sgu.norm.weight", mlp + "gate.norm.weight", (h,)),
            ("sgu.norm.bias", mlp + "gate.norm.bias", (h,)),
            ("sgu.weight", mlp + "gate.proj.weight", (n, n)),
            ("sgu.bias", mlp + "gate.proj.bias", (n,)),
            ("proj_out.weight", mlp + "fc2.weight", (d, h)),
            ("proj_out.bias", mlp + "fc2.bias", (d,)),
        ]:
            plan[ours + our_name] = _Source(their_name, shape)
    _apply_plan(model, plan, state_dict, "load_timm_state_dict")
    return model
