"""Speed of the site build with executed posts: warm (every output stored) and cold
(empty store).

    python benchmarks/build_bench.py [--warm-runs 3]

Each run is `mkdocs build --strict` in its own process, into a temporary site folder.
The warm runs read the committed outputs/ (nothing is executed); the cold run points the
build at an empty outputs folder, so every Python block of the posts runs (in parallel,
EXEC_WORKERS at a time). Prints one table: wall seconds of the whole command, the build
time MkDocs reports, the target and the ratio to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"warm": 3.0, "cold": 60.0}  # seconds of build time, on a 2-core CPU


def build(outputs_dir: Path, site: Path) -> tuple[float, float]:
    """(wall seconds, MkDocs' 'built in' seconds) of one strict build."""
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "GMLP_OUTPUTS_DIR": str(outputs_dir),
    }
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(site),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"mkdocs build failed:\n{result.stderr[-3000:]}")
    found = re.search(r"built in ([\d.]+) seconds", result.stderr + result.stdout)
    return wall, float(found.group(1)) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stored = tmp / "stored"
        shutil.copytree(REPO / "outputs", stored)
        build(
            stored, tmp / "site-first"
        )  # the notebook page's cache and the store are warm now
        warm = [build(stored, tmp / f"site-warm-{i}") for i in range(args.warm_runs)]
        rows.append(
            (
                "warm: every output stored",
                statistics.median(w for w, _ in warm),
                statistics.median(b for _, b in warm),
                TARGETS["warm"],
            )
        )
        empty = tmp / "empty"
        empty.mkdir()
        wall, built = build(empty, tmp / "site-cold")
        rows.append(
            ("cold: empty store, every block runs", wall, built, TARGETS["cold"])
        )
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"EXEC_WORKERS={os.environ.get('EXEC_WORKERS', 'default')}"
    )
    print("| build | wall s | build s (MkDocs) | target s | build / target |")
    print("|---|---:|---:|---:|---:|")
    for name, wall, built, target in rows:
        print(
            f"| {name} | {wall:.1f} | {built:.1f} | {target:.0f} "
            f"| {built / target:.2f} |"
        )


if __name__ == "__main__":
    main()
