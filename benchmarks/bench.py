"""Speed and memory of gmlp_snippets vs g-mlp-pytorch: training steps, timed in fresh
worker processes.

CPU (default): time of a forward + backward step (median of the timed steps in a
process; the table keeps the fastest of the `--rounds` processes, since other jobs on a
shared machine only ever add time) and the peak memory the steps add (RSS), for
gMLP-S/16 and a language model, ours vs g-mlp-pytorch (lucidrains) with the same sizes:

    python benchmarks/bench.py                         # both cases, 3 rounds, 2 threads
    python benchmarks/bench.py --case vision --rounds 5

GPU: throughput of a full training step (forward, backward, AdamW step) under bf16
autocast, ours eager, ours torch.compile'd and g-mlp-pytorch eager, for gMLP-S/16 at
batch 128 and 256 (images/s) and a causal LM (tokens/s); FLOPs counted with
torch.utils.flop_counter.FlopCounterMode and compared with the analytic count; model
FLOPs utilisation (MFU) against the GPU's bf16 dense peak; the targets as ratios. Every
result goes to --json, and a Markdown rendering beside it (.md):

    python benchmarks/bench.py --device cuda --json out/bench_gpu.json --kernels
    python benchmarks/bench.py --device cuda --case clm --json out/bench_gpu.json
    python benchmarks/bench.py --markdown out/bench_gpu.json     # the README tables

--kernels then profiles ours (eager and compiled, whose graphs are built by then) on
gMLP-S/16 with torch.profiler and adds the top CUDA kernels by self time to the JSON
(and to kernels.txt beside it). --dry-run runs the same on tiny models for 1-2 steps,
on the CPU too (torch.compile with the "eager" backend: dynamo's graph capture and
recompilation for each batch, no code generation; profiler on CPU activities; a
nominal 1 TFLOP/s peak): benchmarks/gpu_session.sh with DRY_RUN=1 uses it.

Each measurement runs in a fresh subprocess, so the peak memory of one cannot hide
another's (on the GPU: one per case, whose peak memory is reset for every measurement);
the parent process never imports torch. On the CPU the rounds alternate
which implementation goes first, so a slow spell on a shared machine hits both, and the
workers run with glibc's heap trimming off (MALLOC_TRIM_THRESHOLD_,
MALLOC_MMAP_THRESHOLD_) for both implementations; --default-malloc keeps glibc's
defaults.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# bf16 dense tensor-core peak (no sparsity) in TFLOP/s, by device name, first match
# wins; H200 (and GH200) have the H100 SXM's compute die
PEAK_TFLOPS_BF16 = (
    ("H100 PCIe", 756.5),
    ("H100 NVL", 835.5),
    ("H100", 989.4),
    ("H200", 989.4),
    ("A100", 312.0),
)
DRY_RUN_PEAK_TFLOPS = 1.0  # a nominal peak, so that the dry run fills every field
TARGET_SPEEDUP = 2.5  # ours compiled / g-mlp-pytorch eager, gMLP-S/16 images/s
TARGET_MFU = 0.25  # ours compiled, gMLP-S/16
STEP = (
    "zero the gradients, forward (under autocast for bf16), cross-entropy against "
    "random labels, backward"
)
FLOPS_METHOD = (
    "torch.utils.flop_counter.FlopCounterMode around the forward (with the loss) and "
    "around the backward of one training step of the eager model, divided by the "
    "batch; it counts matrix products, convolutions and attention, 2 FLOPs per "
    "multiply-add; the AdamW step adds none. The analytic count is forward_flops() "
    "x 3. MFU uses ours' counted step FLOPs for every implementation of a case."
)


@dataclass(frozen=True)
class Case:
    """One benchmark shape: our config (GMLPConfig keywords, built in the workers) and
    the matching g-mlp-pytorch arguments follow from it."""

    label: str
    kind: str  # "vision", "mlm" (bidirectional LM) or "clm" (causal LM)
    config: dict
    batch: int  # the CPU table's batch
    preset: str | None = None
    gpu_batches: tuple[int, ...] = field(default=())

    @property
    def vision(self) -> bool:
        return self.kind == "vision"

    @property
    def unit(self) -> str:
        return "images/s" if self.vision else "tokens/s"

    @property
    def tokens_per_sample(self) -> int:
        return 1 if self.vision else self.config["seq_len"]

    def cfg(self):
        from gmlp_snippets import GMLPConfig

        if self.preset:
            return GMLPConfig.from_preset(self.preset, **self.config)
        return GMLPConfig(**self.config)


LM_SIZES = dict(
    d_model=512,
    d_ffn=2048,
    seq_len=256,
    n_layers=6,
    vocab_size=20000,
    tie_embeddings=False,
)
CASES = {
    # gMLP-S/16 at 224 x 224 (stochastic depth off, as in the peer's default)
    "vision": Case(
        "gMLP-S/16, batch 8, 224x224",
        "vision",
        dict(survival_prob=1.0),
        8,
        preset="gmlp-s16",
        gpu_batches=(128, 256),
    ),
    # a small non-causal language model; the peer's output layer is untied, so ours is
    # too
    "lm": Case(
        "LM V=20000 d=512 L=6 n=256, batch 8", "mlm", LM_SIZES, 8, gpu_batches=(128,)
    ),
    # the same language model, causal: the GPU benchmark's LM
    "clm": Case(
        "causal LM V=20000 d=512 f=2048 L=6 n=256",
        "clm",
        {**LM_SIZES, "causal": True},
        8,
        gpu_batches=(128,),
    ),
}
# --dry-run: the same cases, tiny: the whole GPU session runs on a CPU in seconds
TINY_LM = dict(
    d_model=32, d_ffn=64, seq_len=16, n_layers=2, vocab_size=64, tie_embeddings=False
)
TINY_CASES = {
    "vision": Case(
        "tiny vision (dry run): d=32 f=64 L=2, 32x32, patch 8",
        "vision",
        dict(
            d_model=32,
            d_ffn=64,
            seq_len=16,
            n_layers=2,
            image_size=32,
            patch_size=8,
            num_classes=10,
        ),
        2,
        gpu_batches=(2, 4),
    ),
    "lm": Case("tiny LM (dry run)", "mlm", TINY_LM, 2, gpu_batches=(2,)),
    "clm": Case(
        "tiny causal LM (dry run): V=64 d=32 f=64 L=2 n=16",
        "clm",
        {**TINY_LM, "causal": True},
        2,
        gpu_batches=(2,),
    ),
}
SUITE_CASES = ["vision", "clm"]
CPU_CASES = ["vision", "lm"]


def cases(dry_run: bool) -> dict[str, Case]:
    return TINY_CASES if dry_run else CASES


# ---------------------------------------------------------------- worker side (torch)


def build(case: Case, impl: str):
    """Our model or g-mlp-pytorch's, same sizes, fixed seed."""
    import torch

    from gmlp_snippets import (
        GMLPForCausalLM,
        GMLPForImageClassification,
        GMLPForMaskedLM,
    )

    torch.manual_seed(0)
    cfg = case.cfg()
    if impl == "ours":
        if case.vision:
            return GMLPForImageClassification(cfg)
        return GMLPForCausalLM(cfg) if cfg.causal else GMLPForMaskedLM(cfg)
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
        causal=cfg.causal,
    )


