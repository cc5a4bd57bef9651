"""Weight converters: g-mlp-pytorch (lucidrains) and timm gMLP state dicts into this package's models.

Both converters build a plan - for each of our parameters, the peer's key, the peer's expected shape
and how to reshape it - check the peer's state dict against it, and only then copy the weights, so a
mismatch raises a ValueError that names the key, the expected and the actual shape, and leaves the
model untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from gmlp_snippets.model import GMLPForImageClassification, GMLPForMaskedLM

Model = GMLPForMaskedLM | GMLPForImageClassification


@dataclass(frozen=True)
class _Source:
    """Where one of our tensors comes from: a peer key of a given shape, reshaped; or a constant."""

    key: str | None  # None: no peer tensor, fill with `fill`
    shape: tuple[int, ...]  # the shape the peer tensor must have
    transform: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
    fill: float = 0.0


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _apply_plan(model: nn.Module, plan: dict[str, _Source], state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Check state_dict against plan (missing, unexpected keys, shapes), then copy into model."""
    ours = model.state_dict()
    unplanned = sorted(set(ours) - set(plan))
    if unplanned:  # a bug in the plan, not in the checkpoint
        raise ValueError(f"{source}: no source for our parameter(s) {unplanned}")
    needed = {s.key for s in plan.values() if s.key is not None}
    missing = sorted(needed - set(state_dict))
    if missing:
        raise ValueError(f"{source}: the state dict lacks {len(missing)} key(s) our model needs: {missing[:8]}"
                         + (" ..." if len(missing) > 8 else ""))
    unexpected = sorted(set(state_dict) - needed)
    if unexpected:
        raise ValueError(f"{source}: the state dict has {len(unexpected)} key(s) our model has no place for: {unexpected[:8]}"
                         + (" ..." if len(unexpected) > 8 else "")
                         + " (check the config: n_layers, d_attn, the model class)")
    new: dict[str, torch.Tensor] = {}
    for name, src in plan.items():
        if src.key is None:
            new[name] = torch.full_like(ours[name], src.fill)
            continue
        t = state_dict[src.key]
        if _shape(t) != src.shape:
            raise ValueError(f"{source}: key {src.key!r} (for our {name!r}) has shape {_shape(t)}, expected {src.shape}")
        new[name] = src.transform(t.detach())
    with torch.no_grad():
        for name, t in new.items():
            ours[name].copy_(t)  # state_dict tensors share storage with the parameters


# ---------------------------------------------------------------------------------------------
# g-mlp-pytorch 0.1.5 (lucidrains)
# ---------------------------------------------------------------------------------------------

def _check_lucidrains_module(model: Model, peer: nn.Module) -> None:
    """Check what a g-mlp-pytorch module holds outside its state dict: causal, gate activation, shifts."""
    cfg = model.cfg
    for i, layer in enumerate(getattr(peer, "layers", [])):
        block = layer.fn.fn  # Residual -> PreNorm -> (PreShiftTokens ->) gMLPBlock
        if hasattr(block, "shifts"):
            if block.shifts != (0,):
                raise ValueError(f"load_lucidrains: layer {i} shifts tokens by {block.shifts}; ours has no token shift, expected shift_tokens=0")
            block = block.fn
        sgu = block.sgu
        if sgu.causal != cfg.causal:
            raise ValueError(f"load_lucidrains: the peer's layer {i} has causal={sgu.causal}, our config has causal={cfg.causal}")
        if not isinstance(sgu.act, nn.Identity):
            raise ValueError(f"load_lucidrains: layer {i} applies {type(sgu.act).__name__} to the gate; ours has none, expected act=nn.Identity()")
        if sgu.heads != 1:
            raise ValueError(f"load_lucidrains: layer {i} has heads={sgu.heads}; ours supports heads=1 only")
        if getattr(sgu, "circulant_matrix", False):
            raise ValueError(f"load_lucidrains: layer {i} uses circulant_matrix=True; ours has a full W, expected circulant_matrix=False")
        eps = layer.fn.norm.eps
        if eps != cfg.norm_eps:
            raise ValueError(f"load_lucidrains: the peer's LayerNorm eps is {eps}, our config has norm_eps={cfg.norm_eps}")


