"""tiny_lm.bin + tiny_lm.json - the trained small gMLP language model, for the browser.

Not a picture: the weights of the very model that sgu_gate.png and spatial_weights.png
show (the same memoised training run: same profile, device and seed), for the post's
live widget (docs/javascripts/gmlp-widget.js), which runs it in the reader's browser.

* tiny_lm.bin: every tensor of the model's state dict, float32 little-endian, one after
  the other in state-dict order; a tied matrix (the LM head reuses the token embedding)
  is stored once.
* tiny_lm.json: the config, the byte-level vocabulary, where the training text comes
  from (with an excerpt), steps and final losses, the eps of every LayerNorm, and for
  each tensor its name, shape and byte offset in the .bin. Keys sorted: two CPU runs
  write the same bytes.

The .bin is downloaded with the page, so it must stay under 600 KB: the quick profile's
model takes 538,112 bytes. The full profile's (GPU) takes ~5 MB: it is still written,
with a warning, but it is not for the post. `export()` and `read_model()` are inverses;
tests/test_widget.py and benchmarks/widget_bench.py use both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gmlp_snippets import LayerNorm

from . import corpus, training

log = logging.getLogger("explainer.figures")

FORMAT = "gmlp-tiny-lm/1"
BIN, META = "tiny_lm.bin", "tiny_lm.json"
MAX_BIN_BYTES = 600_000  # downloaded with the page: at most 600 KB
EXCERPT_CHARS = 600  # how much of the training text the JSON quotes

Tensors = list[tuple[str, torch.Tensor]]


def tensors(model: nn.Module) -> tuple[Tensors, dict[str, str]]:
    """(name, tensor) in state-dict order, a shared tensor once; {alias: name}."""
    first: dict[tuple, str] = {}
    out, tied = [], {}
    for name, t in model.state_dict().items():
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
        if key in first:  # e.g. head.weight, tied to embed.weight
            tied[name] = first[key]
            continue
        first[key] = name
        out.append((name, t))
    return out, tied


def export(
    model: nn.Module, meta: dict[str, Any] | None = None
) -> tuple[bytes, dict[str, Any]]:
    """(the .bin bytes, the JSON document) of a GMLPForCausalLM; `meta` adds fields."""
    cfg = model.cfg
    if cfg.d_attn is not None:
        raise ValueError("tiny_lm export: the widget runs gMLP, not aMLP (d_attn)")
    stored, tied = tensors(model)
    chunks, entries, offset = [], [], 0
    for name, t in stored:
        data = t.detach().to("cpu", torch.float32).numpy().astype("<f4").tobytes()
        entries.append(
            {"name": name, "shape": list(t.shape), "offset": offset, "bytes": len(data)}
        )
        chunks.append(data)
        offset += len(data)
    blob = b"".join(chunks)
    doc = {
        "format": FORMAT,
        "model": type(model).__name__,
        "config": dataclasses.asdict(cfg),
        "params": sum(t.numel() for _, t in stored),  # a tied matrix counted once
        "weights": {
            "file": BIN,
            "dtype": "float32",
            "byte_order": "little",
            "bytes": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "tensors": entries,
            "tied": tied,
        },
        # eps of every LayerNorm by module name (the SGU's norm has its own)
        "layer_norms": {
            name: m.eps
            for name, m in model.named_modules()
            if isinstance(m, (LayerNorm, nn.LayerNorm))
        },
        "vocabulary": {
            "kind": "bytes",
            "size": cfg.vocab_size,
            "description": "one token per byte of the UTF-8 text: id = byte value "
            "0..255, no special tokens; a character outside ASCII is 2-4 tokens",
        },
        **(meta or {}),
    }
    return blob, doc


def json_bytes(doc: dict[str, Any]) -> bytes:
    """The JSON document as written: keys sorted, one value per line, UTF-8."""
    text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def read_model(meta_path: str | Path) -> nn.Module:
    """A GMLPForCausalLM (float32, CPU) holding an exported tiny_lm.json + .bin."""
    from gmlp_snippets import GMLPConfig, GMLPForCausalLM

    meta_path = Path(meta_path)
    doc = json.loads(meta_path.read_text(encoding="utf-8"))
    blob = (meta_path.parent / doc["weights"]["file"]).read_bytes()
    model = GMLPForCausalLM(GMLPConfig(**doc["config"]))
    state = {}
    for e in doc["weights"]["tensors"]:
        count = e["bytes"] // 4
        values = np.frombuffer(blob, dtype="<f4", count=count, offset=e["offset"])
        state[e["name"]] = torch.from_numpy(values.copy()).reshape(e["shape"])
    for name, source in doc["weights"]["tied"].items():
        state[name] = state[source]
    model.load_state_dict(state, strict=True)
    return model.eval()


def training_meta(trained: training.TrainedLM, ctx) -> dict[str, Any]:
    """What the JSON says about the training run: data, schedule, losses."""
    train, held_out = corpus.split()
    s = trained.settings
    head = bytes(train[: EXCERPT_CHARS * 2].tolist())
    excerpt = head.decode("utf-8", errors="ignore")[:EXCERPT_CHARS]
    source = (
        f"pydoc_data.topics of CPython {platform.python_version()}: the English "
        "documentation that help('topics') prints, topics in sorted order, every "
        f"{corpus.HELD_OUT_EVERY}th held out (posts/2024-02-02-blog-post-2/corpus.py)"
    )
    return {
        "profile": ctx.profile,
        "seed": ctx.seed,
        "training": {
            "text_source": source,
            "text_excerpt": excerpt,
            "train_bytes": int(train.numel()),
            "held_out_bytes": int(held_out.numel()),
            "steps": s.steps,
            "batch": s.batch,
            "lr": s.lr,
            "seq_len": s.seq_len,
            "final_train_loss": round(trained.final_train_loss, 4),
            "final_eval_loss": round(trained.final_eval_loss, 4),
            "loss_unit": "nats per byte (next-byte cross-entropy)",
        },
    }


def make(ctx) -> None:
    s = training.settings(ctx.profile)
    ctx.progress(s.steps)
    trained = training.trained_gmlp(ctx)  # the model of spatial_weights.png
    blob, doc = export(trained.model, training_meta(trained, ctx))
    if len(blob) > MAX_BIN_BYTES:  # the full profile's (~5 MB): not for the post
        log.warning(
            "%s is %d bytes, over the widget's %d: ship the quick profile's",
            BIN,
            len(blob),
            MAX_BIN_BYTES,
        )
    ctx.save_bytes(blob, BIN)
    ctx.save_bytes(json_bytes(doc), META)
    ctx.measures.update(
        {
            "steps": s.steps,
            "params": trained.params,
            "bin_bytes": len(blob),
            "bin_kb": round(len(blob) / 1000, 1),
            "n_layers": s.n_layers,
            "seq_len": s.seq_len,
            "bin_budget": MAX_BIN_BYTES,
            "final_train_loss": doc["training"]["final_train_loss"],
            "final_eval_loss": doc["training"]["final_eval_loss"],
        }
    )
