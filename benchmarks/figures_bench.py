r"""How long `make figures` takes: cold (every figure drawn, into an empty folder) and
warm (nothing changed, nothing drawn), against the targets for the quick profile on a
2-core CPU.

    python benchmarks/figures_bench.py [--post blog-post-2] [--profile quick] \
        [--device cpu] [--threads 1] [--warm-runs 3]

Each run is a fresh `python -m explainer.figures --post POST` process, as `make figures`
starts one, drawing into a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"cold": 120.0, "warm": 3.0}  # seconds, quick profile, 2-core CPU


def run(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr}")
    return seconds, proc.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--post", default="blog-post-2", help="whose figures are drawn")
    p.add_argument("--profile", default="quick")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="passed to the figures command (its default: 1)",
    )
    p.add_argument("--warm-runs", type=int, default=3)
    a = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="figures-bench-") as tmp:
        cmd = [
            "-m",
            "explainer.figures",
            "--post",
            a.post,
            "--out",
            str(Path(tmp) / "figures"),
            "--profile",
            a.profile,
            "--device",
            a.device,
            "-q",
        ] + (["--threads", str(a.threads)] if a.threads else [])
        cold, table = run(cmd)
        warm = [run(cmd)[0] for _ in range(a.warm_runs)]
        baseline = statistics.median(
            run(["-c", "import gmlp_snippets"])[0] for _ in range(a.warm_runs)
        )

    print(
        f"figures benchmark: post {a.post}, profile {a.profile}, device {a.device}, "
        f"threads {a.threads or 'default'}, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}"
    )
    print()
    print(table.rstrip())
    print()
    warm_median = statistics.median(warm)
    print(f"{'run':<6} {'seconds':>8} {'target':>7} {'of target':>10}")
    for name, seconds in (("cold", cold), ("warm", warm_median)):
        target = TARGETS[name]
        verdict = "ok" if seconds <= target else "OVER"
        print(
            f"{name:<6} {seconds:8.1f} {target:7.1f} {seconds / target:9.0%}  {verdict}"
        )
    print(
        f"warm runs: {', '.join(f'{s:.2f}' for s in warm)} s; "
        f"`import gmlp_snippets` (torch) alone: {baseline:.2f} s"
    )


if __name__ == "__main__":
    main()
