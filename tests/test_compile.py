"""torch.compile: every model is one graph, and compiled runs give eager's numbers.

Tiny models (1 layer, d = 16) keep the file to seconds. Graph breaks are counted by
torch._dynamo.explain; outputs and gradients are compared through AOTAutograd (backend
"aot_eager": the traced forward and backward graphs, without code generation) and,
marked slow, through inductor (a cold inductor cache compiles C++ for minutes on a small
CPU). GMLP_TEST_DEVICE=cuda runs the same tests on a GPU, plus a check that a forward
pass never waits for the device.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from gmlp_snippets import (
    GMLP,
    GMLPConfig,
    GMLPForCausalLM,
    GMLPForImageClassification,
    GMLPForMaskedLM,
)

DEVICE = torch.device(os.environ.get("GMLP_TEST_DEVICE", "cpu"))
if DEVICE.type == "cuda" and not torch.cuda.is_available():
    pytest.skip("GMLP_TEST_DEVICE=cuda, but no GPU is here", allow_module_level=True)

V = 20  # vocabulary of the language models
SMALL = dict(d_model=16, d_ffn=32, seq_len=8, n_layers=1)


@dataclass(frozen=True)
class Kind:
    """One model kind: its class, its config and a batch of its input."""

    cls: Callable[[GMLPConfig], nn.Module]
    cfg: GMLPConfig

    def model(self) -> nn.Module:
        torch.manual_seed(0)
        model = self.cls(self.cfg).to(DEVICE)
        with torch.no_grad():  # away from the near-identity init: W really mixes tokens
            for block in (model if isinstance(model, GMLP) else model.gmlp).blocks:
                block.sgu.weight.normal_(std=0.3)
        return model

    def batch(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(1)
        cfg = self.cfg
        if self.cls is GMLP:
            x = torch.randn(2, cfg.seq_len, cfg.d_model, generator=gen)
        elif cfg.image_size is not None:
            s = cfg.image_size
            x = torch.randn(2, cfg.in_chans, s, s, generator=gen)
        else:
            x = torch.randint(0, V, (2, cfg.seq_len), generator=gen)
        return x.to(DEVICE)


KINDS = {
    "backbone": Kind(GMLP, GMLPConfig(**SMALL)),
    "masked-lm": Kind(GMLPForMaskedLM, GMLPConfig(**SMALL, vocab_size=V)),
    "causal-lm": Kind(GMLPForCausalLM, GMLPConfig(**SMALL, causal=True, vocab_size=V)),
    "amlp": Kind(
        GMLPForCausalLM, GMLPConfig(**SMALL, causal=True, d_attn=8, vocab_size=V)
    ),
    "vision": Kind(
        GMLPForImageClassification,
        GMLPConfig(
            **{**SMALL, "seq_len": 4}, image_size=16, patch_size=8, num_classes=5
        ),
    ),
}


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test compiles from scratch: no cached graph, guard or recompile count."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def outputs_and_grads(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    model.zero_grad()
    y = model(x)
    y.square().mean().backward()
    return y.detach(), [p.grad.detach().clone() for p in model.parameters()]


def assert_same_as_eager(kind: Kind, backend: str) -> None:
    model, x = kind.model(), kind.batch()
    y_eager, g_eager = outputs_and_grads(model, x)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    y_comp, g_comp = outputs_and_grads(compiled, x)
    torch.testing.assert_close(y_comp, y_eager, atol=1e-5, rtol=1e-4)
    assert len(g_comp) == len(g_eager)
    names = [name for name, _ in model.named_parameters()]
    for name, a, b in zip(names, g_comp, g_eager, strict=True):
        torch.testing.assert_close(
            a, b, atol=1e-5, rtol=1e-4, msg=lambda m, name=name: f"grad of {name}: {m}"
        )


@pytest.mark.parametrize("name", list(KINDS))
def test_model_compiles_into_one_graph(name):
    kind = KINDS[name]
    explanation = torch._dynamo.explain(kind.model())(kind.batch())
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


@pytest.mark.parametrize("name", list(KINDS))
def test_compiled_graph_gives_eager_outputs_and_gradients(name):
    assert_same_as_eager(KINDS[name], backend="aot_eager")


@pytest.mark.slow
def test_inductor_gives_eager_outputs_and_gradients():
    """Inductor's generated code, for the kind that uses every layer (causal SGU, tiny
    attention, LM head); the other kinds share its layers and are covered by
    aot_eager."""
    assert_same_as_eager(KINDS["amlp"], backend="inductor")


# on a GPU an id out of range trips a device-side assert, which ends the CUDA context
CPU_ONLY = pytest.mark.skipif(DEVICE.type != "cpu", reason="a device assert ends CUDA")


@CPU_ONLY
def test_compiled_lm_still_rejects_out_of_range_ids():
    """Compiled, the host-side range check is skipped; nn.Embedding's own one fails."""
    kind = KINDS["causal-lm"]
    model, tokens = kind.model(), kind.batch()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    compiled(tokens)
    tokens[0, 3] = V
    with pytest.raises((IndexError, RuntimeError)):
        compiled(tokens)


@CPU_ONLY
def test_range_check_does_not_run_while_compiling(monkeypatch):
    """The check reads the ids on the host only outside torch.compile."""
    kind = KINDS["masked-lm"]
    model, tokens = kind.model(), kind.batch()
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    tokens[0, 0] = V  # out of range: only nn.Embedding's own check sees it now
    with pytest.raises((IndexError, RuntimeError)) as err:
        model(tokens)
    assert not isinstance(err.value, ValueError)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="a host sync only exists with a GPU")
@pytest.mark.parametrize("name", list(KINDS))
def test_forward_never_waits_for_the_gpu(name):
    kind = KINDS[name]
    model, x = kind.model().eval(), kind.batch()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            model(x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
