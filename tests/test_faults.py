"""Injected faults: one wrong input each; the message names it, and nothing is lost.

Every case asserts two things: the error names the field or argument that is wrong (and
what it expected), and nothing was half done - the presets, a model's parameters and
gradients, the random state and the file system are as they were before the call.
Adding a case is one line in the list of its kind.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import torch
from conftest import POST2, raises_naming
from g_mlp_pytorch import gMLP
from torch import nn

from explainer import export
from gmlp_snippets import (
    PRESETS,
    ChannelProjection,
    GMLPBlock,
    GMLPConfig,
    GMLPForCausalLM,
    GMLPForImageClassification,
    GMLPForMaskedLM,
    LayerNorm,
    SpatialGatingUnit,
    TinyAttention,
    load_lucidrains,
    load_timm_state_dict,
)

pytestmark = pytest.mark.faults

Params = dict[str, torch.Tensor]


def named(cases: list[tuple], id_of: Callable[..., str]) -> list:
    """The cases as pytest params, each with the readable id id_of(*case)."""
    return [pytest.param(*case, id=id_of(*case)) for case in cases]


def snapshot(model: nn.Module) -> Params:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: Params) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    changed = [k for k, v in after.items() if not torch.equal(v, before[k])]
    assert not changed, f"a failed call changed {changed}"
    assert all(p.grad is None for p in model.parameters()), "a failed call left grads"


# ---- GMLPConfig: a wrong field fails at construction -------------------------------


@pytest.mark.parametrize(
    "preset, overrides, message",
    named(
        [
            ("tiny", dict(n_layers=-2), "n_layers must be an int >= 1, got -2"),
            ("tiny", dict(n_layers=0), "n_layers must be an int >= 1, got 0"),
            ("tiny", dict(seq_len=0), "seq_len must be an int >= 1, got 0"),
            ("tiny", dict(d_model=64.0), "d_model must be an int >= 1, got 64.0"),
            ("tiny", dict(d_ffn=True), "d_ffn must be an int >= 1, got True"),
            (
                "tiny",
                dict(d_ffn=129),
                "d_ffn must be even (the SGU splits Z in two), got 129",
            ),
            ("tiny", dict(d_attn=0), "d_attn must be an int >= 1, got 0"),
            ("tiny", dict(vocab_size=-1), "vocab_size must be an int >= 1, got -1"),
            (
                "tiny",
                dict(vocab_size="256"),
                "vocab_size must be an int >= 1, got '256'",
            ),
            ("tiny", dict(norm_eps=0.0), "norm_eps must be a number > 0, got 0.0"),
            ("tiny", dict(norm_eps=-1e-5), "norm_eps must be a number > 0, got -1e-05"),
            (
                "tiny",
                dict(norm_eps=float("nan")),
                "norm_eps must be a number > 0, got nan",
            ),
            (
                "tiny",
                dict(norm_eps=float("inf")),
                "norm_eps must be a number > 0, got inf",
            ),
            (
                "tiny",
                dict(survival_prob=1.5),
                "survival_prob must be a number in (0, 1], got",
            ),
            (
                "tiny",
                dict(survival_prob=0.0),
                "survival_prob must be a number in (0, 1]",
            ),
            (
                "tiny",
                dict(survival_prob=-0.1),
                "survival_prob must be a number in (0, 1]",
            ),
            ("tiny", dict(causal="yes"), "causal must be a bool, got 'yes'"),
            ("tiny", dict(tie_embeddings=1), "tie_embeddings must be a bool, got 1"),
            (
                "tiny",
                dict(activation="tanh"),
                "activation must be one of ['gelu', 'relu']",
            ),
            ("gmlp-ti16", dict(patch_size=0), "patch_size must be an int >= 1, got 0"),
            (
                "gmlp-ti16",
                dict(patch_size=15),
                "image_size must be a multiple of patch_size",
            ),
            ("gmlp-ti16", dict(image_size=0), "image_size must be an int >= 1, got 0"),
            (
                "gmlp-ti16",
                dict(seq_len=197),
                "seq_len must equal the number of patches 196",
            ),
            ("gmlp-ti16", dict(in_chans=0), "in_chans must be an int >= 1, got 0"),
            (
                "gmlp-ti16",
                dict(num_classes=-5),
                "num_classes must be an int >= 1, got -5",
            ),
        ],
        lambda preset, overrides, _: "-".join(
            [preset, *(f"{k}={v!r}" for k, v in overrides.items())]
        ),
    ),
)
def test_config_field(preset, overrides, message):
    """message, after "GMLPConfig.", names the field, its range and the value given."""
    presets_before = dict(PRESETS)
    fields = {**dataclasses.asdict(PRESETS[preset]), **overrides}
    message = f"GMLPConfig.{message}"
    raises_naming(ValueError, lambda: GMLPConfig(**fields), message)
    from_preset = lambda: GMLPConfig.from_preset(preset, **overrides)  # noqa: E731
    raises_naming(ValueError, from_preset, message)
    assert PRESETS == presets_before  # the preset a failed override copied is intact


# ---- layer constructors: a wrong size fails before any weight is drawn -------------


def layer(cls: type, *args, message: str, **kwargs):
    """One case: cls(*args, **kwargs) fails with f"{cls.__name__}.{message}"."""
    message = f"{cls.__name__}.{message}"
    return pytest.param(cls, args, kwargs, message, id=message.split(" ")[0])


@pytest.mark.parametrize(
    "cls, args, kwargs, message",
    [
        layer(LayerNorm, 0, message="d must be an int >= 1, got 0"),
        layer(LayerNorm, 8.0, message="d must be an int >= 1, got 8.0"),
        layer(LayerNorm, 8, eps=0, message="eps must be a number > 0, got 0"),
        layer(ChannelProjection, 0, 8, message="d_in must be an int >= 1, got 0"),
        layer(ChannelProjection, 8, -1, message="d_out must be an int >= 1, got -1"),
        layer(ChannelProjection, 8, 16, "tanh", message="activation must be one of"),
        layer(SpatialGatingUnit, 0, 8, message="d_ffn must be an int >= 1, got 0"),
        layer(SpatialGatingUnit, 7, 8, message="d_ffn must be even"),
        layer(SpatialGatingUnit, 8, 0, message="seq_len must be an int >= 1, got 0"),
        layer(SpatialGatingUnit, 8, 4, d_attn=0, message="d_attn must be an int >= 1"),
        layer(
            SpatialGatingUnit, 8, 4, d_attn=4, d_model=0, message="d_model must be an"
        ),
        layer(
            TinyAttention, 8, 4, d_attn=0, message="d_attn must be an int >= 1, got 0"
        ),
        layer(
            GMLPBlock,
            GMLPConfig(d_model=32, d_ffn=64, seq_len=16, n_layers=1),
            survival_prob=2.0,
            message="survival_prob must be a number in (0, 1], got 2.0",
        ),
    ],
)
def test_layer_argument(cls, args, kwargs, message):
    rng = torch.get_rng_state()
    raises_naming(ValueError, lambda: cls(*args, **kwargs), message)
    assert torch.equal(torch.get_rng_state(), rng), "a failed constructor drew weights"


# ---- token ids: every integer dtype is accepted or rejected with a true message ----


def ids(dtype: torch.dtype, bad: int | None = None, shape=(2, 16)) -> torch.Tensor:
    """Valid ids for a vocabulary of 50 in the given dtype; one `bad` id if given."""
    tokens = torch.randint(0, 50, shape, generator=torch.Generator().manual_seed(0))
    if bad is not None:
        tokens[-1, 3] = bad
    return tokens.to(dtype)


ACCEPTED = "(int64, int32, int16, int8 or uint8)"
RANGE = "token ids must lie in [0, 50)"


@pytest.mark.parametrize(
    "dtype, bad, shape, parts",
    named(
        [
            (torch.float32, None, (2, 16), ["integer token ids", "got torch.float32"]),
            (torch.float16, None, (2, 16), ["integer token ids", "got torch.float16"]),
            (
                torch.complex64,
                None,
                (2, 16),
                ["integer token ids", "got torch.complex64"],
            ),
            (torch.bool, None, (2, 16), ["integer token ids", "got torch.bool"]),
            (torch.uint16, None, (2, 16), [ACCEPTED, "got torch.uint16"]),
            (torch.uint64, None, (2, 16), [ACCEPTED, "got torch.uint64"]),
            (torch.int64, None, (16,), ["(batch, n)", "of shape (16,)"]),
            (
                torch.uint8,
                200,
                (2, 16),
                [RANGE, "200]"],
            ),  # compared as int64: no wrap-around
            (torch.uint8, 255, (2, 16), [RANGE, "255]"]),
            (torch.int8, -3, (2, 16), [RANGE, "got [-3, "]),
            (torch.int16, 50, (2, 16), [RANGE, ", 50]"]),
            (torch.int32, -1, (2, 16), [RANGE, "got [-1, "]),
            (torch.int64, 10**12, (2, 16), [RANGE, f"{10**12}]"]),
        ],
        lambda dtype, bad, shape, _: "-".join(
            [
                str(dtype).removeprefix("torch."),
                *([f"id={bad}"] if bad is not None else []),
                *([f"shape={shape}"] if shape != (2, 16) else []),
            ]
        ),
    ),
)
@pytest.mark.parametrize("cls", [GMLPForMaskedLM, GMLPForCausalLM])
def test_token_ids(cls, dtype, bad, shape, parts):
    model = cls(
        GMLPConfig(
            d_model=16,
            d_ffn=32,
            seq_len=16,
            n_layers=1,
            causal=cls is GMLPForCausalLM,
            vocab_size=50,
        )
    )
    tokens, before = ids(dtype, bad, shape), snapshot(model)
    forward = lambda: model(tokens).sum().backward()  # noqa: E731
    raises_naming(ValueError, forward, cls.__name__, *parts)
    assert_unchanged(model, before)


# ---- converters: all or nothing, even when the last tensor is the bad one ----------


class FailingLastCopy(torch.Tensor):
    """A peer tensor; copying the `total`-th of them into our model raises."""

    total = 0
    copies = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.copy_:
            FailingLastCopy.copies += 1
            if FailingLastCopy.copies == FailingLastCopy.total:
                raise RuntimeError("injected fault in the last copy")
        return super().__torch_function__(func, types, args, kwargs or {})


def lucidrains_case() -> tuple[nn.Module, dict[str, torch.Tensor], Callable, str]:
    """Our masked LM, a g-mlp-pytorch state dict, the loader, the key copied last."""
    torch.manual_seed(0)
    cfg = GMLPConfig(
        d_model=16, d_ffn=64, seq_len=8, n_layers=2, vocab_size=50, tie_embeddings=False
    )
    peer = gMLP(num_tokens=50, dim=16, depth=2, seq_len=8, ff_mult=4)
    # the plan ends with the last block, and a block with its proj_out
    return (
        GMLPForMaskedLM(cfg),
        peer.state_dict(),
        load_lucidrains,
        "layers.1.fn.fn.fn.proj_out.bias",
    )


def to_timm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our vision state dict under timm's gmlp_*16_224 names."""
    renames = [
        ("patch_embed.", "stem.proj."),
        ("gmlp.norm.", "norm."),
        ("gmlp.", ""),
        ("proj_in.proj.", "mlp_channels.fc1."),
        ("sgu.norm.", "mlp_channels.gate.norm."),
        ("sgu.", "mlp_channels.gate.proj."),
        ("proj_out.", "mlp_channels.fc2."),
    ]
    out = {}
    for key, value in state_dict.items():
        for ours, theirs in renames:
            key = key.replace(ours, theirs)
        out[key] = value.clone()
    return out


