"""The layers of gmlp_snippets, judged by PyTorch's own modules and by the paper's
definitions."""

import pytest
import torch
from torch import nn

from gmlp_snippets import ChannelProjection, LayerNorm, SpatialGatingUnit, TinyAttention

TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 2e-2}


# ---- LayerNorm vs torch.nn.LayerNorm -------------------------------------------------


# the fused kernel and the written-out definition
@pytest.mark.parametrize("method", ["forward", "formula"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(7,), (3, 16), (2, 5, 64), (2, 3, 4, 33)])
def test_layernorm_matches_torch(shape, dtype, method):
    torch.manual_seed(0)
    d = shape[-1]
    ours, ref = LayerNorm(d).to(dtype), nn.LayerNorm(d).to(dtype)
    with torch.no_grad():  # non-trivial gamma, beta, shared by both
        gamma, beta = torch.randn(d, dtype=dtype), torch.randn(d, dtype=dtype)
        for m in (ours, ref):
            m.weight.copy_(gamma)
            m.bias.copy_(beta)
    x = (torch.randn(shape, dtype=torch.float64) * 3 + 1).to(dtype)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_ref = getattr(ours, method)(x_ours), ref(x_ref)
    assert y_ours.dtype == y_ref.dtype == dtype
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(y_ours, y_ref, atol=tol, rtol=tol)

    grad_out = torch.randn(shape, dtype=torch.float64).to(dtype)
    y_ours.backward(grad_out)
    y_ref.backward(grad_out)
    gtol = tol * (10 if dtype == torch.bfloat16 else 1)  # bf16 grads sum many rows
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=gtol, rtol=gtol)
    torch.testing.assert_close(
        ours.weight.grad, ref.weight.grad, atol=gtol * 4, rtol=gtol
    )
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad, atol=gtol * 4, rtol=gtol)


def test_layernorm_uses_biased_variance_and_eps():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    ln = LayerNorm(4, eps=0.5)
    # by hand: mean 2.5, biased variance 1.25
    expected = (x - 2.5) / (1.25 + 0.5) ** 0.5
    torch.testing.assert_close(ln(x), expected)
    torch.testing.assert_close(ln.formula(x), expected)


def test_layernorm_forward_equals_its_formula_with_learned_gamma_beta():
    torch.manual_seed(0)
    ln = LayerNorm(48)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = torch.randn(3, 10, 48) * 5 - 2
    torch.testing.assert_close(ln(x), ln.formula(x), atol=1e-5, rtol=1e-5)


def test_layernorm_state_dict_is_interchangeable_with_torch():
    ref = nn.LayerNorm(12)
    ours = LayerNorm(12)
    ours.load_state_dict(ref.state_dict())  # same names: weight (gamma), bias (beta)
    assert set(ours.state_dict()) == {"weight", "bias"}


def test_layernorm_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"expected 8 channels.*got 6"):
        LayerNorm(8)(torch.randn(2, 6))


# ---- channel projection --------------------------------------------------------------


@pytest.mark.parametrize(
    "activation, fn",
    [("gelu", nn.functional.gelu), ("relu", torch.relu), (None, lambda t: t)],
)
def test_channel_projection_is_sigma_of_xu(activation, fn):
    torch.manual_seed(0)
    proj = ChannelProjection(16, 40, activation)
    x = torch.randn(2, 5, 16)
    expected = fn(x @ proj.proj.weight.T + proj.proj.bias)  # Z = σ(XU)
    torch.testing.assert_close(proj(x), expected)
    assert proj(x).shape == (2, 5, 40)


def test_channel_projection_rejects_unknown_activation_and_wrong_width():
    with pytest.raises(ValueError, match="'tanh'"):
        ChannelProjection(4, 8, "tanh")
    with pytest.raises(ValueError, match=r"expected 4 channels.*got 5"):
        ChannelProjection(4, 8)(torch.randn(1, 3, 5))


# ---- spatial gating unit -------------------------------------------------------------


def test_sgu_at_init_passes_z1_through():
    """W ≈ 0 and b = 1 at init: the gate is ≈ 1, so s(Z) ≈ Z1: the block is an FFN."""
    torch.manual_seed(0)
    sgu = SpatialGatingUnit(d_ffn=32, seq_len=10)
    z = torch.randn(4, 10, 32)
    z1 = z[..., :16]
    out = sgu(z)
    assert out.shape == (4, 10, 16)
    assert (out - z1).abs().max() < 1e-2 * z1.abs().max()
    assert sgu.weight.abs().max() <= 1e-3 / 10
    assert torch.equal(sgu.bias, torch.ones(10))