def make_batch(case: Case, batch: int, device: str):
    """Random inputs and targets: images and labels, or token ids and next tokens."""
    import torch

    gen = torch.Generator().manual_seed(1)
    cfg = case.cfg()
    if case.vision:
        x = torch.randn(
            batch, cfg.in_chans, cfg.image_size, cfg.image_size, generator=gen
        )
        y = torch.randint(0, cfg.num_classes, (batch,), generator=gen)
    else:
        x = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len), generator=gen)
        y = torch.randint(0, cfg.vocab_size, (batch, cfg.seq_len), generator=gen)
    return x.to(device), y.to(device)


def forward_flops(cfg) -> int:
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


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def saved_activations_mib(model, x, autocast) -> float:
    """Bytes autograd keeps for the backward pass of one forward (distinct storages,
    parameters excluded)."""
    import torch

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


def count_flops(model, x, y, autocast) -> dict:
    """FLOPs per sample of one training step of the eager model, by FlopCounterMode:
    the forward (with the loss) and the backward counted apart."""
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    for p in model.parameters():
        p.grad = None
    with FlopCounterMode(display=False) as fwd:
        with autocast:
            logits = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, -2), y.flatten())
    with FlopCounterMode(display=False) as bwd:
        loss.backward()
    for p in model.parameters():
        p.grad = None
    b = x.shape[0]
    f, g = fwd.get_total_flops() / b, bwd.get_total_flops() / b
    return {"forward_counted": f, "backward_counted": g, "step_counted": f + g}


# kernel (or CPU op) name -> where the time goes; first match wins. Inductor's kernels
# are named triton_{poi,red,per,tem}_fused_<ops>: checked first, since <ops> can hold
# any other word here
KERNEL_CATEGORIES = (
    ("matmul/conv (Triton template)", ("triton_tem_",)),
    ("fused reduction (Triton: norms, means)", ("triton_per_", "triton_red_")),
    ("fused pointwise (Triton)", ("triton_poi_", "triton_")),
    (
        "optimizer (AdamW)",
        ("multi_tensor_apply", "foreach", "adam", "lerp", "addcdiv", "sqrt"),
    ),
    (
        "matmul/conv (cuBLAS/cuDNN/CUTLASS)",
        (
            "gemm",
            "cutlass",
            "xmma",
            "cublas",
            "cudnn",
            "nvjet",
            "wgmma",
            "sm90_",
            "sm80_",
            "ampere_",
            "conv",
            "aten::mm",
            "aten::addmm",
            "aten::bmm",
            "aten::baddbmm",
            "aten::matmul",
            "aten::linear",
        ),
    ),
    ("layer norm", ("layer_norm", "layernorm")),
    ("softmax / cross-entropy", ("softmax", "nll_loss", "cross_entropy")),
    ("reduction", ("reduce_kernel", "reduce", "sum", "mean")),
    ("copy / memset / cat", ("memcpy", "memset", "copy", "cat", "contiguous")),
    (
        "elementwise (eager: GELU, gating, adds, casts)",
        ("elementwise", "gelu", "mul", "add", "fill"),
    ),
)


def kernel_category(name: str) -> str:
    low = name.lower()
    for category, keys in KERNEL_CATEGORIES:
        if any(k in low for k in keys):
            return category
    return "other"


