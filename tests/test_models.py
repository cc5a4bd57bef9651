"""The assembled models: preset sizes, a training smoke test, input checks, stochastic
depth, causality."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import n_params, raises_naming

from gmlp_snippets import (
    GMLPBlock,
    GMLPConfig,
    GMLPForCausalLM,
    GMLPForImageClassification,
    GMLPForMaskedLM,
)


def mix_tokens_(model: torch.nn.Module, seed: int = 0) -> None:
    """Replace the near-zero init of every W so the SGUs really mix tokens."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.gmlp.blocks:
            w = block.sgu.weight
            w.copy_(torch.randn(w.shape, generator=gen) / w.shape[0] ** 0.5)


# ---- sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, expected",
    [
        ("gmlp-ti16", 5_867_328),
        ("gmlp-s16", 19_422_656),
        ("gmlp-b16", 73_075_392),
    ],
)
def test_vision_preset_parameter_counts(preset, expected):
    """The paper's Table 1 rounds these to 6M, 20M and 73M, 1000-class head included."""
    cfg = GMLPConfig.from_preset(preset)
    assert cfg.num_classes == 1000
    assert n_params(GMLPForImageClassification(cfg)) == expected


# ---- training smoke test -------------------------------------------------------------


def test_tiny_causal_lm_overfits_a_string():
    """Next-token loss on one 64-byte string: from ln(256) ≈ 5.55 to below 0.1 within
    300 AdamW steps."""
    torch.manual_seed(0)
    cfg = GMLPConfig.from_preset("tiny")
    model = GMLPForCausalLM(cfg)
    text = "Pay attention to MLPs: gMLP mixes tokens with a spatial gating unit. " * 2
    text = text[: cfg.seq_len + 1]
    tokens = torch.tensor([list(text.encode())])  # (1, n + 1) bytes
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss = model.loss(tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if loss.item() < 0.1:
            break
    assert abs(losses[0] - math.log(cfg.vocab_size)) < 0.3, losses[0]
    assert losses[-1] < 0.1, f"loss after {len(losses)} steps: {losses[-1]:.3f}"


# ---- bad inputs: a ValueError that names the expected and the actual value -----------


def lm(causal: bool = False) -> GMLPForMaskedLM:
    cfg = GMLPConfig(
        d_model=32, d_ffn=64, seq_len=16, n_layers=2, causal=causal, vocab_size=50
    )
    return (GMLPForCausalLM if causal else GMLPForMaskedLM)(cfg)


def vision() -> GMLPForImageClassification:
    cfg = GMLPConfig(
        d_model=16,
        d_ffn=32,
        seq_len=4,
        n_layers=1,
        image_size=32,
        patch_size=16,
        num_classes=5,
    )
    return GMLPForImageClassification(cfg)


def test_wrong_channel_size():
    block = GMLPBlock(GMLPConfig(d_model=32, d_ffn=64, seq_len=16, n_layers=1))
    raises_naming(
        ValueError,
        lambda: block(torch.randn(2, 16, 31)),
        "(batch, n, 32)",
        "(2, 16, 31)",
    )
    raises_naming(
        ValueError,
        lambda: vision()(torch.randn(2, 1, 32, 32)),
        "(batch, 3, 32, 32)",
        "(2, 1, 32, 32)",
    )


def test_wrong_rank():
    raises_naming(
        ValueError, lambda: lm()(torch.randint(0, 50, (16,))), "(batch, n)", "(16,)"
    )
    raises_naming(
        ValueError,
        lambda: vision()(torch.randn(3, 32, 32)),
        "(batch, 3, 32, 32)",
        "(3, 32, 32)",
    )
    block = GMLPBlock(GMLPConfig(d_model=32, d_ffn=64, seq_len=16, n_layers=1))
    raises_naming(
        ValueError, lambda: block(torch.randn(16, 32)), "(batch, n, 32)", "(16, 32)"
    )


def test_too_long_sequence():
    raises_naming(
        ValueError, lambda: lm()(torch.randint(0, 50, (2, 17))), "exactly 16", "17"
    )
    raises_naming(
        ValueError,
        lambda: lm(causal=True)(torch.randint(0, 50, (2, 17))),
        "<= 16",
        "17",
    )
    # non-causal: n is fixed
    raises_naming(
        ValueError, lambda: lm()(torch.randint(0, 50, (2, 15))), "exactly 16", "15"
    )


def test_non_integer_tokens():
    raises_naming(
        ValueError, lambda: lm()(torch.rand(2, 16)), "integer", "torch.float32"
    )


def test_out_of_range_tokens():
    too_big = torch.randint(0, 50, (2, 16))
    too_big[1, 3] = 50
    raises_naming(ValueError, lambda: lm()(too_big), "[0, 50)", "50")
    negative = torch.randint(0, 50, (2, 16))
    negative[0, 0] = -1
    raises_naming(ValueError, lambda: lm()(negative), "[0, 50)", "-1")


@pytest.mark.parametrize(
    "dtype", [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8]
)
def test_every_accepted_token_dtype_gives_the_same_logits(dtype):
    model = lm().eval()
    tokens = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        expected = model(tokens)
        torch.testing.assert_close(model(tokens.to(dtype)), expected, atol=0, rtol=0)


def test_byte_ids_fill_a_256_token_vocabulary():
    """uint8 ids up to 255 are valid for V = 256 (once rejected: 255 >= 256 wrapped)."""
    model = GMLPForCausalLM(GMLPConfig.from_preset("tiny", n_layers=1)).eval()
    tokens = torch.tensor([range(2, 66), range(192, 256)], dtype=torch.uint8)
    with torch.no_grad():
        assert model(tokens).shape == (2, 64, 256)


def test_generate_extends_the_prompt():
    model = lm(causal=True).eval()
    prompt = torch.randint(0, 50, (2, 3))
    out = model.generate(
        prompt, 20, temperature=0.5, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (2, 23) and torch.equal(out[:, :3], prompt)
    assert out.min() >= 0 and out.max() < 50


def test_odd_d_ffn():
    raises_naming(ValueError, lambda: GMLPConfig(d_ffn=129), "even", "129")


def test_wrong_image_size():
    raises_naming(
        ValueError,
        lambda: vision()(torch.randn(2, 3, 48, 48)),
        "(batch, 3, 32, 32)",
        "(2, 3, 48, 48)",
    )


# ---- stochastic depth ----------------------------------------------------------------


def test_stochastic_depth_is_random_in_training_and_off_in_eval():
    torch.manual_seed(0)
    cfg = GMLPConfig(
        d_model=32, d_ffn=64, seq_len=16, n_layers=6, vocab_size=50, survival_prob=0.5
    )
    model = GMLPForMaskedLM(cfg)
    tokens = torch.randint(0, 50, (8, 16))

    model.train()
    outs = [model(tokens) for _ in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:]), "outputs should vary"

    model.eval()
    with torch.no_grad():
        assert torch.equal(model(tokens), model(tokens))

    # survival falls linearly from 1 (first block) to survival_prob (last block)
    probs = [block.survival_prob for block in model.gmlp.blocks]
    assert probs[0] == 1.0 and probs[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(probs, probs[1:], strict=False))


def test_training_mode_is_deterministic_without_stochastic_depth():
    model = lm().train()
    tokens = torch.randint(0, 50, (2, 16))
    assert torch.equal(model(tokens), model(tokens))


# ---- causality -----------------------------------------------------------------------


@pytest.mark.parametrize("d_attn", [None, 8])
def test_causal_lm_logits_ignore_later_tokens(d_attn):
    torch.manual_seed(0)
    cfg = GMLPConfig.from_preset("tiny", d_attn=d_attn)
    model = GMLPForCausalLM(cfg).eval()
    mix_tokens_(model)  # W's upper triangle is not ~0: only the mask keeps it causal
    n = cfg.seq_len
    tokens = torch.randint(0, cfg.vocab_size, (2, n))
    with torch.no_grad():
        base = model(tokens)
        for i in (0, 5, n // 2, n - 2):
            changed = tokens.clone()
            changed[:, i + 1 :] = torch.randint(0, cfg.vocab_size, (2, n - i - 1))
            out = model(changed)
            torch.testing.assert_close(
                out[:, : i + 1], base[:, : i + 1], atol=1e-6, rtol=0
            )
            # later positions do see them
            assert (out[:, i + 1 :] - base[:, i + 1 :]).abs().max() > 1e-3