def test_sgu_is_z1_times_w_norm_z2_plus_b():
    """The definition in plain matrix products: s(Z) = Z1 ⊙ (W norm(Z2) + b)."""
    torch.manual_seed(0)
    sgu = SpatialGatingUnit(d_ffn=12, seq_len=7)
    with torch.no_grad():
        sgu.weight.normal_()
        sgu.bias.normal_()
    z = torch.randn(3, 7, 12)
    z1, z2 = z[..., :6], z[..., 6:]
    z2n = nn.functional.layer_norm(z2, (6,), eps=1e-5)
    expected = z1 * (torch.einsum("mn,bnd->bmd", sgu.weight, z2n) + sgu.bias[:, None])
    torch.testing.assert_close(sgu(z), expected, atol=1e-5, rtol=1e-5)


def test_causal_sgu_never_reads_the_future():
    torch.manual_seed(0)
    n = 9
    sgu = SpatialGatingUnit(d_ffn=8, seq_len=n, causal=True)
    with torch.no_grad():
        sgu.weight.normal_()  # a dense W: only the mask can keep the future out
    z = torch.randn(2, n, 8)
    base = sgu(z)
    for j in range(n):
        z_perturbed = z.clone()
        z_perturbed[:, j] += torch.randn(2, 8)
        changed = (sgu(z_perturbed) - base).abs().amax(dim=(0, 2)) > 0
        assert not changed[:j].any(), f"perturbing token {j} changed outputs before it"
        assert changed[j], f"perturbing token {j} did not change its own output"


def test_causal_sgu_on_a_shorter_sequence_equals_the_prefix():
    torch.manual_seed(0)
    sgu = SpatialGatingUnit(d_ffn=8, seq_len=12, causal=True)
    with torch.no_grad():
        sgu.weight.normal_()
    z = torch.randn(2, 12, 8)
    torch.testing.assert_close(sgu(z[:, :5]), sgu(z)[:, :5])


def test_sgu_rejects_lengths_it_cannot_handle():
    with pytest.raises(ValueError, match=r"<= 6.*got 7"):
        SpatialGatingUnit(8, 6, causal=True)(torch.randn(1, 7, 8))
    with pytest.raises(ValueError, match=r"exactly 6.*got 5"):
        SpatialGatingUnit(8, 6)(torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match=r"\(batch, n, 8\).*\(1, 6, 10\)"):
        SpatialGatingUnit(8, 6)(torch.randn(1, 6, 10))
    with pytest.raises(ValueError, match=r"\(batch, n, 8\).*\(6, 8\)"):
        SpatialGatingUnit(8, 6)(torch.randn(6, 8))


def test_sgu_rejects_odd_d_ffn():
    with pytest.raises(ValueError, match="even.*got 7"):
        SpatialGatingUnit(7, 4)


# ---- aMLP: tiny attention ------------------------------------------------------------


def test_tiny_attention_is_one_softmax_head():
    torch.manual_seed(0)
    attn = TinyAttention(d_in=10, d_out=6, d_attn=4)
    x = torch.randn(2, 5, 10)
    q, k, v = (x @ attn.qkv.weight.T + attn.qkv.bias).split(4, dim=-1)
    a = torch.softmax(q @ k.transpose(1, 2) / 4**0.5, dim=-1)
    expected = (a @ v) @ attn.proj.weight.T + attn.proj.bias
    torch.testing.assert_close(attn(x), expected, atol=1e-6, rtol=1e-5)


def test_amlp_gate_adds_the_tiny_attention():
    torch.manual_seed(0)
    sgu = SpatialGatingUnit(d_ffn=8, seq_len=5, causal=True, d_attn=4, d_model=6)
    z, x = torch.randn(2, 5, 8), torch.randn(2, 5, 6)
    plain = SpatialGatingUnit(d_ffn=8, seq_len=5, causal=True)
    plain.load_state_dict(
        {k: v for k, v in sgu.state_dict().items() if not k.startswith("attn.")}
    )
    torch.testing.assert_close(sgu(z, x), plain(z) + z[..., :4] * sgu.attn(x))
    with pytest.raises(ValueError, match="block input x"):
        sgu(z)
