"""`mkdocs gh-deploy` pushes the built site to a gh-pages branch (no network involved).

The site's sources are copied into a fresh git repository in a tmp dir whose remote is a
local bare repository; the real repository and its remotes are left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, assets_with_placeholders

pytestmark = pytest.mark.site

SOURCES = [
    "mkdocs.yml",
    "docs",
    "posts",
    "outputs",
    "gmlp_snippets",
    "engine",
    "package.json",
]
REMOTE = "pages-test"
SITE_URL = "https://example.github.io/gmlp-explained/"


def _git(*args: str, cwd) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_gh_deploy_pushes_the_site_to_gh_pages(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, work / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(source, work / name)
    placeholders = assets_with_placeholders(work / "posts", work / "assets")
    (work / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)
    if (REPO / ".cache/executed").is_dir():  # the notebook page, executed already
        shutil.copytree(REPO / ".cache/executed", work / ".cache/executed")

    bare = tmp_path / "remote.git"
    _git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    _git("init", "--quiet", "-b", "main", cwd=work)
    _git("config", "user.name", "Site Test", cwd=work)
    _git("config", "user.email", "site-test@example.invalid", cwd=work)
    _git("add", *SOURCES, "assets", cwd=work)  # outputs/: nothing re-runs
    _git("commit", "--quiet", "-m", "site sources", cwd=work)
    _git("remote", "add", REMOTE, str(bare), cwd=work)

    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "SITE_URL": SITE_URL,
        "GMLP_FIGURES_CHECK": "false" if placeholders else "true",
    }
    for name in ("GMLP_POSTS_DIR", "GMLP_ASSETS_DIR"):
        env.pop(name, None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "gh-deploy",
            "--strict",
            "--force",
            "--remote-name",
            REMOTE,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    files = _git("ls-tree", "-r", "--name-only", "gh-pages", cwd=bare).splitlines()
    assert "posts/2024/02/blog-post-2/index.html" in files
    assert ".nojekyll" in files, "GitHub Pages must not run Jekyll over the site"
    assert "vendor/katex/katex.min.js" in files
    sitemap = _git("show", "gh-pages:sitemap.xml", cwd=bare)
    assert f"<loc>{SITE_URL}posts/2024/02/blog-post-2/</loc>" in sitemap