def top_kernels(prof, cuda: bool, steps: int, top: int) -> dict:
    """The profiled steps' device kernels (CPU ops when profiling the CPU) by self
    time: the top `top`, each with its share of the total, and the total by
    category."""
    from torch.autograd import DeviceType

    def self_us(e) -> float:
        if not cuda:
            return e.self_cpu_time_total
        t = getattr(e, "self_device_time_total", None)
        return t if t is not None else e.self_cuda_time_total

    # kernels (and memcpy/memset) only: not the user annotations that the profiler
    # mirrors on the GPU timeline, such as the optimizer step, which span kernels
    events = [
        e
        for e in prof.key_averages()
        if (e.device_type == DeviceType.CUDA) == cuda
        and not getattr(e, "is_user_annotation", False)
        and self_us(e) > 0
    ]
    note = ""
    if cuda and not events:  # no CUPTI kernel records: fall back to the CPU ops
        note = "no CUDA kernel events recorded; CPU ops by self CUDA time instead"
        events = [e for e in prof.key_averages() if self_us(e) > 0]
    total = sum(self_us(e) for e in events) or 1.0
    events.sort(key=self_us, reverse=True)
    categories: dict[str, float] = {}
    for e in events:
        c = kernel_category(e.key)
        categories[c] = categories.get(c, 0.0) + self_us(e)
    return {
        "time": "self CUDA time of each kernel" if cuda else "self CPU time of each op",
        "steps": steps,
        "total_ms_per_step": total / 1e3 / steps,
        "kernels": len(events),
        "note": note,
        "top": [
            {
                "name": e.key,
                "category": kernel_category(e.key),
                "calls_per_step": e.count / steps,
                "ms_per_step": self_us(e) / 1e3 / steps,
                "percent": 100 * self_us(e) / total,
            }
            for e in events[:top]
        ],
        "categories": {
            c: {"ms_per_step": t / 1e3 / steps, "percent": 100 * t / total}
            for c, t in sorted(categories.items(), key=lambda kv: -kv[1])
        },
    }


def emit(record: dict) -> None:
    """One JSON line on stdout per result: the parent keeps every line it received,
    even from a worker that fails or times out later."""
    print(json.dumps(record), flush=True)


def worker(args: argparse.Namespace) -> None:
    """Train each implementation in turn in this (fresh) process: for each variant
    (eager, compiled) and batch, `warmup` steps then `repeats` timed ones; with
    --kernels, ours' variants are also profiled for `profile_steps` steps at the first
    batch, just after its timing. A failure is reported as a record and the next
    measurement runs."""
    import gc
    import traceback

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    for impl in args.impls:
        try:
            run_impl(args, impl)
        except Exception as error:
            traceback.print_exc()
            emit({"kind": "error", "impl": impl, "error": _why(error)})
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


def _why(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def run_impl(args: argparse.Namespace, impl: str) -> None:
    import traceback

    import torch
    import torch.nn.functional as F

    case, device = cases(args.dry_run)[args.case], args.device
    cuda = device.startswith("cuda")
    model = build(case, impl).to(device).train()
    param_mib = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    autocast = (
        torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)
        if args.dtype == "bf16"
        else nullcontext()
    )
    batches = args.batch_list or [args.batch or case.batch]
    info = {
        "kind": "info",
        "impl": impl,
        "case": args.case,
        "device_name": torch.cuda.get_device_name(device) if cuda else "CPU",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "params": sum(p.numel() for p in model.parameters()),
        "forward_analytic": forward_flops(case.cfg()),
    }
    if args.count_flops:
        x, y = make_batch(case, batches[0], device)
        try:
            info.update(count_flops(model, x, y, autocast))
        except Exception as error:  # the timings matter more than the count
            info["flops_error"] = _why(error)
        del x, y
    emit(info)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if args.optimizer else None
    step_models = {}

    def make_step(variant: str, batch: int):
        x, y = make_batch(case, batch, device)
        step_model = step_models[variant]

        def step() -> None:
            for p in model.parameters():
                p.grad = None
            with autocast:
                logits = step_model(x)
            loss = F.cross_entropy(logits.float().flatten(0, -2), y.flatten())
            loss.backward()
            if opt is not None:
                opt.step()

        return step, x

    variants = args.variants if impl == "ours" else ["eager"]
    if impl != "ours" and args.compile_peer and "compiled" in args.variants:
        variants = args.variants
    for variant in variants:
        step_models[variant] = (
            torch.compile(model, backend=args.compile_backend, dynamic=False)
            if variant == "compiled"
            else model
        )
        for batch in batches:
            try:
                step, x = make_step(variant, batch)
                emit(measure(step, args, cuda, impl, variant, batch, param_mib))
                if args.saved:
                    saved = saved_activations_mib(model, x, autocast)
                    emit({"kind": "saved", "impl": impl, "saved_mib": saved})
            except Exception as error:  # e.g. out of memory: the next one may fit
                traceback.print_exc()
                emit(
                    {
                        "kind": "error",
                        "impl": impl,
                        "variant": variant,
                        "batch": batch,
                        "error": _why(error),
                    }
                )
            # the top kernels at the first batch, right away (the graph is built):
            # before the next batch's compilation, should that run out of time
            if args.kernels and impl == "ours" and batch == batches[0]:
                try:
                    emit(profile(step, args, cuda, variant, batch))
                except Exception as error:
                    traceback.print_exc()
                    emit(
                        {
                            "kind": "error",
                            "impl": "kernels",
                            "variant": variant,
                            "error": _why(error),
                        }
                    )
            step = x = None
            if cuda:
                torch.cuda.empty_cache()