def timm_case() -> tuple[nn.Module, dict[str, torch.Tensor], Callable, str]:
    """Our vision model, a timm-layout state dict, the loader, the key copied last."""
    cfg = GMLPConfig(
        d_model=16,
        d_ffn=32,
        seq_len=4,
        n_layers=2,
        image_size=16,
        patch_size=8,
        num_classes=5,
        norm_eps=1e-6,
    )
    torch.manual_seed(1)
    source = GMLPForImageClassification(cfg)
    torch.manual_seed(0)
    return (
        GMLPForImageClassification(cfg),
        to_timm(source.state_dict()),
        load_timm_state_dict,
        "blocks.1.mlp_channels.fc2.bias",
    )


CASES = {"lucidrains": lucidrains_case, "timm": timm_case}


# each fault changes the peer state dict sd at its key copied last, k
def meta_tensor(sd: dict, k: str) -> None:
    sd[k] = torch.empty(sd[k].shape, device="meta")


def a_list(sd: dict, k: str) -> None:
    sd[k] = sd[k].tolist()


def none(sd: dict, k: str) -> None:
    sd[k] = None


def int64(sd: dict, k: str) -> None:
    sd[k] = sd[k].long()


def wrong_shape(sd: dict, k: str) -> None:
    sd[k] = sd[k][:-1]


