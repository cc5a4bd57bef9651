"""Shared fixtures: one strict build of the site per test session."""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SUB_PATH = "gmlp-explained"  # the site is served under /<repo>/, as on GitHub Pages


@dataclass
class SiteBuild:
    site: Path  # the built site
    url: str  # its site_url, http://127.0.0.1:<port>/gmlp-explained/
    port: int
    placeholders: list[str]  # figures missing from assets/, drawn as placeholders


def load_module(path: Path, name: str | None = None):
    """Import a Python file that is not part of a package (a hook, a script) as a fresh
    module."""
    import importlib.util

    name = name or f"{path.parent.name}_{path.stem}_under_test"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    spec.loader.exec_module(module)
    return module


def run_mkdocs(
    *args: str,
    posts_dir: Path | None = None,
    assets_dir: Path | None = None,
    site_url: str | None = None,
    figures_check: bool = True,
    outputs_dir: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run mkdocs from the repository root with the hooks pointed at test folders.

    A build with other posts than the real ones must be given its own `outputs_dir` (a
    copy of outputs/), so that its stored block outputs never land in the repository.
    """
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    if (
        posts_dir is not None and outputs_dir is None
    ):  # never next to fixtures in the repository
        outputs_dir = Path(tempfile.mkdtemp(prefix="outputs-"))
    for name, value in (
        ("GMLP_POSTS_DIR", posts_dir),
        ("GMLP_ASSETS_DIR", assets_dir),
        ("GMLP_OUTPUTS_DIR", outputs_dir),
        ("SITE_URL", site_url),
        ("GMLP_FIGURES_CHECK", str(figures_check).lower()),
    ):
        if value is not None:
            env[name] = str(value)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def placeholder_png(path: Path, width: int = 48, height: int = 32) -> None:
    """Write a small grey PNG (stdlib only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\xc8" * (3 * width) for _ in range(height))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def assets_with_placeholders(posts: Path, target: Path) -> list[str]:
    """Copy assets/ to target and draw a placeholder for each /assets/... image the
    posts miss."""
    shutil.copytree(REPO / "assets", target, dirs_exist_ok=True)
    missing = []
    for post in posts.glob("*.md"):
        for link in re.findall(
            r"\]\(/assets/([^)\s]+\.png)", post.read_text(encoding="utf-8")
        ):
            if not (target / link).exists():
                placeholder_png(target / link)
                missing.append(link)
    return missing


@pytest.fixture(scope="session")
def mkdocs():
    """run_mkdocs, for tests that need a build of their own."""
    return run_mkdocs


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> SiteBuild:
    """The real posts plus an unpublished fixture post, built --strict under a
    sub-path."""
    tmp = tmp_path_factory.mktemp("site")
    posts = tmp / "posts"
    posts.mkdir()
    for post in [*(REPO / "posts").glob("*.md"), *(FIXTURES / "posts").glob("*.md")]:
        shutil.copy(post, posts / post.name)
    placeholders = assets_with_placeholders(posts, tmp / "assets")
    shutil.copytree(
        REPO / "outputs", tmp / "outputs"
    )  # stored outputs: nothing re-runs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{SUB_PATH}/"
    site = tmp / "www" / SUB_PATH
    result = run_mkdocs(
        "build",
        "--strict",
        "--site-dir",
        str(site),
        posts_dir=posts,
        assets_dir=tmp / "assets",
        site_url=url,
        figures_check=not placeholders,
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}")
    return SiteBuild(site=site, url=url, port=port, placeholders=placeholders)
