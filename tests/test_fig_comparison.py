"""The gMLP-vs-Transformer figure controls what it says it controls: the Transformer
keeps the standard proportions (d_ff = 4 d_model) and is sized by width or depth to the
gMLP's parameter count, both models see the same tokens, each gets its best learning
rate from the same sweep, several seeds are run, and the verdict follows the numbers.
Everything trains at the hidden `test` profile (seconds)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import REPO

from explainer.figures import cache, find
from explainer.figures.runner import FigureContext, _runtime
from gmlp_snippets.model import GMLPForCausalLM

POST2 = next(s for s in find(REPO / "posts", REPO) if s.matches("blog-post-2"))
corpus, training = POST2.module("corpus"), POST2.module("training")
transformer = POST2.module("transformer")
comparison = POST2.module("fig_gmlp_vs_transformer")


def committed() -> dict:
    """The measures of the committed figure."""
    return cache.read_manifest(POST2.out)["gmlp_vs_transformer"]["measures"]


def argmin_rate(sweep: dict, name: str) -> float:
    """The rate of the lowest recorded loss of `name` in a manifest's sweep (None:
    diverged)."""
    finite = [(v, lr) for v, lr in zip(sweep[name], sweep["rates"], strict=True) if v]
    return min(finite)[1]


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


@pytest.mark.parametrize(
    "losses, expected",
    [
        ([2.0, 1.5, 1.7], 3e-3),
        ([2.0, 1.5, 1.5], 3e-3),  # a tie: the lower rate
        ([None, 1.9, 1.5], 1e-2),  # a diverged run is never chosen
    ],
)
def test_best_rate(losses, expected):
    assert comparison.best_rate([1e-3, 3e-3, 1e-2], losses) == expected


def test_best_rate_refuses_a_sweep_where_every_run_diverged():
    with pytest.raises(ValueError, match=r"every learning rate of \[0.001, 0.003\]"):
        comparison.best_rate([1e-3, 3e-3], [None, None])


def test_the_training_run_keeps_the_weights_of_each_evaluation():
    s = training.settings("test")
    torch.manual_seed(0)
    model = GMLPForCausalLM(training.gmlp_config(s))
    run = training.train_lm(model, s, torch.device("cpu"), 0)
    assert len(run.states) == len(run.eval_steps) == s.steps // s.eval_every
    final = model.state_dict()
    assert all(torch.equal(run.states[-1][k], v) for k, v in final.items())
    # copies, not views of the live weights: the first evaluation's differ from the last
    key = "gmlp.blocks.0.sgu.weight"
    assert not torch.equal(run.states[0][key], final[key])
    assert not torch.equal(run.init_state[key], run.states[0][key])


def test_held_out_windows_predict_every_byte_once():
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
    (figure,) = POST2.resolve(["gmlp_vs_transformer"])
    ctx = FigureContext(figure, out, None, "test", 0)
    from explainer.figures import style

    with _runtime("cpu", None) as (dev, _, _):
        ctx.device = dev
        torch.manual_seed(ctx.seed)
        with style.context():
            comparison.make(ctx)
        shared = training.trained_gmlp(ctx)  # in ctx.memo: the run of seed 0
        yield ctx, shared


def test_the_measures_are_complete_and_consistent(drawn):
    ctx, _ = drawn
    m = ctx.measures
    s = training.settings("test")
    assert m["seeds"] == [0, 1, 2]
    assert (m["steps"], m["batch"], m["seq_len"]) == (s.steps, s.batch, s.seq_len)
    assert m["tokens_seen"] == s.steps * s.batch * s.seq_len
    assert m["train_passes"] == round(m["tokens_seen"] / len(corpus.split()[0]), 4)
    g, t = m["gmlp"], m["transformer"]
    assert (g["d_model"], g["d_ffn"], g["n_layers"]) == (s.d_model, s.d_ffn, s.n_layers)
    assert t["d_ff"] == 4 * t["d_model"] and t["d_model"] % t["n_heads"] == 0
    assert m["matched_by"] in ("width", "depth")
    assert m["param_ratio"] == round(t["params"] / g["params"], 4)
    for model in (g, t):
        assert len(model["eval_loss"]) == len(model["train_loss"]) == 3
        assert len(model["eval_curve_mean"]) == len(m["curve_steps"])
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


def test_each_model_runs_at_the_best_rate_of_the_same_recorded_sweep(drawn):
    ctx, _ = drawn
    m = ctx.measures
    sweep = m["lr_sweep"]
    size = comparison.transformer_size(ctx, m["gmlp"]["params"])
    assert sweep["rates"] == list(comparison.LR_GRID["test"]) and sweep["seed"] == 0
    for name in ("gmlp", "transformer"):
        losses = sweep[name]
        assert len(losses) == len(sweep["rates"])
        assert m[name]["lr"] == argmin_rate(sweep, name)
        assert sweep["at_edge"][name] == (
            m[name]["lr"] in (sweep["rates"][0], sweep["rates"][-1])
        )
        # the first seed's run of the comparison is the sweep's run at that rate
        run = comparison.trained(ctx, name, 0, m[name]["lr"], size)  # memoised
        assert m[name]["train_loss"][0] == round(run.final_train_loss, 4)
        assert losses[sweep["rates"].index(m[name]["lr"])] == m[name]["train_loss"][0]
        assert run.settings.lr == m[name]["lr"]


def test_the_sweep_includes_the_run_the_other_figures_share(drawn):
    ctx, shared = drawn
    sweep = ctx.measures["lr_sweep"]
    s = training.settings("test")
    assert shared.settings.lr == s.lr
    assert sweep["gmlp"][sweep["rates"].index(s.lr)] == round(
        shared.final_train_loss, 4
    )


def test_the_locality_is_that_of_the_first_seed_gmlp_as_it_learns(drawn):
    locality = POST2.module("fig_spatial_weights").locality
    ctx, _ = drawn
    m = ctx.measures
    loc, s = m["locality"], training.settings("test")
    run = comparison.trained(ctx, "gmlp", 0, m["gmlp"]["lr"], None)
    assert loc["steps"] == [0, *m["curve_steps"]] == [0, *run.eval_steps]
    states = [run.init_state, *run.states]
    for share, state in zip(loc["share"], states, strict=True):
        blocks = [
            locality(state[f"gmlp.blocks.{i}.sgu.weight"].double().tril(), loc["k"])
            for i in range(s.n_layers)
        ]
        assert share == round(sum(b[0] for b in blocks) / s.n_layers, 4)
        assert loc["uniform"] == round(blocks[0][1], 4)
    assert 0 < loc["uniform"] < 1 and loc["k"] == max(2, s.seq_len // 16)
    assert (loc["init_share"], loc["early_share"], loc["final_share"]) == (
        loc["share"][0],
        loc["share"][1],
        loc["share"][-1],
    )
    assert loc["early_step"] == loc["steps"][1] == s.eval_every


def test_the_gmlp_of_the_first_seed_is_scored_on_the_whole_held_out_text(drawn):
    ctx, _ = drawn
    run = comparison.trained(ctx, "gmlp", 0, ctx.measures["gmlp"]["lr"], None)
    windows = comparison.held_out_windows(training.settings("test").seq_len, ctx.device)
    assert ctx.measures["gmlp"]["eval_loss"][0] == round(
        comparison.held_out_loss(run.model, windows), 4
    )
    # and the other seeds differ from it (they are other runs)
    assert len(set(ctx.measures["gmlp"]["eval_loss"])) == 3


def test_the_committed_figure_ran_each_model_at_the_best_rate_of_its_sweep():
    m = committed()
    sweep = m["lr_sweep"]
    assert len(sweep["rates"]) >= 3 and sweep["seed"] == m["seeds"][0]
    for name in ("gmlp", "transformer"):
        assert len(sweep[name]) == len(sweep["rates"])
        assert m[name]["lr"] == argmin_rate(sweep, name)
        assert (
            sweep[name][sweep["rates"].index(m[name]["lr"])]
            == (m[name]["train_loss"][0])
        )  # the first seed's run is the sweep's


def test_the_post_says_the_chosen_rates_are_inside_the_sweep_only_if_they_are():
    post = (REPO / "posts" / "2024-02-02-blog-post-2.md").read_text(encoding="utf-8")
    if "giữa lưới" in post:  # "each best rate lies inside the grid, not at an end"
        assert not any(committed()["lr_sweep"]["at_edge"].values())