def fail_last_copy(sd: dict, k: str) -> None:
    """Every peer tensor becomes a FailingLastCopy: the last one copied fails."""
    FailingLastCopy.total, FailingLastCopy.copies = len(sd), 0
    for key, value in sd.items():
        sd[key] = value.as_subclass(FailingLastCopy)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    "inject, error, parts",
    named(
        [
            (
                meta_tensor,
                ValueError,
                ["{key}", "is a meta tensor", "expected a tensor with"],
            ),
            (a_list, ValueError, ["{key}", "is a list, expected a tensor"]),
            (none, ValueError, ["{key}", "is a NoneType, expected a tensor"]),
            (
                int64,
                ValueError,
                ["{key}", "has dtype torch.int64, expected a floating-point"],
            ),
            (wrong_shape, ValueError, ["{key}", "has shape", "expected"]),
            (
                fail_last_copy,
                RuntimeError,
                ["copying key", "injected fault", "was restored"],
            ),
        ],
        lambda inject, *_: inject.__name__,
    ),
)
def test_converter_fault_in_the_last_tensor(case, inject, error, parts):
    model, state_dict, load, last = CASES[case]()
    assert last in state_dict
    before = snapshot(model)
    inject(state_dict, last)
    parts = [part.format(key=last) for part in parts]
    raises_naming(error, lambda: load(model, state_dict), *parts)
    assert_unchanged(model, before)
    if inject is fail_last_copy:  # it failed the last copy, after all the others
        assert FailingLastCopy.copies == FailingLastCopy.total > 1