def _lucidrains_plan(model: Model, state_dict: Mapping[str, torch.Tensor]) -> dict[str, _Source]:
    """Our key -> g-mlp-pytorch key, for gMLP (language) and gMLPVision."""
    cfg = model.cfg
    d, f, n, h = cfg.d_model, cfg.d_ffn, cfg.seq_len, cfg.d_ffn // 2
    vision = isinstance(model, GMLPForImageClassification)
    peer_vision = "to_patch_embed.1.weight" in state_dict
    if vision != peer_vision:
        raise ValueError(f"load_lucidrains: our model is {type(model).__name__}, the state dict is from "
                         f"{'gMLPVision' if peer_vision else 'gMLP'}; expected "
                         f"{'gMLPVision' if vision else 'gMLP(num_tokens=...)'}")
    if cfg.activation != "gelu":
        raise ValueError(f"load_lucidrains: g-mlp-pytorch uses GELU, our config has activation={cfg.activation!r}")
    sgu_w = next((v for k, v in state_dict.items() if k.endswith(".sgu.weight")), None)
    if sgu_w is not None and (sgu_w.dim() != 3 or sgu_w.shape[0] != 1):
        raise ValueError(f"load_lucidrains: the peer's sgu.weight has shape {_shape(sgu_w)}; ours supports heads=1 and "
                         f"a full W only, expected (1, {n}, {n})")

    plan: dict[str, _Source] = {}
    if vision:
        c, p = cfg.in_chans, cfg.patch_size
        # Rearrange('b c (h p1) (w p2) -> b (h w) (c p1 p2)') + Linear: input feature c*p*p + p1*p + p2,
        # the same order as a Conv2d weight (d, c, p, p) flattened, and patches in the same row-major order
        plan["patch_embed.weight"] = _Source("to_patch_embed.1.weight", (d, c * p * p), lambda t: t.reshape(d, c, p, p))
        plan["patch_embed.bias"] = _Source("to_patch_embed.1.bias", (d,))
        blk = "layers.{i}.fn.fn."  # Residual -> PreNorm -> gMLPBlock
        # to_logits = LayerNorm, Reduce(mean), Linear
        plan["head.weight"] = _Source("to_logits.2.weight", (cfg.num_classes, d))
        plan["head.bias"] = _Source("to_logits.2.bias", (cfg.num_classes,))
    else:
        if cfg.tie_embeddings:
            raise ValueError("load_lucidrains: g-mlp-pytorch's output layer is separate from its embedding, our config has "
                             "tie_embeddings=True; build ours with GMLPConfig(..., tie_embeddings=False)")
        V = cfg.vocab_size
        plan["embed.weight"] = _Source("to_embed.weight", (V, d))
        blk = "layers.{i}.fn.fn.fn."  # Residual -> PreNorm -> PreShiftTokens -> gMLPBlock
        plan["head.weight"] = _Source("to_logits.1.weight", (V, d))
        plan["head.bias"] = _Source("to_logits.1.bias", (V,))
    plan["gmlp.norm.weight"] = _Source("to_logits.0.weight", (d,))
    plan["gmlp.norm.bias"] = _Source("to_logits.0.bias", (d,))

    for i in range(cfg.n_layers):
        ours, theirs = f"gmlp.blocks.{i}.", blk.format(i=i)
        plan[ours + "norm.weight"] = _Source(f"layers.{i}.fn.norm.weight", (d,))
        plan[ours + "norm.bias"] = _Source(f"layers.{i}.fn.norm.bias", (d,))
        plan[ours + "proj_in.proj.weight"] = _Source(theirs + "proj_in.0.weight", (f, d))
        plan[ours + "proj_in.proj.bias"] = _Source(theirs + "proj_in.0.bias", (f,))
        plan[ours + "sgu.norm.weight"] = _Source(theirs + "sgu.norm.weight", (h,))
        plan[ours + "sgu.norm.bias"] = _Source(theirs + "sgu.norm.bias", (h,))
        # their W is (heads, n, n) and gate[m] = sum_n W[m, n] Z2[n]: the same orientation as ours
        plan[ours + "sgu.weight"] = _Source(theirs + "sgu.weight", (1, n, n), lambda t: t[0])
        plan[ours + "sgu.bias"] = _Source(theirs + "sgu.bias", (1, n), lambda t: t[0])
        plan[ours + "proj_out.weight"] = _Source(theirs + "proj_out.weight", (d, h))
        plan[ours + "proj_out.bias"] = _Source(theirs + "proj_out.bias", (d,))
        if cfg.d_attn:
            a = cfg.d_attn
            plan[ours + "sgu.attn.qkv.weight"] = _Source(theirs + "attn.to_qkv.weight", (3 * a, d))
            plan[ours + "sgu.attn.qkv.bias"] = _Source(None, (3 * a,), fill=0.0)  # their to_qkv has no bias
            plan[ours + "sgu.attn.proj.weight"] = _Source(theirs + "attn.to_out.weight", (h, a))
            plan[ours + "sgu.attn.proj.bias"] = _Source(theirs + "attn.to_out.bias", (h,))
    return plan


