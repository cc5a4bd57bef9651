"""`W Z2 + b` in the SGU: one `torch.baddbmm` call (what the package runs) against
`w @ z2 + b` (the formula as written), side by side in one process, on a gMLP-S/16 step.

    python benchmarks/sgu_product.py                  # batch 8, 224 x 224, 2 threads
    python benchmarks/sgu_product.py --steps 12 --batch 4

Both variants run the same model, weights and batch; the steps alternate between them
(ABBA order), so a slow spell on a shared machine hits both. Prints the median training
step (zero grads, forward, cross-entropy, backward) of each and the ratio
formula / package. It runs with glibc's heap trimming off, as benchmarks/bench.py's
workers do (benchmarks/README.md says why).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from unittest import mock

import torch

from gmlp_snippets import GMLPConfig, GMLPForImageClassification, SpatialGatingUnit


def forward_formula(self, z, x=None):
    """SpatialGatingUnit.forward (a plain gMLP, not causal) with W Z2 + b as written."""
    n = z.shape[1]
    z1, z2 = z.chunk(2, dim=-1)
    z2 = self.norm(z2)
    w, b = self.weight[:n, :n], self.bias[:n, None]
    return z1 * (w @ z2 + b)


def main() -> None:
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:  # re-run with trimming off
        env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": str(1 << 36)}
        env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 36)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = GMLPConfig.from_preset("gmlp-s16")
    model = GMLPForImageClassification(cfg)
    images = torch.randn(args.batch, 3, 224, 224)
    labels = torch.randint(0, cfg.num_classes, (args.batch,))
    formula = mock.patch.object(SpatialGatingUnit, "forward", forward_formula)

    def step() -> float:
        start = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        return time.perf_counter() - start

    variants = {"torch.baddbmm (package)": step, "w @ z2 + b": formula(step)}
    with torch.no_grad():  # the two variants compute the same numbers
        a = model(images[:1])
        with formula:
            b = model(images[:1])
    print(f"max |difference| of the logits: {(a - b).abs().max().item():.2e}")
    for run in variants.values():  # warm-up
        run(), run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(args.steps):
        for name in names if i % 2 == 0 else names[::-1]:
            times[name].append(variants[name]())
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:<22} {median * 1e3:8.1f} ms per step (median of {args.steps})")
    ratio = medians[names[1]] / medians[names[0]]
    print(f"ratio formula / package: {ratio:.3f} (the formula is shown if <= 1.03)")


if __name__ == "__main__":
    main()
