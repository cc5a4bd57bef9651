"""Speed and memory of gmlp_snippets vs g-mlp-pytorch: forward + backward, one process
per measurement.

CPU (default): time of a forward + backward step (median of the timed steps in a
process; the table keeps the fastest of the `--rounds` processes, since other jobs on a
shared machine only ever add time) and the peak memory the steps add (RSS), for
gMLP-S/16 and a language model, ours vs g-mlp-pytorch (lucidrains) with the same sizes:

    python benchmarks/bench.py                         # both cases, 3 rounds, 2 threads
    python benchmarks/bench.py --case vision --rounds 5

GPU: training-step throughput (forward, backward, AdamW step) and model FLOPs
utilisation of gMLP-S/16, eager and with torch.compile:

    python benchmarks/bench.py --device cuda --dtype bf16 --compile --impls ours peer

Each (case, implementation) runs in a fresh subprocess, so the peak memory of one cannot
hide another's, and the rounds alternate which implementation goes first, so a slow
spell on a shared machine hits both. The CPU workers run with glibc's heap trimming off
(MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_) for both implementations;
--default-malloc keeps glibc's defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gmlp_snippets import (  # noqa: E402
    GMLPConfig,
    GMLPForImageClassification,
    GMLPForMaskedLM,
)

# bf16 dense tensor-core peak (no sparsity) by device name; H200 has the H100's SXM
# compute die
PEAK_TFLOPS_BF16 = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


@dataclass(frozen=True)
class Case:
    """One benchmark shape: our config and the matching g-mlp-pytorch arguments."""

    name: str
    cfg: GMLPConfig
    batch: int

    @property
    def vision(self) -> bool:
        return self.cfg.image_size is not None


CASES = {
    # gMLP-S/16 at 224 x 224 (stochastic depth off, as in the peer's default)
    "vision": Case(
        "gMLP-S/16, batch 8, 224x224",
        GMLPConfig.from_preset("gmlp-s16", survival_prob=1.0),
        8,
    ),
    # a small non-causal language model; the peer's output layer is untied, so ours is
    # too
    "lm": Case(
        "LM V=20000 d=512 L=6 n=256, batch 8",
        GMLPConfig(
            d_model=512,
            d_ffn=2048,
            seq_len=256,
            n_layers=6,
            vocab_size=20000,
            tie_embeddings=False,
        ),
        8,
    ),
}


def build(case: Case, impl: str) -> nn.Module:
    """Our model or g-mlp-pytorch's, same sizes, fixed seed."""
    torch.manual_seed(0)
    cfg = case.cfg
    if impl == "ours":
        return GMLPForImageClassification(cfg) if case.vision else GMLPForMaskedLM(cfg)
    from g_mlp_pytorch import gMLP, gMLPVision

    mult = cfg.d_ffn // cfg.d_model
    if case.vision:
        return gMLPVision(
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
            num_classes=cfg.num_classes,
            dim=cfg.d_model,
            depth=cfg.n_layers,
            ff_mult=mult,
        )
    return gMLP(
        num_tokens=cfg.vocab_size,
        dim=cfg.d_model,
        depth=cfg.n_layers,
        seq_len=cfg.seq_len,
        ff_mult=mult,
    )


