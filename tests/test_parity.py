"""Parity: the same weights, moved by the converters, give the same outputs as
g-mlp-pytorch and timm's layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import n_params
from g_mlp_pytorch import gMLP, gMLPVision
from torch import nn

from gmlp_snippets import (
    GMLPConfig,
    GMLPForCausalLM,
    GMLPForImageClassification,
    GMLPForMaskedLM,
    load_lucidrains,
    load_timm_state_dict,
)

ATOL = 1e-5  # float32, eval mode


def perturb_(model: nn.Module, seed: int) -> None:
    """Move every parameter away from its init: W from near zero to O(1/sqrt(n)), norms
    off (1, 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("sgu.weight") or name.endswith("gate.proj.weight"):
                n = p.shape[-1]
                p.copy_(noise * 0.5 / n**0.5)  # W: now really mixes tokens
            elif p.dim() == 1 or name.endswith("sgu.bias"):
                p.add_(0.1 * noise)  # biases, b, LayerNorm gamma and beta
            else:
                p.add_(0.01 * noise)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


# ---- g-mlp-pytorch: language models --------------------------------------------------

LM_CASES = {
    "plain": dict(causal=False, attn_dim=None),
    "causal": dict(causal=True, attn_dim=None),
    "tiny-attention": dict(causal=False, attn_dim=8),
    "causal-tiny-attention": dict(causal=True, attn_dim=8),
}


def lm_pair(
    causal: bool, attn_dim: int | None, seed: int = 0
) -> tuple[nn.Module, GMLPForMaskedLM]:
    """A g-mlp-pytorch gMLP and our model with its weights (perturbed off the init)."""
    V, d, depth, n, mult = 50, 32, 3, 16, 4
    torch.manual_seed(seed)
    theirs = gMLP(
        num_tokens=V,
        dim=d,
        depth=depth,
        seq_len=n,
        ff_mult=mult,
        causal=causal,
        attn_dim=attn_dim,
    )
    perturb_(theirs, seed)
    cfg = GMLPConfig(
        d_model=d,
        d_ffn=d * mult,
        seq_len=n,
        n_layers=depth,
        causal=causal,
        d_attn=attn_dim,
        vocab_size=V,
        tie_embeddings=False,
    )
    ours = (GMLPForCausalLM if causal else GMLPForMaskedLM)(cfg)
    load_lucidrains(ours, theirs)
    return theirs.eval(), ours.eval()


@pytest.mark.parametrize("case", list(LM_CASES))
def test_lm_matches_g_mlp_pytorch(case):
    theirs, ours = lm_pair(**LM_CASES[case])
    tokens = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y_theirs, y_ours = theirs(tokens), ours(tokens)
    assert y_ours.shape == y_theirs.shape == (3, 16, 50)
    assert max_diff(y_ours, y_theirs) <= ATOL
    # the weights really mix tokens: changing token 0 moves the logits at the last one
    changed = tokens.clone()
    changed[:, 0] = (changed[:, 0] + 1) % 50
    with torch.no_grad():
        assert max_diff(ours(changed)[:, -1], y_ours[:, -1]) > 1e-3


@pytest.mark.parametrize("attn_dim", [None, 8])
def test_causal_lm_matches_on_shorter_sequences(attn_dim):
    """A causal model reads any n <= seq_len: both cut W to its leading n x n block."""
    theirs, ours = lm_pair(causal=True, attn_dim=attn_dim, seed=2)
    tokens = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert max_diff(ours(tokens), theirs(tokens)) <= ATOL


def test_lm_gradients_match():
    """Backward too: the input-embedding gradients agree (one loss, both models)."""
    theirs, ours = lm_pair(causal=True, attn_dim=8, seed=4)
    tokens = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(5))
    for m in (theirs, ours):
        m.zero_grad()
        F.cross_entropy(m(tokens).flatten(0, 1), tokens.flatten()).backward()
    tol = dict(atol=1e-6, rtol=1e-4)
    their_embed, their_w = theirs.to_embed.weight, theirs.layers[0].fn.fn.fn.sgu.weight
    torch.testing.assert_close(ours.embed.weight.grad, their_embed.grad, **tol)
    our_w = ours.gmlp.blocks[0].sgu.weight
    torch.testing.assert_close(our_w.grad, their_w.grad[0], **tol)


def test_state_dict_input_works_like_the_module():
    theirs, _ = lm_pair(causal=False, attn_dim=None, seed=6)
    a = GMLPForMaskedLM(
        GMLPConfig(
            d_model=32,
            d_ffn=128,
            seq_len=16,
            n_layers=3,
            vocab_size=50,
            tie_embeddings=False,
        )
    )
    load_lucidrains(a, theirs.state_dict())
    tokens = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        assert max_diff(a.eval()(tokens), theirs(tokens)) <= ATOL


# ---- g-mlp-pytorch: vision -----------------------------------------------------------


