"""The gMLP-vs-Transformer figure is a fair comparison: the Transformer keeps the
standard proportions (d_ff = 4 d_model) and is sized by width or depth to the gMLP's
parameter count, both models see the same tokens, several seeds are run, and the verdict
follows the numbers. Everything trains at the hidden `test` profile (seconds)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from explainer.figures import fig_gmlp_vs_transformer as comparison
from explainer.figures import training, transformer
from explainer.figures.registry import BY_NAME
from explainer.figures.runner import FigureContext, _runtime
from gmlp_snippets.model import GMLPForCausalLM


def gmlp_params(profile: str) -> int:
    return training.count_params(
        GMLPForCausalLM(training.gmlp_config(training.settings(profile)))
    )


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_the_transformer_keeps_standard_proportions_and_matches_the_gmlp(profile):
    s = training.settings(profile)
    target = gmlp_params(profile)
    size = transformer.match(
        target, 256, s.d_model, s.n_layers, comparison.N_HEADS, s.seq_len
    )
    assert size.d_ff == transformer.FF_MULT * size.d_model == 4 * size.d_model
    assert size.d_model % size.n_heads == 0 and size.n_heads == comparison.N_HEADS
    assert abs(size.ratio - 1) < 0.05, size
    # only one of the two sizes differs from the gMLP's, and `changed` names it
    if size.changed == "width":
        assert size.n_layers == s.n_layers
    else:
        assert size.changed == "depth" and size.d_model == s.d_model
    # the closed-form count is the count of the model actually built
    assert training.count_params(size.build(256, s.seq_len)) == size.params


def test_match_changes_the_depth_when_that_fits_better():
    target = transformer.param_count(
        256, 64, 3, 256, 64
    )  # exactly 3 layers at the reference width
    size = transformer.match(target, 256, 64, 6, 4, 64)
    assert (size.changed, size.d_model, size.n_layers, size.d_ff, size.params) == (
        "depth",
        64,
        3,
        256,
        target,
    )
    same = transformer.match(
        transformer.param_count(256, 64, 6, 256, 64), 256, 64, 6, 4, 64
    )
    assert (same.changed, same.d_model, same.n_layers) == (
        "width",
        64,
        6,
    )  # a tie keeps the depth


def test_match_refuses_a_width_the_heads_do_not_divide():
    with pytest.raises(ValueError, match="n_heads"):
        transformer.match(10_000, 256, 30, 2, 4, 16)


@pytest.mark.parametrize(
    "gap, pooled, expected",
    [
        (-0.10, 0.01, "gmlp"),
        (0.10, 0.01, "transformer"),
        (0.015, 0.01, "tie"),
        (-0.019, 0.01, "tie"),
        (0.0, 0.0, "tie"),
        (-0.02, 0.01, "gmlp"),
        (0.001, 0.0, "transformer"),
    ],
)
def test_verdict(gap, pooled, expected):
    assert comparison.verdict(gap, pooled) == expected


def test_held_out_windows_predict_every_byte_once():
    from explainer.figures import corpus

    held_out = corpus.split()[1]
    w = comparison.held_out_windows(16, "cpu")
    assert w.shape[1] == 17
    predicted = w[:, 1:].flatten()
    assert torch.equal(predicted, held_out[1 : 1 + predicted.numel()].long())
    assert (
        held_out.numel() - 1 - predicted.numel() < 16
    )  # at most a partial window is left out


def test_held_out_loss_weighs_every_window_the_same():
    torch.manual_seed(0)
    model = transformer.TransformerLM(256, 8, 1, 2, 32, 16)
    tokens = torch.randint(0, 256, (70, 17))
    whole = model.loss(tokens).item()
    assert comparison.held_out_loss(model, tokens, batch=64) == pytest.approx(
        whole, rel=1e-5
    )  # 64 + 6


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The figure drawn at the test profile on the CPU, as the runner does; its measures
    and the gMLP the other figures share."""
    out: Path = tmp_path_factory.mktemp("comparison")
    ctx = FigureContext(BY_NAME["gmlp_vs_transformer"], out, None, "test", 0)
    from explainer.figures import style

    training.clear_memo()
    try:
        with _runtime("cpu", None) as (dev, _, _):
            ctx.device = dev
            torch.manual_seed(ctx.seed)
            with style.context():
                comparison.make(ctx)
            shared = training.trained_gmlp(
                ctx
            )  # memoised: the run the figure used for seed 0
            yield ctx, shared
    finally:
        training.clear_memo()


def test_the_measures_are_complete_and_consistent(drawn):
    ctx, _ = drawn
    m = ctx.measures
    s = training.settings("test")
    assert m["seeds"] == [0, 1, 2]
    assert (m["steps"], m["batch"], m["seq_len"]) == (s.steps, s.batch, s.seq_len)
    assert m["tokens_seen"] == s.steps * s.batch * s.seq_len
    g, t = m["gmlp"], m["transformer"]
    assert (g["d_model"], g["d_ffn"], g["n_layers"]) == (s.d_model, s.d_ffn, s.n_layers)
    assert t["d_ff"] == 4 * t["d_model"] and t["d_model"] % t["n_heads"] == 0
    assert m["matched_by"] in ("width", "depth")
    assert m["param_ratio"] == round(t["params"] / g["params"], 4)
    for model in (g, t):
        assert len(model["eval_loss"]) == len(model["train_loss"]) == 3
        assert model["eval_loss_mean"] == pytest.approx(
            sum(model["eval_loss"]) / 3, abs=2e-4
        )
        assert model["final_eval_loss"] == model["eval_loss_mean"]
        assert 0 < model["eval_loss_mean"] < math.log(256) + 1
    assert m["gap_mean"] == pytest.approx(
        g["eval_loss_mean"] - t["eval_loss_mean"], abs=2e-4
    )
    assert m["gap_per_seed"] == pytest.approx(
        [a - b for a, b in zip(g["eval_loss"], t["eval_loss"], strict=True)], abs=2e-4
    )
    assert m["winner"] == comparison.verdict(m["gap_mean"], m["pooled_std"])
    floats = [
        m["gap_mean"],
        m["pooled_std"],
        m["param_ratio"],
        *g["eval_loss"],
        *t["eval_loss"],
    ]
    assert all(x == round(x, 4) for x in floats)
    assert (ctx.out_dir / "gmlp_vs_transformer.png").is_file()


def test_the_gmlp_of_the_run_seed_is_the_shared_run(drawn):
    ctx, shared = drawn
    assert ctx.measures["gmlp"]["train_loss"][0] == round(shared.final_train_loss, 4)
    windows = comparison.held_out_windows(training.settings("test").seq_len, ctx.device)
    assert ctx.measures["gmlp"]["eval_loss"][0] == round(
        comparison.held_out_loss(shared.model, windows), 4
    )
    # and the other seeds differ from it (they are other runs)
    assert len(set(ctx.measures["gmlp"]["eval_loss"])) == 3