def make_batch(
    case: Case, batch: int, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs and targets: images and labels, or token ids and next tokens."""
    gen = torch.Generator().manual_seed(1)
    cfg = case.cfg
    if case.vision:
        x = torch.randn(
            batch, cfg.in_chans, cfg.image_size, cfg.image_size, generator=gen
        )
        y = torch.randint(0, cfg.num_classes, (batch,), generator=gen)
    else:
        x = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len), generator=gen)
        y = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len), generator=gen)
    return x.to(device), y.to(device)


def forward_flops(cfg: GMLPConfig) -> int:
    """Matmul FLOPs of one forward pass per sample, 2 per multiply-add; elementwise work
    is not counted.

    patch embedding 2 n (c p^2) d; per block: U 2 n d f, W 2 n^2 (f/2), V 2 n (f/2) d
    (+ tiny attention: 2 n d 3a + 2 * 2 n^2 a + 2 n a (f/2)); head 2 d C (vision, after
    pooling) or 2 n d V (language). gMLP-S/16: 8.78 GFLOPs = 4.39 G multiply-adds, the
    paper's "4.5B FLOPs" (it counts multiply-adds).
    """
    n, d, f, L = cfg.seq_len, cfg.d_model, cfg.d_ffn, cfg.n_layers
    block = 2 * n * d * f + 2 * n * n * (f // 2) + 2 * n * (f // 2) * d
    if cfg.d_attn:
        a = cfg.d_attn
        block += 2 * n * d * 3 * a + 4 * n * n * a + 2 * n * a * (f // 2)
    if cfg.image_size is not None:
        stem = 2 * n * cfg.in_chans * cfg.patch_size**2 * d
        head = 2 * d * cfg.num_classes
    else:
        stem, head = 0, 2 * n * d * cfg.vocab_size
    return stem + L * block + head


def peak_tflops(device: str, override: float | None) -> float | None:
    """The bf16 dense peak of the GPU in TFLOP/s, from --peak-tflops or the device
    name."""
    if override is not None:
        return override
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS_BF16.items() if k in name), None)


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def saved_activations_mib(
    model: nn.Module, x: torch.Tensor, autocast: AbstractContextManager
) -> float:
    """Bytes autograd keeps for the backward pass of one forward (distinct storages,
    parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        out = model(x)
    del out
    return sum(saved.values()) / 2**20


def worker(args: argparse.Namespace) -> dict:
    """Time `repeats` training steps of one model after `warmup` steps, in this (fresh)
    process."""
    torch.set_num_threads(args.threads)
    case, device = CASES[args.case], args.device
    cuda = device.startswith("cuda")
    batch = args.batch or case.batch
    model = build(case, args.impl).to(device).train()
    x, y = make_batch(case, batch, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if args.optimizer else None
    step_model = torch.compile(model) if args.compiled else model
    autocast = (
        torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)
        if args.dtype == "bf16"
        else nullcontext()
    )

    def step() -> None:
        for p in model.parameters():
            p.grad = None
        with autocast:
            logits = step_model(x)
        loss = F.cross_entropy(logits.float().flatten(0, -2), y.flatten())
        loss.backward()
        if opt is not None:
            opt.step()

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        mem0 = torch.cuda.memory_allocated() / 2**20
    rss0 = max_rss_mib()
    for _ in range(args.warmup):
        step()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(args.repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    faults = (
        resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    ) / args.repeats
    peak = (
        torch.cuda.max_memory_allocated() / 2**20 - mem0
        if cuda
        else max_rss_mib() - rss0
    )
    saved = saved_activations_mib(model, x, autocast)
    return {
        "times": times,
        "peak_mib": peak,
        "saved_mib": saved,
        "faults_per_step": faults,
        "batch": batch,
        "params": sum(p.numel() for p in model.parameters()),
    }


def run_worker(
    args: argparse.Namespace,
    case: str,
    impl: str,
    compiled: bool = False,
    optimizer: bool = False,
) -> dict:
    """Run one measurement in a fresh Python process and return its JSON result."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--case",
        case,
        "--impl",
        impl,
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--threads",
        str(args.threads),
        "--warmup",
        str(args.warmup),
        "--repeats",
        str(args.repeats),
    ]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    if compiled:
        cmd.append("--compiled")
    if optimizer:
        cmd.append("--optimizer")
    env = dict(os.environ)
    if not args.default_malloc:
        # glibc returns the freed top of its heap to the system after every step and
        # takes it back page by page in the next one; how many pages depends on where
        # the last free block lands, not on the model. With trimming off, neither
        # implementation pays these page faults (see the faults in the log).
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(1 << 36))
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 36))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench.py: the {impl} {case} worker failed:\n{proc.stderr[-4000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_table(args: argparse.Namespace) -> str:
    """Ours vs g-mlp-pytorch, forward + backward: step time, peak memory and the ratios
    ours/peer."""
    rows = [
        "| case | step time (ms), ours / g-mlp-pytorch | ratio "
        "| peak RSS added (MiB), ours / peer | ratio "
        "| saved for backward (MiB), ours / peer | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in args.case:
        times: dict[str, list[float]] = {"ours": [], "peer": []}
        peaks: dict[str, list[float]] = {"ours": [], "peer": []}
        saved: dict[str, float] = {}
        for r in range(args.rounds):
            order = ["ours", "peer"] if r % 2 == 0 else ["peer", "ours"]
            for impl in order:
                res = run_worker(args, case, impl)
                times[impl].append(statistics.median(res["times"]))
                peaks[impl].append(res["peak_mib"])
                saved[impl] = res["saved_mib"]
                print(
                    f"  {case:6s} round {r + 1}/{args.rounds} {impl:4s}: "
                    f"median {statistics.median(res['times']) * 1e3:8.1f} ms, "
                    f"peak +{res['peak_mib']:.0f} MiB, "
                    f"{res['faults_per_step']:.0f} page faults per step",
                    file=sys.stderr,
                )
        # each process: the median of its timed steps; the table: the fastest process
        # (other jobs on a shared machine only ever add time), peak RSS: the median over
        # processes; saved: deterministic
        t = {k: min(v) * 1e3 for k, v in times.items()}
        m = {k: statistics.median(v) for k, v in peaks.items()}
        rows.append(
            f"| {CASES[case].name} | {t['ours']:.0f} / {t['peer']:.0f} "
            f"| {t['ours'] / t['peer']:.2f} "
            f"| {m['ours']:.0f} / {m['peer']:.0f} | {m['ours'] / m['peer']:.2f} "
            f"| {saved['ours']:.0f} / {saved['peer']:.0f} "
            f"| {saved['ours'] / saved['peer']:.2f} |"
        )
    return "\n".join(rows)


def cuda_table(args: argparse.Namespace) -> str:
    """Training-step throughput and MFU of gMLP-S/16 on the GPU, eager and (with
    --compile) compiled."""
    case = CASES["vision"]
    flops = 3 * forward_flops(case.cfg)  # forward + backward ≈ 3x the forward matmuls
    peak = peak_tflops(args.device, args.peak_tflops)
    rows = [
        f"gMLP-S/16, {args.dtype}, training step = forward + backward + AdamW; "
        f"{flops / 1e9:.2f} GFLOPs per image (3 x forward matmuls); "
        f"peak {peak or '?'} TFLOP/s",
        "| model | compiled | batch | step (ms) | images/s | achieved TFLOP/s | MFU "
        "| peak memory (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for impl in args.impls:
        for compiled in (
            [False, True]
            if args.compile and (impl == "ours" or args.compile_peer)
            else [False]
        ):
            res = run_worker(args, "vision", impl, compiled=compiled, optimizer=True)
            ms = statistics.median(res["times"]) * 1e3
            ips = res["batch"] / (ms / 1e3)
            tflops = ips * flops / 1e12
            mfu = f"{tflops / peak:.1%}" if peak else "n/a"
            rows.append(
                f"| {impl} | {'yes' if compiled else 'no'} | {res['batch']} "
                f"| {ms:.1f} | {ips:.0f} | "
                f"{tflops:.1f} | {mfu} | {res['peak_mib']:.0f} |"
            )
            print(rows[-1], file=sys.stderr)
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument(
        "--dtype",
        default="fp32",
        choices=["fp32", "bf16"],
        help="bf16: autocast, float32 weights",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="GPU: also time torch.compile(model) of ours",
    )
    p.add_argument(
        "--compile-peer",
        action="store_true",
        help="GPU: with --compile, compile the peer too",
    )
    p.add_argument(
        "--case", nargs="+", default=list(CASES), choices=list(CASES), help="CPU cases"
    )
    p.add_argument(
        "--impls",
        nargs="+",
        default=["ours"],
        choices=["ours", "peer"],
        help="GPU: which models",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="batch size (default: 8 on CPU, 128 on GPU)",
    )
    p.add_argument(
        "--threads", type=int, default=2, help="torch.set_num_threads in each worker"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="CPU: processes per implementation and case",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed steps first (default 2 CPU, 5 GPU)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed steps per process (default 5 CPU, 20 GPU)",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="GPU peak for MFU, if not an H100/H200",
    )
    p.add_argument(
        "--default-malloc",
        action="store_true",
        help="CPU: keep glibc's heap trimming "
        "(default: off in the workers, for both implementations)",
    )
    # internal: one measurement in this process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    p.add_argument("--compiled", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--optimizer", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    gpu = args.device.startswith("cuda")
    if args.warmup is None:
        args.warmup = 5 if gpu else 2
    if args.repeats is None:
        args.repeats = 20 if gpu else 5
    if gpu and args.batch is None and not args.worker:
        args.batch = 128
    if args.worker and isinstance(args.case, list):
        args.case = args.case[0]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(
            f"bench.py: --device {args.device} needs a CUDA GPU, "
            f"but torch {torch.__version__} sees none "
            f"(torch.cuda.is_available() is False)"
        )
    if args.compile and not args.device.startswith("cuda"):
        sys.exit(
            "bench.py: --compile is measured on the GPU path only; add --device cuda"
        )
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    torch.set_num_threads(args.threads)
    cpu_name = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else "unknown CPU"
    )
    where = (
        torch.cuda.get_device_name(args.device)
        if args.device.startswith("cuda")
        else f"{cpu_name}, {args.threads} threads"
    )
    load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(
        f"torch {torch.__version__}, {where}; "
        f"{args.warmup} warm-up + {args.repeats} timed steps per process; "
        f"{load} at the start"
    )
    print(cuda_table(args) if args.device.startswith("cuda") else cpu_table(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