def vision_pair(
    image_size: int,
    patch_size: int,
    dim: int,
    depth: int,
    ff_mult: int,
    num_classes: int,
    cfg: GMLPConfig,
    seed: int = 0,
) -> tuple[nn.Module, GMLPForImageClassification]:
    torch.manual_seed(seed)
    theirs = gMLPVision(
        image_size=image_size,
        patch_size=patch_size,
        num_classes=num_classes,
        dim=dim,
        depth=depth,
        ff_mult=ff_mult,
    )
    perturb_(theirs, seed)
    ours = load_lucidrains(GMLPForImageClassification(cfg), theirs)
    return theirs.eval(), ours.eval()


def test_small_vision_model_matches_g_mlp_pytorch():
    cfg = GMLPConfig(
        d_model=24,
        d_ffn=96,
        seq_len=16,
        n_layers=2,
        image_size=32,
        patch_size=8,
        num_classes=7,
    )
    theirs, ours = vision_pair(32, 8, 24, 2, 4, 7, cfg)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert max_diff(ours(images), theirs(images)) <= ATOL


@pytest.mark.slow
def test_gmlp_s16_matches_g_mlp_pytorch():
    """gMLP-S/16 at paper size (30 layers, 196 patches): the same 19,422,656 parameters,
    the same logits."""
    cfg = GMLPConfig.from_preset("gmlp-s16")
    theirs, ours = vision_pair(224, 16, 256, 30, 6, 1000, cfg)
    n_theirs = n_params(theirs)
    n_ours = n_params(ours)
    assert n_theirs == n_ours == 19_422_656
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y_theirs, y_ours = theirs(images), ours(images)
    assert y_ours.shape == (2, 1000)
    assert max_diff(y_ours, y_theirs) <= ATOL


# ---- g-mlp-pytorch: the converter refuses what ours cannot represent -----------------


def lm_cfg(**overrides) -> GMLPConfig:
    base = dict(
        d_model=32,
        d_ffn=128,
        seq_len=16,
        n_layers=2,
        vocab_size=50,
        tie_embeddings=False,
    )
    return GMLPConfig(**{**base, **overrides})


def peer_lm(**overrides) -> nn.Module:
    base = dict(num_tokens=50, dim=32, depth=2, seq_len=16, ff_mult=4)
    return gMLP(**{**base, **overrides})


@pytest.mark.parametrize(
    "ours_cfg, peer_kwargs, pattern",
    [
        (lm_cfg(tie_embeddings=True), {}, r"tie_embeddings=True.*tie_embeddings=False"),
        (lm_cfg(), dict(causal=True), r"causal=True.*causal=False"),
        (lm_cfg(causal=True), {}, r"causal=False.*causal=True"),
        (lm_cfg(), dict(heads=2), r"heads=2.*heads=1"),
        (lm_cfg(), dict(circulant_matrix=True), r"circulant_matrix=True"),
        (lm_cfg(), dict(shift_tokens=1), r"shift"),
        (lm_cfg(), dict(act=nn.Tanh()), r"Tanh"),
        (lm_cfg(), dict(attn_dim=8), r"has no place for.*attn\.to_qkv"),
        (lm_cfg(d_attn=8), {}, r"lacks.*attn\.to_qkv"),
        (lm_cfg(n_layers=3), {}, r"lacks.*layers\.2\."),
        (lm_cfg(norm_eps=1e-6), {}, r"1e-05.*1e-06"),
    ],
)
def test_load_lucidrains_rejects_mismatches(ours_cfg, peer_kwargs, pattern):
    model_cls = GMLPForCausalLM if ours_cfg.causal else GMLPForMaskedLM
    with pytest.raises(ValueError, match=pattern):
        load_lucidrains(model_cls(ours_cfg), peer_lm(**peer_kwargs))


def test_load_lucidrains_names_key_and_shapes():
    ours = GMLPForMaskedLM(lm_cfg(d_ffn=64))  # theirs: d_ffn = 4 * 32 = 128
    with pytest.raises(ValueError) as err:
        load_lucidrains(ours, peer_lm())
    msg = str(err.value)
    assert "layers.0.fn.fn.fn.proj_in.0.weight" in msg
    assert "(128, 32)" in msg and "(64, 32)" in msg


def test_load_lucidrains_rejects_vision_into_lm_and_leaves_model_untouched():
    ours = GMLPForMaskedLM(lm_cfg())
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    peer = gMLPVision(image_size=32, patch_size=8, num_classes=7, dim=32, depth=2)
    with pytest.raises(ValueError, match=r"GMLPForMaskedLM.*gMLPVision"):
        load_lucidrains(ours, peer)
    # a late mismatch: nothing copied yet
    with pytest.raises(ValueError, match=r"has shape .* expected"):
        load_lucidrains(ours, peer_lm(num_tokens=51))
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())


# ---- timm's layout: an independent implementation of timm's gMLP forward -------------