def load_lucidrains(model: Model, peer: nn.Module | Mapping[str, torch.Tensor]) -> Model:
    """Copy the weights of a g-mlp-pytorch 0.1.5 gMLP / gMLPVision (module or state dict) into model.

    The mapping: Residual(PreNorm(gMLPBlock)) -> GMLPBlock (PreNorm.norm -> norm, proj_in.0 -> proj_in.proj,
    sgu.{norm,weight[0],bias[0]} -> sgu.*, attn.to_qkv -> sgu.attn.qkv with a zero bias, attn.to_out ->
    sgu.attn.proj, proj_out -> proj_out), to_logits LayerNorm -> gmlp.norm, to_logits Linear -> head, and
    the vision patch Linear (d, c*p*p) -> the Conv2d weight (d, c, p, p).

    Requirements (a ValueError names what differs): heads=1, no circulant matrix, no token shift, no gate
    activation, GELU, norm_eps=1e-5, the same causal flag, and for language models tie_embeddings=False
    (their output layer is untied). A plain state dict does not record causal, act or shift_tokens, so
    only a module is checked for those. Their prob_survival drops whole layers for the whole batch, without
    rescaling; ours drops blocks per sample and rescales, so outputs agree in eval mode only.
    """
    if isinstance(peer, nn.Module):
        _check_lucidrains_module(model, peer)
        state_dict = peer.state_dict()
    else:
        state_dict = peer
        if model.cfg.norm_eps != 1e-5:
            raise ValueError(f"load_lucidrains: g-mlp-pytorch's LayerNorm eps is 1e-05, our config has norm_eps={model.cfg.norm_eps}")
    _apply_plan(model, _lucidrains_plan(model, state_dict), state_dict, "load_lucidrains")
    return model


# ---------------------------------------------------------------------------------------------
# timm 1.0.x gmlp_{ti,s,b}16_224 (MlpMixer with SpatialGatingBlock)
# ---------------------------------------------------------------------------------------------

def load_timm_state_dict(model: GMLPForImageClassification, state_dict: Mapping[str, torch.Tensor]) -> GMLPForImageClassification:
    """Copy a timm gmlp_*16_224 state dict (MlpMixer + SpatialGatingBlock) into a GMLPForImageClassification.

    timm's block is x + fc2(gate(GELU(fc1(norm(x))))) with gate(x) = u * proj(norm(v)^T)^T for
    u, v = x.chunk(2, -1): u is our Z1, v our Z2, and proj = nn.Linear(n, n) is our W, b.
    Mapping: stem.proj -> patch_embed, blocks.{i}.norm -> gmlp.blocks.{i}.norm,
    blocks.{i}.mlp_channels.fc1 -> proj_in.proj, .gate.norm -> sgu.norm, .gate.proj -> sgu.{weight,bias},
    .fc2 -> proj_out, norm -> gmlp.norm, head -> head.

    timm's block and final LayerNorms use eps=1e-6 (its SGU norm keeps 1e-5, as ours does): build ours
    with GMLPConfig.from_preset("gmlp-s16", norm_eps=1e-6). The only published ImageNet gMLP weights are
    timm's gmlp_s16_224.ra3_in1k (fetching them needs the network, e.g.
    timm.create_model("gmlp_s16_224", pretrained=True).state_dict()); they expect images resized with
    bicubic interpolation, centre-cropped and normalised with mean = std = (0.5, 0.5, 0.5).
    """
    cfg = model.cfg
    if not isinstance(model, GMLPForImageClassification):
        raise ValueError(f"load_timm_state_dict: expected a GMLPForImageClassification, got {type(model).__name__}")
    if cfg.norm_eps != 1e-6:
        raise ValueError(f"load_timm_state_dict: timm's gMLP LayerNorms use eps=1e-06, our config has norm_eps={cfg.norm_eps}; "
                         "build ours with norm_eps=1e-6")
    if cfg.d_attn:
        raise ValueError(f"load_timm_state_dict: timm's gMLP has no tiny attention, our config has d_attn={cfg.d_attn}; expected None")
    if cfg.activation != "gelu":
        raise ValueError(f"load_timm_state_dict: timm's gMLP uses GELU, our config has activation={cfg.activation!r}")
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