def measure(
    step, args, cuda: bool, impl: str, variant: str, batch: int, param_mib: float
) -> dict:
    import torch

    t0 = time.perf_counter()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = max_rss_mib()
    for _ in range(args.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    warmup_s = time.perf_counter() - t0
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
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / max(
        args.repeats, 1
    )
    # GPU: the most memory allocated during the steps, above the weights (gradients,
    # AdamW state, inputs, activations, workspaces); CPU: the RSS the steps added
    peak = (
        torch.cuda.max_memory_allocated() / 2**20 - param_mib
        if cuda
        else max_rss_mib() - rss0
    )
    return {
        "kind": "measurement",
        "impl": impl,
        "variant": variant,
        "batch": batch,
        "times": times,
        "warmup_s": warmup_s,
        "peak_mib": peak,
        "faults_per_step": faults,
    }


def profile(step, args, cuda: bool, variant: str, batch: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity

    for _ in range(min(args.warmup, 2)):  # compiled: the graph exists already
        step()
    if cuda:
        torch.cuda.synchronize()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(args.profile_steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    try:
        table = prof.key_averages().table(sort_by=sort, row_limit=args.top + 5)
    except Exception as error:  # the table is for reading; the JSON has the numbers
        table = f"(no table: {type(error).__name__}: {error})"
    return {
        "kind": "kernels",
        "variant": variant,
        "batch": batch,
        **top_kernels(prof, cuda, args.profile_steps, args.top),
        "table": table,
    }


# ------------------------------------------------------------ parent side (no torch)


TERMINATED = "terminated (SIGTERM: the step's timeout)"


class Terminated(Exception):
    """SIGTERM in the parent, e.g. from `timeout`: write down the results, then stop."""


def _terminate(signum, frame) -> None:
    raise Terminated


def run_worker(
    args: argparse.Namespace,
    case: str,
    impls: list[str],
    variants: list[str] | None = None,
    batches: list[int] | None = None,
    extra: list[str] | None = None,
    timeout: float | None = None,
) -> tuple[list[dict], str | None]:
    """Run one worker in a fresh Python process: its JSON records and, if it failed or
    ran out of time, why (the records it wrote before are kept)."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--case",
        case,
        "--impls",
        *impls,
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        *(["--threads", str(args.threads)] if args.threads else []),
        "--warmup",
        str(args.warmup),
        "--repeats",
        str(args.repeats),
        "--compile-backend",
        args.compile_backend,
        "--variants",
        *(variants or ["eager"]),
    ]
    if batches:
        cmd += ["--batch-list", *map(str, batches)]
    elif args.batch:
        cmd += ["--batch", str(args.batch)]
    if args.dry_run:
        cmd.append("--dry-run")
    cmd += extra or []
    env = dict(os.environ)
    if not args.default_malloc:
        # glibc returns the freed top of its heap to the system after every step and
        # takes it back page by page in the next one; how many pages depends on where
        # the last free block lands, not on the model. With trimming off, neither
        # implementation pays these page faults (see the faults in the log).
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(1 << 36))
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 36))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        try:
            rc = proc.wait(timeout=timeout)
            failure = None if rc == 0 else f"exit status {rc}"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            failure = f"timed out after {timeout:.0f} s"
        except Terminated:  # the step's own timeout: keep what the worker wrote
            proc.kill()
            proc.wait()
            failure = TERMINATED
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    records = []
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "kind" in record:
            records.append(record)
    errors = [r for r in records if r["kind"] == "error"]
    if stderr.strip() and (failure or errors or args.verbose):
        sys.stderr.write(stderr[-6000:])
    tail = stderr.strip().splitlines()[-1:]
    if failure and tail:
        failure = f"{failure}: {tail[0][-300:]}"
    return records, failure


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
                records, failure = run_worker(args, case, [impl], extra=["--saved"])
                kinds = {r["kind"]: r for r in records}
                if failure or "error" in kinds or "measurement" not in kinds:
                    why = failure or kinds.get("error", {}).get("error", "no result")
                    raise RuntimeError(
                        f"bench.py: the {impl} {case} worker failed: {why}"
                    )
                res = kinds["measurement"]
                saved[impl] = kinds["saved"]["saved_mib"]
                times[impl].append(statistics.median(res["times"]))
                peaks[impl].append(res["peak_mib"])
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
            f"| {CASES[case].label} | {t['ours']:.0f} / {t['peer']:.0f} "
            f"| {t['ours'] / t['peer']:.2f} "
            f"| {m['ours']:.0f} / {m['peer']:.0f} | {m['ours'] / m['peer']:.2f} "
            f"| {saved['ours']:.0f} / {saved['peer']:.0f} "
            f"| {saved['ours'] / saved['peer']:.2f} |"
        )
    return "\n".join(rows)


def peak_for(name: str, args: argparse.Namespace) -> tuple[float | None, str]:
    """The bf16 dense peak in TFLOP/s and where it came from."""
    if args.peak_tflops is not None:
        return args.peak_tflops, "--peak-tflops"
    if args.dry_run and not args.device.startswith("cuda"):
        return DRY_RUN_PEAK_TFLOPS, "dry run: a nominal 1 TFLOP/s, not a real peak"
    for key, value in PEAK_TFLOPS_BF16:
        if key in name:
            return value, f"bf16 dense peak of {key}, by the device name"
    return None, f"unknown for {name!r}: pass --peak-tflops"


def load_json(path: Path | None) -> dict:
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    return {}


def save(doc: dict, path: Path | None) -> None:
    """Write the JSON and its Markdown rendering (.md beside it), atomically: the
    results so far survive a timeout that stops the run."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, text in (
        (path, json.dumps(doc, indent=2) + "\n"),
        (path.with_suffix(".md"), markdown(doc)),
    ):
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_text(text)
        tmp.replace(target)


def header(doc: dict, args: argparse.Namespace, info: dict | None) -> None:
    """The device and the settings, from a worker's description of its machine."""
    dev = doc.setdefault("device", {})
    if info and "device_name" in info:
        name = info["device_name"]
        peak, source = peak_for(name, args)
        dev.update(
            kind="cuda" if args.device.startswith("cuda") else "cpu",
            name=name,
            torch=info["torch"],
            cuda=info["cuda"],
            peak_tflops=peak,
            peak_source=source,
        )
    if args.note:
        dev["note"] = args.note
    doc["settings"] = dict(
        dry_run=args.dry_run,
        dtype=args.dtype,
        warmup=args.warmup,
        repeats=args.repeats,
        step=f"{STEP}, AdamW(lr=1e-4) step (torch's default implementation)",
        compile=f"torch.compile(model, backend={args.compile_backend!r}, "
        "dynamic=False), default mode",
        flops_method=FLOPS_METHOD,
        timing="median of the timed steps, torch.cuda.synchronize() around each",
        peak_memory="torch.cuda.max_memory_allocated() during a measurement minus "
        "the weights' bytes (CPU: the RSS the steps added)",
        process="one process per case: g-mlp-pytorch eager, then ours eager, then "
        "ours compiled, each at every batch",
    )


def suite(args: argparse.Namespace) -> dict:
    """Throughput, FLOPs, MFU and targets, and with --kernels the top kernels: one
    worker per case (the peer, then ours eager and compiled, at every batch); the
    JSON (other cases' results kept) is rewritten after every case."""
    start = time.monotonic()
    signal.signal(signal.SIGTERM, _terminate)
    doc = load_json(args.json)
    doc["schema"] = 1
    for key in ("cases", "results", "errors"):
        doc.setdefault(key, {})
    for i, case_name in enumerate(args.case):
        case = cases(args.dry_run)[case_name]
        batches = list(case.gpu_batches)
        if case.vision and args.batches:
            batches = list(args.batches)
        if not case.vision and args.lm_batch:
            batches = [args.lm_batch]
        impls = sorted(args.impls, key=lambda i: i != "peer")  # the peer first
        variants = ["eager"] + (["compiled"] if args.compile else [])
        profile_it = args.kernels and case.vision and "ours" in impls
        timeout = None
        if args.budget_s is not None:  # leave every case after this one >= 30 s
            left = args.budget_s - (time.monotonic() - start)
            timeout = max(left - 30 * (len(args.case) - i - 1), 5)
        print(
            f"{case_name}: {' '.join(impls)}, {'+'.join(variants)}, batches {batches}"
            + (", then the top kernels" if profile_it else "")
            + (f" (timeout {timeout:.0f} s)" if timeout is not None else ""),
            flush=True,
        )
        t0 = time.monotonic()
        extra = ["--optimizer", "--count-flops"]
        if args.compile_peer:
            extra.append("--compile-peer")
        if profile_it:
            extra += ["--kernels", "--top", str(args.top)]
            extra += ["--profile-steps", str(args.profile_steps)]
        records, failure = run_worker(
            args, case_name, impls, variants, batches, extra=extra, timeout=timeout
        )
        collect(doc, args, case_name, case, impls, variants, batches, records, failure)
        if profile_it:
            collect_kernels(doc, args, case, variants, batches[0], records, failure)
        for r in records:
            if r["kind"] == "measurement":
                ms = statistics.median(r["times"]) * 1e3
                print(
                    f"  {r['impl']} {r['variant']}, batch {r['batch']}: {ms:.1f} ms "
                    f"(warm-up {r['warmup_s']:.1f} s)",
                    flush=True,
                )
            elif r["kind"] == "error":
                print(f"  error: {r}", flush=True)
        if failure:
            print(f"  failed: {failure}", flush=True)
        print(f"  {case_name}: {time.monotonic() - t0:.1f} s", flush=True)
        derive(doc)
        save(doc, args.json)
        if failure and failure.startswith(TERMINATED):
            break
    return doc


def collect(doc, args, case_name, case, impls, variants, batches, records, failure):
    """The case's entries in the JSON: FLOPs per implementation and every (variant,
    batch) slot, filled or with why it is empty."""
    info = {r["impl"]: r for r in records if r["kind"] == "info"}
    header(doc, args, next(iter(info.values()), None))
    entry = doc["cases"][case_name] = {
        "label": case.label,
        "unit": case.unit,
        "tokens_per_sample": case.tokens_per_sample,
        "config": case.config | ({"preset": case.preset} if case.preset else {}),
        "batches": batches,
        "params": {impl: i["params"] for impl, i in info.items()},
        "flops": {},
    }
    f = entry["flops"]
    for impl, i in info.items():
        f["forward_analytic"] = i["forward_analytic"]
        f["step_analytic"] = 3 * i["forward_analytic"]
        counted = {
            k: i[k]
            for k in ("forward_counted", "backward_counted", "step_counted")
            if k in i
        }
        if "flops_error" in i:
            counted["error"] = i["flops_error"]
        if "step_counted" in counted:
            counted["counted_over_analytic"] = (
                counted["step_counted"] / (f["step_analytic"])
            )
        f.setdefault("per_impl", {})[impl] = counted
    errors = [r for r in records if r["kind"] == "error"]
    results = doc["results"][case_name] = {}
    for impl in impls:
        impl_variants = variants if impl == "ours" or args.compile_peer else ["eager"]
        for variant in impl_variants:
            for batch in batches:
                why = next(
                    (
                        e["error"]
                        for e in errors
                        if e["impl"] == impl
                        and e.get("variant", variant) == variant
                        and e.get("batch", batch) == batch
                    ),
                    failure or "no result",
                )
                results.setdefault(f"{impl} {variant}", {})[str(batch)] = {"error": why}
    for r in records:
        if r["kind"] != "measurement":
            continue
        ms = statistics.median(r["times"]) * 1e3
        samples = r["batch"] / (ms / 1e3)
        results[f"{r['impl']} {r['variant']}"][str(r["batch"])] = {
            "batch": r["batch"],
            "step_ms": ms,
            "step_ms_min": min(r["times"]) * 1e3,
            "step_ms_all": [t * 1e3 for t in r["times"]],
            "warmup_s": r["warmup_s"],
            "samples_per_s": samples,
            "throughput": samples * case.tokens_per_sample,
            "unit": case.unit,
            "peak_mib": r["peak_mib"],
        }
    doc["errors"][case_name] = [
        f"{e['impl']} {e.get('variant', '')} {e.get('batch', '')}: {e['error']}"
        for e in errors
        if e["impl"] != "kernels"
    ] + ([f"worker: {failure}"] if failure else [])


def collect_kernels(doc, args, case, variants, batch, records, failure) -> None:
    """The top kernels into the JSON, and as text (kernels.txt beside the JSON)."""
    section = {"case": "vision", "label": case.label, "impl": "ours", "batch": batch}
    section["variants"] = {
        r["variant"]: {k: v for k, v in r.items() if k not in ("kind", "table")}
        for r in records
        if r["kind"] == "kernels"
    }
    errors = {
        r["variant"]: r["error"]
        for r in records
        if r["kind"] == "error" and r["impl"] == "kernels"
    }
    for v in variants:
        if v not in section["variants"]:
            section["variants"][v] = {"error": errors.get(v, failure or "no result")}
    doc["kernels"] = section
    doc["errors"]["kernels"] = [f"{v}: {e}" for v, e in errors.items()]
    if args.kernels_out:
        text = [kernel_markdown(doc)]
        for r in records:
            if r["kind"] == "kernels":
                text.append(f"\n## torch.profiler table: ours {r['variant']}\n")
                text.append(r["table"])
        args.kernels_out.parent.mkdir(parents=True, exist_ok=True)
        args.kernels_out.write_text("\n".join(text) + "\n")


def derive(doc: dict) -> None:
    """FLOP rates, MFU and the targets from the measurements (no device needed)."""
    peak = doc.get("device", {}).get("peak_tflops")
    for case_name, results in doc.get("results", {}).items():
        f = doc["cases"][case_name]["flops"]
        per_impl = f.get("per_impl", {})
        model_flops, source = f.get("step_analytic"), "analytic (3 x forward)"
        for impl in ("ours", "peer"):
            if "step_counted" in per_impl.get(impl, {}):
                model_flops = per_impl[impl]["step_counted"]
                source = f"FlopCounterMode, {impl}"
                break
        f["step_model"], f["step_model_source"] = model_flops, source
        for variants in results.values():
            for r in variants.values():
                if "samples_per_s" not in r:
                    continue
                for suffix, flops in (
                    ("", model_flops),
                    ("_analytic", f.get("step_analytic")),
                ):
                    tf = r["samples_per_s"] * flops / 1e12 if flops else None
                    r["tflops" + suffix] = tf
                    r["mfu" + suffix] = tf / peak if tf is not None and peak else None
    vision = doc.get("results", {}).get("vision", {})
    ours_c = vision.get("ours compiled", {})
    peer = vision.get("peer eager", {})
    speed, mfu = {}, {}
    for batch, r in ours_c.items():
        if "throughput" in r and "throughput" in peer.get(batch, {}):
            ratio = r["throughput"] / peer[batch]["throughput"]
            speed[batch] = {
                "measured": ratio,
                "measured_over_target": ratio / TARGET_SPEEDUP,
            }
        if r.get("mfu") is not None:
            mfu[batch] = {
                "measured": r["mfu"],
                "measured_over_target": r["mfu"] / TARGET_MFU,
            }
    doc["targets"] = {
        "speedup_vs_peer": {
            "what": "images/s of ours compiled / g-mlp-pytorch eager, gMLP-S/16",
            "target": TARGET_SPEEDUP,
            "by_batch": speed,
        },
        "mfu": {
            "what": "MFU of ours compiled, gMLP-S/16",
            "target": TARGET_MFU,
            "by_batch": mfu,
        },
    }


# ---------------------------------------------------------------- Markdown


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _num(x: float | None, fmt: str = ".1f") -> str:
    return "n/a" if x is None else format(x, fmt)


def kernel_markdown(doc: dict) -> str:
    k = doc.get("kernels")
    if not k:
        return ""
    out = []
    for variant, v in k["variants"].items():
        out.append(
            f"\n**Top kernels: ours {variant}, {k['label']}, batch {k['batch']}**"
        )
        if "error" in v:
            out.append(f"\nfailed: {v['error']}")
            continue
        out.append(
            f" ({v['time']}, {v['total_ms_per_step']:.2f} ms per step over "
            f"{v['kernels']} kernels, {v['steps']} profiled steps"
            + (f"; {v['note']}" if v.get("note") else "")
            + ")\n"
        )
        out.append("| # | kernel | category | calls/step | ms/step | % of total |")
        out.append("|---:|---|---|---:|---:|---:|")
        for i, t in enumerate(v["top"], 1):
            name = t["name"].replace("|", "\\|")
            name = name if len(name) <= 90 else name[:87] + "..."
            out.append(
                f"| {i} | `{name}` | {t['category']} | {t['calls_per_step']:.0f} "
                f"| {t['ms_per_step']:.3f} | {t['percent']:.1f}% |"
            )
        out.append("\nWhere the time goes:\n")
        out.append("| category | ms/step | % of total |")
        out.append("|---|---:|---:|")
        for c, t in v["categories"].items():
            out.append(f"| {c} | {t['ms_per_step']:.3f} | {t['percent']:.1f}% |")
    return "\n".join(out) + "\n"


def markdown(doc: dict) -> str:
    """The README's GPU tables from the JSON: throughput and MFU, FLOPs, targets, top
    kernels."""
    dev, s = doc.get("device", {}), doc.get("settings", {})
    out = []
    if s.get("dry_run"):
        out.append("**DRY RUN: tiny models, not a measurement.**\n")
    if dev:
        out.append(
            f"Measured on {dev.get('name', '?')}"
            + (f" ({dev['note']})" if dev.get("note") else "")
            + f", torch {dev.get('torch', '?')}"
            + (f" (CUDA {dev['cuda']})" if dev.get("cuda") else "")
            + f", {s.get('dtype')} autocast, full training step (forward, backward, "
            f"AdamW), median of {s.get('repeats')} steps after {s.get('warmup')} "
            f"warm-up steps; compiled = {s.get('compile')}. MFU = step FLOPs "
            f"(FlopCounterMode) x samples/s / {dev.get('peak_tflops')} TFLOP/s "
            f"({dev.get('peak_source')}).\n"
        )
    if doc.get("results"):
        out.append(
            "| model | implementation | batch | step (ms) | throughput | TFLOP/s "
            "| MFU | peak memory above weights (MiB) |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for case_name, variants in doc["results"].items():
            label = doc["cases"][case_name]["label"]
            for variant, by_batch in variants.items():
                name = variant.replace("peer", "g-mlp-pytorch")
                for batch, r in by_batch.items():
                    if "error" in r:
                        out.append(
                            f"| {label} | {name} | {batch} | failed: "
                            f"{r['error'][:80]} | | | | |"
                        )
                        continue
                    out.append(
                        f"| {label} | {name} | {batch} | {r['step_ms']:.1f} "
                        f"| {r['throughput']:,.0f} {r['unit']} "
                        f"| {_num(r.get('tflops'))} | {_pct(r.get('mfu'))} "
                        f"| {r['peak_mib']:.0f} |"
                    )
        out.append(
            "\nFLOPs per sample of one training step (GFLOP; analytic = 3 x the "
            "forward's matrix products; counted = FlopCounterMode, forward + "
            "backward):\n"
        )
        out.append(
            "| model | forward, analytic | forward, counted | step, analytic "
            "| step, counted | counted / analytic |"
        )
        out.append("|---|---:|---:|---:|---:|---:|")
        for c in doc["cases"].values():
            f = c["flops"]
            for impl, n in f.get("per_impl", {}).items():
                name = "ours" if impl == "ours" else "g-mlp-pytorch"
                if "step_counted" not in n:
                    out.append(
                        f"| {c['label']}, {name} | {f['forward_analytic'] / 1e9:.4g} "
                        f"| failed: {n.get('error', '?')[:60]} | | | |"
                    )
                    continue
                out.append(
                    f"| {c['label']}, {name} | {f['forward_analytic'] / 1e9:.4g} "
                    f"| {n['forward_counted'] / 1e9:.4g} "
                    f"| {f['step_analytic'] / 1e9:.4g} "
                    f"| {n['step_counted'] / 1e9:.4g} "
                    f"| {n['counted_over_analytic']:.3f} |"
                )
    t = doc.get("targets")
    if t:
        out.append("\nTargets (gMLP-S/16):\n")
        out.append("| target | batch | measured | target | measured / target |")
        out.append("|---|---:|---:|---:|---:|")
        for key, fmt in (("speedup_vs_peer", "{:.2f}x"), ("mfu", "{:.1%}")):
            tt = t[key]
            if not tt["by_batch"]:
                out.append(f"| {tt['what']} | | n/a | {fmt.format(tt['target'])} | |")
            for batch, m in tt["by_batch"].items():
                out.append(
                    f"| {tt['what']} | {batch} | {fmt.format(m['measured'])} "
                    f"| {fmt.format(tt['target'])} "
                    f"| {m['measured_over_target']:.2f} |"
                )
    out.append(kernel_markdown(doc))
    errors = [f"{k}: {e}" for k, v in doc.get("errors", {}).items() for e in v]
    if errors:
        out.append("Errors:\n")
        out += [f"- {e}" for e in errors]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument(
        "--dtype",
        default=None,
        choices=["fp32", "bf16"],
        help="bf16: autocast, float32 weights (default: fp32 for the CPU table, bf16 "
        "for the GPU benchmark and the dry run)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="the GPU benchmark on tiny models, 1 warm-up + 2 timed steps; runs on "
        "the CPU too",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="GPU: also time torch.compile(model) of ours (default on)",
    )
    p.add_argument(
        "--compile-peer",
        action="store_true",
        help="GPU: compile the peer too",
    )
    p.add_argument(
        "--compile-backend",
        default=None,
        help="torch.compile backend (default inductor; eager, i.e. dynamo alone, for "
        "a CPU dry run)",
    )
    p.add_argument(
        "--case",
        nargs="+",
        default=None,
        choices=list(CASES),
        help=f"cases (default: {' '.join(CPU_CASES)} on the CPU, "
        f"{' '.join(SUITE_CASES)} on the GPU)",
    )
    p.add_argument(
        "--impls",
        nargs="+",
        default=None,
        choices=["ours", "peer"],
        help="GPU: which models (default: both, the peer if g_mlp_pytorch imports)",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="CPU: batch size (default 8)",
    )
    p.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=None,
        help="GPU: vision batch sizes (default 128 256)",
    )
    p.add_argument(
        "--lm-batch", type=int, default=None, help="GPU: LM batch (default 128)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads in each worker (default 2 on the CPU, 1 in a dry "
        "run: tiny models on a busy machine; the GPU: torch's default)",
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
        help="untimed steps first (default 2 CPU, 5 GPU, 1 dry run)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed steps per measurement (default 5 CPU, 20 GPU, 2 dry run)",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="GPU peak for MFU (default: by device name, 989.4 for H100/H200 SXM)",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="GPU: write (update) the results here, and their Markdown beside (.md)",
    )
    p.add_argument(
        "--kernels",
        action="store_true",
        help="GPU: then profile ours (eager, compiled) on gMLP-S/16, first batch",
    )
    p.add_argument("--top", type=int, default=10, help="--kernels: how many kernels")
    p.add_argument(
        "--profile-steps",
        type=int,
        default=None,
        help="--kernels: profiled steps (default 3, dry run 1)",
    )
    p.add_argument(
        "--kernels-out",
        type=Path,
        default=None,
        help="--kernels: the tables as text (default: kernels.txt beside --json)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="GPU: seconds for all the workers (later workers keep >= 20 s each)",
    )
    p.add_argument("--note", default=None, help="a note on the machine, for the JSON")
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="JSON",
        help="print the README tables of a --json file and exit",
    )
    p.add_argument(
        "--default-malloc",
        action="store_true",
        help="CPU: keep glibc's heap trimming "
        "(default: off in the workers, for both implementations)",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="echo the workers' stderr"
    )
    # internal: one measurement in this process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variants", nargs="+", default=["eager"], help=argparse.SUPPRESS)
    p.add_argument("--batch-list", type=int, nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--optimizer", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count-flops", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--saved", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    gpu = args.device.startswith("cuda")
    args.gpu_suite = gpu or args.dry_run
    if args.dtype is None:
        args.dtype = "bf16" if args.gpu_suite else "fp32"
    if args.warmup is None:
        args.warmup = 1 if args.dry_run else 5 if gpu else 2
    if args.repeats is None:
        args.repeats = 2 if args.dry_run else 20 if gpu else 5
    if args.threads is None and (args.dry_run or not gpu):
        args.threads = 1 if args.dry_run else 2
    if args.profile_steps is None:
        args.profile_steps = 1 if args.dry_run else 3
    if args.compile_backend is None:
        args.compile_backend = "eager" if args.dry_run and not gpu else "inductor"
    if args.case is None:
        args.case = SUITE_CASES if args.gpu_suite else CPU_CASES
    if args.worker and isinstance(args.case, list):
        args.case = args.case[0]
    if args.impls is None:
        args.impls = ["ours"]
        if importlib.util.find_spec("g_mlp_pytorch") is not None:
            args.impls.append("peer")
    if args.kernels_out is None and args.json is not None:
        args.kernels_out = args.json.with_name("kernels.txt")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())), end="")
        return 0
    if args.worker:
        worker(args)
        return 0
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            sys.exit(
                f"bench.py: --device {args.device} needs a CUDA GPU, "
                f"but torch {torch.__version__} sees none "
                f"(torch.cuda.is_available() is False)"
            )
    if not args.gpu_suite:
        if "--compile" in (argv if argv is not None else sys.argv[1:]):
            sys.exit(
                "bench.py: --compile is measured on the GPU path only; add --device "
                "cuda (or --dry-run)"
            )
        return cpu_main(args)
    doc = suite(args)
    print(summary(doc, args.case))
    if args.json:
        print(f"all results: {args.json}, as Markdown: {args.json.with_suffix('.md')}")
    else:
        print(markdown(doc), end="")
    return 1 if any(doc["errors"].get(c) for c in [*args.case, "kernels"]) else 0