@pytest.mark.parametrize("case", list(CASES))
def test_converter_cases_load_when_nothing_is_injected(case):
    """The control: the same state dicts load and change the model."""
    model, state_dict, load, _ = CASES[case]()
    before = snapshot(model)
    load(model, state_dict)
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())


# ---- the export CLI: a bad --out writes nothing and says why -----------------------


# each setup makes the fault in tmp and returns the --out path
def missing_dir(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return tmp / "missing" / "dir" / "gmlp.py"


def parent_is_a_file(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp / "notes.txt").write_text("keep me\n", encoding="utf-8")
    return tmp / "notes.txt" / "gmlp.py"


def existing_dir(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp / "gmlp.py").mkdir()
    return tmp / "gmlp.py"


def read_only_file(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp / "gmlp.py"
    out.write_text("# an older copy, kept read-only\n", encoding="utf-8")
    out.chmod(0o444)
    return out


def write_fails(tmp: Path, monkeypatch: pytest.MonkeyPatch, errno: int, reason: str):
    """--out where writing fails halfway, as in a read-only directory or a full disk."""

    def fail(fd: int) -> None:  # after the bytes went into the temporary file
        raise OSError(errno, reason)

    monkeypatch.setattr(os, "fsync", fail)
    return tmp / "gmlp.py"


def read_only_dir(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # chmod does not stop root (the test machines run as root): play the OS's answer
    return write_fails(tmp, monkeypatch, 13, "Permission denied")


def disk_full(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return write_fails(tmp, monkeypatch, 28, "No space left on device")


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize(
    "setup, parts",
    named(
        [
            (missing_dir, ["--out", "missing/dir is not an existing directory"]),
            (parent_is_a_file, ["--out", "notes.txt is not an existing directory"]),
            (existing_dir, ["--out", "expected a file path, got the directory"]),
            (read_only_file, ["--out", "gmlp.py is read-only"]),
            (read_only_dir, ["--out", "could not be written", "Permission denied"]),
            (disk_full, ["--out", "could not be written", "No space left on device"]),
        ],
        lambda setup, _: setup.__name__,
    ),
)
def test_export_out(setup, parts, tmp_path, monkeypatch, capsys):
    out = setup(tmp_path, monkeypatch)
    before = tree(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        export.main([str(POST2), "--out", str(out)])
    assert exit_.value.code == 2  # argparse's usage error, not a traceback
    err = capsys.readouterr().err
    for part in parts:
        assert part in err, f"{part!r} not in {err!r}"
    assert "Traceback" not in err
    assert tree(tmp_path) == before, "a failed export wrote or removed a file"


def test_export_out_writes_a_good_path(tmp_path):
    """The control: a plain path is written, with no .tmp left behind."""
    assert export.main([str(POST2), "--out", str(tmp_path / "gmlp.py")]) == 0
    assert os.listdir(tmp_path) == ["gmlp.py"]


# ---- generate: a bad temperature or prompt fails before any token is drawn ---------


@pytest.mark.parametrize(
    "prompt, kwargs, parts",
    named(
        [
            ((2, 4), dict(temperature=0.0), ["temperature must be > 0, got 0.0"]),
            ((2, 4), dict(temperature=-1.0), ["temperature must be > 0, got -1.0"]),
            (
                (2, 4),
                dict(temperature=float("nan")),
                ["temperature must be > 0, got nan"],
            ),
            ((2, 0), {}, ["prompt must be (batch, n) token ids with n >= 1", "(2, 0)"]),
            ((4,), {}, ["prompt must be (batch, n)", "got shape (4,)"]),
            (
                ids(torch.float32, shape=(2, 4)),
                {},
                ["integer token ids", "torch.float32"],
            ),
            (ids(torch.int64, bad=50, shape=(2, 4)), {}, [RANGE, ", 50]"]),
        ],
        lambda prompt, kwargs, _: (
            ",".join(f"{k}={v}" for k, v in kwargs.items())
            or (
                f"prompt{prompt}"
                if isinstance(prompt, tuple)
                else f"prompt-{prompt.dtype}"
            )
        ),
    ),
)
def test_generate_argument(prompt, kwargs, parts):
    """prompt: a shape of valid ids, or the ids themselves."""
    torch.manual_seed(0)
    model = GMLPForCausalLM(
        GMLPConfig(
            d_model=16, d_ffn=32, seq_len=8, n_layers=1, causal=True, vocab_size=50
        )
    )
    if isinstance(prompt, tuple):
        prompt = ids(torch.int64, shape=prompt)
    gen = torch.Generator().manual_seed(0)
    before, rng, gen_state = snapshot(model), torch.get_rng_state(), gen.get_state()
    generate = lambda: model.generate(prompt, 3, generator=gen, **kwargs)  # noqa: E731
    raises_naming(ValueError, generate, *parts)
    assert_unchanged(model, before)
    assert torch.equal(torch.get_rng_state(), rng), "a failed generate drew numbers"
    assert torch.equal(gen.get_state(), gen_state), "a failed generate drew numbers"