class TimmSpatialGatingUnit(nn.Module):
    """timm's gate: u, v = x.chunk(2); v = norm(v); v = proj(v^T)^T; u * v."""

    def __init__(self, dim: int, seq_len: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim // 2)  # eps 1e-5
        self.proj = nn.Linear(seq_len, seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x.chunk(2, dim=-1)
        v = self.proj(self.norm(v).transpose(-1, -2))
        return u * v.transpose(-1, -2)


class TimmGatedMlp(nn.Module):
    """fc1 -> GELU -> (drop1) -> gate -> (norm: Identity) -> fc2 -> (drop2)."""

    def __init__(self, dim: int, hidden: int, seq_len: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.gate = TimmSpatialGatingUnit(hidden, seq_len)
        self.fc2 = nn.Linear(hidden // 2, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.gate(self.act(self.fc1(x))))


class TimmSpatialGatingBlock(nn.Module):
    """x + mlp_channels(norm(x)), norm with eps 1e-6."""

    def __init__(self, dim: int, seq_len: int, mlp_ratio: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_channels = TimmGatedMlp(dim, dim * mlp_ratio, seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp_channels(self.norm(x))


class TimmPatchEmbed(nn.Module):
    def __init__(self, patch: int, in_chans: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class TimmGMLP(nn.Module):
    """MlpMixer(block_layer=SpatialGatingBlock, mlp_layer=GatedMlp), global avg pool."""

    def __init__(
        self,
        img: int,
        patch: int,
        dim: int,
        depth: int,
        mlp_ratio: int,
        num_classes: int,
    ):
        super().__init__()
        n = (img // patch) ** 2
        self.stem = TimmPatchEmbed(patch, 3, dim)
        self.blocks = nn.Sequential(
            *[TimmSpatialGatingBlock(dim, n, mlp_ratio) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.stem(x))).mean(dim=1))


def timm_pair(seed: int = 0) -> tuple[TimmGMLP, GMLPForImageClassification]:
    torch.manual_seed(seed)
    timm_model = TimmGMLP(img=32, patch=8, dim=24, depth=3, mlp_ratio=6, num_classes=10)
    perturb_(timm_model, seed)
    cfg = GMLPConfig(
        d_model=24,
        d_ffn=144,
        seq_len=16,
        n_layers=3,
        image_size=32,
        patch_size=8,
        num_classes=10,
        norm_eps=1e-6,
    )
    return timm_model.eval(), GMLPForImageClassification(cfg).eval()


def test_timm_layout_matches():
    timm_model, ours = timm_pair()
    load_timm_state_dict(ours, timm_model.state_dict())
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y_timm, y_ours = timm_model(images), ours(images)
    assert max_diff(y_ours, y_timm) <= ATOL
    # and the gate's u/v order matters: swapping the halves of fc1 gives other logits
    sd = dict(timm_model.state_dict())
    for key in ("blocks.0.mlp_channels.fc1.weight", "blocks.0.mlp_channels.fc1.bias"):
        u, v = sd[key].chunk(2, dim=0)
        sd[key] = torch.cat([v, u])
    load_timm_state_dict(ours, sd)
    with torch.no_grad():
        assert max_diff(ours(images), y_timm) > 1e-3


def test_timm_gmlp_s16_keys_and_parameter_count():
    """The full gmlp_s16_224 layout (every key timm 1.0 has) loads into the preset with
    norm_eps=1e-6."""
    timm_model = TimmGMLP(
        img=224, patch=16, dim=256, depth=30, mlp_ratio=6, num_classes=1000
    )
    ours = GMLPForImageClassification(GMLPConfig.from_preset("gmlp-s16", norm_eps=1e-6))
    sd = timm_model.state_dict()
    assert len(sd) == 4 + 30 * 10 + 2
    assert "blocks.29.mlp_channels.gate.proj.weight" in sd
    load_timm_state_dict(ours, sd)
    n_timm = n_params(timm_model)
    assert n_timm == n_params(ours) == 19_422_656
    w = sd["blocks.7.mlp_channels.gate.proj.weight"]
    assert torch.equal(ours.gmlp.blocks[7].sgu.weight, w)


def test_load_timm_errors_name_key_and_shapes():
    timm_model, ours = timm_pair()
    sd = dict(timm_model.state_dict())

    bad = {**sd, "blocks.1.mlp_channels.gate.proj.weight": torch.zeros(15, 15)}
    with pytest.raises(ValueError) as err:
        load_timm_state_dict(ours, bad)
    msg = str(err.value)
    assert "blocks.1.mlp_channels.gate.proj.weight" in msg
    assert "(15, 15)" in msg and "(16, 16)" in msg

    missing = {k: v for k, v in sd.items() if k != "blocks.2.mlp_channels.fc2.bias"}
    with pytest.raises(ValueError, match=r"lacks.*blocks\.2\.mlp_channels\.fc2\.bias"):
        load_timm_state_dict(ours, missing)

    extra = {**sd, "blocks.3.norm.weight": torch.ones(24)}
    with pytest.raises(ValueError, match=r"no place for.*blocks\.3\.norm\.weight"):
        load_timm_state_dict(ours, extra)

    wrong_eps = GMLPForImageClassification(
        GMLPConfig(
            d_model=24,
            d_ffn=144,
            seq_len=16,
            n_layers=3,
            image_size=32,
            patch_size=8,
            num_classes=10,
        )
    )
    with pytest.raises(ValueError, match=r"eps=1e-06.*norm_eps=1e-05"):
        load_timm_state_dict(wrong_eps, sd)