def summary(doc: dict, case_names: list[str]) -> str:
    """A few lines on the cases just measured: throughput, MFU, the targets."""
    out = []
    for case_name in case_names:
        f = doc["cases"].get(case_name, {}).get("flops", {})
        for impl, n in f.get("per_impl", {}).items():
            if "step_counted" in n:
                out.append(
                    f"{case_name} {impl} GFLOPs per sample: forward "
                    f"{n['forward_counted'] / 1e9:.4g} counted, "
                    f"{f['forward_analytic'] / 1e9:.4g} analytic; training step "
                    f"{n['step_counted'] / 1e9:.4g} counted (FlopCounterMode), "
                    f"{f['step_analytic'] / 1e9:.4g} analytic (3 x forward): "
                    f"{n['counted_over_analytic']:.3f}"
                )
            else:
                out.append(f"{case_name} {impl} FLOPs: {n.get('error', 'no count')}")
        for variant, by_batch in doc["results"].get(case_name, {}).items():
            for batch, r in by_batch.items():
                if "error" in r:
                    out.append(f"{case_name} {variant} {batch}: {r['error']}")
                    continue
                out.append(
                    f"{case_name} {variant}, batch {batch}: {r['step_ms']:.1f} ms, "
                    f"{r['throughput']:,.0f} {r['unit']}, {_num(r.get('tflops'))} "
                    f"TFLOP/s, MFU {_pct(r.get('mfu'))}"
                )
    if "vision" in case_names:
        for key, fmt in (("speedup_vs_peer", "{:.2f}x"), ("mfu", "{:.1%}")):
            t = doc["targets"][key]
            for batch, m in t["by_batch"].items():
                out.append(
                    f"target: {t['what']}, batch {batch}: "
                    f"{fmt.format(m['measured'])} / {fmt.format(t['target'])} = "
                    f"{m['measured_over_target']:.2f} of the target"
                )
    return "\n".join(out)


def cpu_main(args: argparse.Namespace) -> int:
    cpu_name = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        cpu_name = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu_name,
        )
    load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print(
        f"torch {importlib.metadata.version('torch')}, {cpu_name}, "
        f"{args.threads} threads; "
        f"{args.warmup} warm-up + {args.repeats} timed steps per process; "
        f"{load} at the start"
    )
    print(cpu_table(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
