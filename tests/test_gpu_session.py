"""benchmarks/gpu_session.sh, proven on the CPU: its dry run (DRY_RUN=1) goes through
every step of the GPU session with tiny sizes and writes every file the GPU run
writes, with every field; and bench.py's arithmetic (MFU, targets, the GPU's peak) and
its Markdown, from a made-up result.

The dry run takes about 35 s on 2 busy cores (figures at the test profile, two
benchmark workers): marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import REPO, load_module

from explainer.figures import find

SCRIPT = REPO / "benchmarks" / "gpu_session.sh"
POST2 = next(s for s in find(REPO / "posts", REPO) if s.matches("blog-post-2"))
PEER = importlib.util.find_spec("g_mlp_pytorch") is not None
# what comes back from a device machine: at most 8 files, named in letters, digits,
# '.', '_' and '-'; the figures and the logs travel as tar files
FILES = {
    "session.txt",
    "bench_gpu.json",
    "bench_gpu.md",
    "kernels.txt",
    "figures.tar.gz",
    "logs.tar.gz",
}
LOGS = {
    "gpu.txt",
    "steps.tsv",
    "figures.log",
    "bench_vision.log",
    "bench_lm.log",
    "timm_parity.log",
}
RESULT_FIELDS = {
    "batch",
    "step_ms",
    "step_ms_all",
    "samples_per_s",
    "throughput",
    "unit",
    "tflops",
    "mfu",
    "tflops_analytic",
    "mfu_analytic",
    "peak_mib",
}


@pytest.fixture(scope="module")
def bench():
    return load_module(REPO / "benchmarks" / "bench.py")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("gpu_session")
    env = {**os.environ, "DRY_RUN": "1", "OUT": str(out), "PY": sys.executable}
    proc = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300
    )
    return out, proc


@pytest.mark.slow
def test_dry_run_writes_every_file(dry_run, tmp_path):
    out, proc = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = sorted(os.listdir(out))
    assert set(names) == FILES, names
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names)
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for tar in ("figures.tar.gz", "logs.tar.gz"):
        with tarfile.open(out / tar) as t:
            t.extractall(tmp_path, filter="data")
    assert LOGS <= set(os.listdir(tmp_path / "logs")), os.listdir(tmp_path / "logs")
    steps = (tmp_path / "logs" / "steps.tsv").read_text().splitlines()[1:-1]
    assert [s.split("\t")[0] for s in steps] == [
        "figures",
        "bench-vision",
        "bench-lm",
        "timm-parity",
    ]
    for line in steps:
        assert line.split("\t")[1] in ("0", "skipped: no timm"), line
    session = (out / "session.txt").read_text()
    assert "DRY RUN" in session and "bench-lm\t0\t" in session
    # every figure of the post's manifest drawn, at the test profile on the CPU
    figures = tmp_path / "figures"
    manifest = json.loads((figures / "manifest.json").read_text())
    assert set(manifest["figures"]) == set(
        json.loads((POST2.out / "manifest.json").read_text())["figures"]
    )
    for name, entry in manifest["figures"].items():
        assert (entry["profile"], entry["device"]) == ("test", "cpu"), name
        for file in entry["files"]:
            assert (figures / file).is_file(), file
    assert not list(figures.glob(".*.lock"))
    assert "== bench_gpu.md" in proc.stdout


@pytest.mark.slow
def test_dry_run_json_has_every_field(dry_run, bench):
    out, _ = dry_run
    doc = json.loads((out / "bench_gpu.json").read_text())
    assert doc["settings"]["dry_run"] is True
    assert doc["settings"]["dtype"] == "bf16"
    assert doc["device"]["peak_tflops"] > 0 and doc["device"]["name"]
    assert not any(doc["errors"].values()), doc["errors"]
    impls = ["ours", "peer"] if PEER else ["ours"]
    variants = ["ours eager", "ours compiled"] + (["peer eager"] if PEER else [])
    assert set(doc["cases"]) == set(doc["results"]) == {"vision", "clm"}
    assert doc["cases"]["vision"]["batches"] == [2, 4]  # two batches, as 128 and 256
    for case_name, case in doc["cases"].items():
        f = case["flops"]
        assert f["forward_analytic"] > 0 and f["step_analytic"] > 0
        assert f["step_model"] > 0 and "FlopCounterMode" in f["step_model_source"]
        for impl in impls:
            counted = f["per_impl"][impl]
            assert counted["forward_counted"] == pytest.approx(f["forward_analytic"])
            assert counted["step_counted"] == pytest.approx(
                counted["forward_counted"] + counted["backward_counted"]
            )
            assert 0.8 < counted["counted_over_analytic"] <= 1.0
        results = doc["results"][case_name]
        assert set(results) == set(variants)
        for variant in variants:
            assert set(results[variant]) == {str(b) for b in case["batches"]}
            for r in results[variant].values():
                assert RESULT_FIELDS <= set(r), set(r)
                assert r["step_ms"] > 0 and r["throughput"] > 0 and r["mfu"] > 0
                assert r["unit"] == (
                    "images/s" if case_name == "vision" else "tokens/s"
                )
                # MFU = samples/s x step FLOPs per sample / peak
                assert r["mfu"] == pytest.approx(
                    r["samples_per_s"] * f["step_model"] / 1e12 / 1.0
                )
    targets = doc["targets"]
    assert set(targets["mfu"]["by_batch"]) == {"2", "4"}
    if PEER:
        assert set(targets["speedup_vs_peer"]["by_batch"]) == {"2", "4"}
    for t in targets.values():
        for m in t["by_batch"].values():
            assert m["measured_over_target"] == pytest.approx(
                m["measured"] / t["target"]
            )
    kernels = doc["kernels"]
    assert set(kernels["variants"]) == {"eager", "compiled"}
    for v in kernels["variants"].values():
        assert 1 <= len(v["top"]) <= 10
        for k in v["top"]:
            assert {"name", "category", "calls_per_step", "ms_per_step", "percent"} <= (
                set(k)
            )
        assert sum(k["percent"] for k in v["top"]) <= 100.001
        assert sum(c["percent"] for c in v["categories"].values()) == pytest.approx(100)
    # the Markdown beside the JSON is bench.py --markdown of it
    md = (out / "bench_gpu.md").read_text()
    assert md == bench.markdown(doc)
    for part in ("| model | implementation |", "Targets", "Top kernels", "DRY RUN"):
        assert part in md
    text = (out / "kernels.txt").read_text()
    assert "Top kernels: ours compiled" in text and "torch.profiler table" in text


def made_up_result() -> dict:
    """A GPU result as the suite writes it, before derive(): one peer and one ours
    compiled measurement of gMLP-S/16."""
    step = 26.35e9
    return {
        "device": {"name": "NVIDIA H100 80GB HBM3", "peak_tflops": 989.4},
        "settings": {"dtype": "bf16", "repeats": 20, "warmup": 5},
        "cases": {
            "vision": {
                "label": "gMLP-S/16",
                "batches": [128],
                "flops": {
                    "forward_analytic": step / 3,
                    "step_analytic": step,
                    "per_impl": {
                        "ours": {
                            "forward_counted": step / 3,
                            "backward_counted": step * 2 / 3,
                            "step_counted": step,
                            "counted_over_analytic": 1.0,
                        }
                    },
                },
            }
        },
        "results": {
            "vision": {
                "peer eager": {
                    "128": {
                        "batch": 128,
                        "step_ms": 80.0,
                        "samples_per_s": 1600.0,
                        "throughput": 1600.0,
                        "unit": "images/s",
                        "peak_mib": 12000.0,
                    }
                },
                "ours compiled": {
                    "128": {
                        "batch": 128,
                        "step_ms": 32.0,
                        "samples_per_s": 4000.0,
                        "throughput": 4000.0,
                        "unit": "images/s",
                        "peak_mib": 7000.0,
                    }
                },
            }
        },
        "errors": {"vision": []},
    }


def test_mfu_and_targets_from_the_measurements(bench):
    doc = made_up_result()
    bench.derive(doc)
    r = doc["results"]["vision"]["ours compiled"]["128"]
    assert r["tflops"] == pytest.approx(4000 * 26.35e9 / 1e12)
    assert r["mfu"] == pytest.approx(4000 * 26.35e9 / 1e12 / 989.4)
    speed = doc["targets"]["speedup_vs_peer"]["by_batch"]["128"]
    assert speed["measured"] == pytest.approx(2.5)
    assert speed["measured_over_target"] == pytest.approx(1.0)
    mfu = doc["targets"]["mfu"]["by_batch"]["128"]
    assert mfu["measured_over_target"] == pytest.approx(r["mfu"] / 0.25)
    md = bench.markdown(doc)
    assert "| gMLP-S/16 | ours compiled | 128 | 32.0 | 4,000 images/s | 105.4 |" in md
    assert "| 2.50x | 2.50x | 1.00 |" in md


def test_peak_by_device_name(bench):
    args = bench.parse_args(["--device", "cuda"])
    for name, peak in [
        ("NVIDIA H100 80GB HBM3", 989.4),
        ("NVIDIA H200", 989.4),
        ("NVIDIA H100 PCIe", 756.5),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("Tesla T4", None),
    ]:
        assert bench.peak_for(name, args)[0] == peak, name
    args = bench.parse_args(["--device", "cuda", "--peak-tflops", "500"])
    assert bench.peak_for("NVIDIA H100 80GB HBM3", args) == (500.0, "--peak-tflops")


def test_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["ours", "peer"])
def test_counted_flops_at_the_benchmark_sizes(bench, impl):
    """FlopCounterMode on the meta device (no memory, no compute) at the GPU sizes:
    the forward is the analytic count exactly (gMLP-S/16: 8.78 GFLOPs per image); the
    backward is twice the forward, less the patch embedding's input gradient."""
    if impl == "peer" and not PEER:
        pytest.skip("g-mlp-pytorch is not installed")
    from contextlib import nullcontext

    import torch

    for name, step in [("vision", 26.2753e9), ("clm", 32.6401e9)]:
        case = bench.CASES[name]
        with torch.device("meta"):
            model = bench.build(case, impl)
        x, y = bench.make_batch(case, 2, "meta")
        counted = bench.count_flops(model, x, y, nullcontext())
        forward = bench.forward_flops(case.cfg())
        assert counted["forward_counted"] == forward
        assert counted["step_counted"] == pytest.approx(step, rel=1e-5)
    assert bench.forward_flops(bench.CASES["vision"].cfg()) == pytest.approx(
        8.784e9, 1e-4
    )
