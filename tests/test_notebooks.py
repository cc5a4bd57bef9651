"""The notebook pages: executed at build time, cached by their dependencies, offline,
downloadable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jupytext
import pytest
from conftest import REPO

pytestmark = pytest.mark.site

NOTEBOOKS = sorted((REPO / "docs" / "notebooks").glob("*.py"))
PAGE = "notebooks/tu-tay-chay-gmlp/index.html"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.name)
def test_ipynb_pair_is_in_sync_with_its_percent_script(source):
    """The reviewed .py and the published/Colab .ipynb hold the same cells
    (`make notebooks` syncs them)."""
    pair = source.with_suffix(".ipynb")
    assert pair.is_file(), f"{pair.name} missing: run `make notebooks`"
    script, notebook = jupytext.read(source), jupytext.read(pair)
    assert [(c.cell_type, c.source) for c in script.cells] == [
        (c.cell_type, c.source) for c in notebook.cells
    ], f"{pair.name} differs from {source.name}: run `make notebooks`"
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "keep outputs out of git"
    )


def test_notebook_page_is_executed_and_offline(site_build):
    html = (site_build.site / PAGE).read_text(encoding="utf-8")
    assert "loss: 5." in html  # the training cell's printed output
    assert "data:image/png;base64," in html  # the plot of W
    assert (
        "cdnjs" not in html
        and "MathJax.Hub" not in html
        and "x-mathjax-config" not in html
    )
    assert 'href="../tu-tay-chay-gmlp.ipynb" download' in html
    published = json.loads(
        (site_build.site / "notebooks" / "tu-tay-chay-gmlp.ipynb").read_text(
            encoding="utf-8"
        )
    )
    assert published["nbformat"] == 4


def test_remote_scripts_are_dropped_and_local_ones_kept():
    from explainer import plugin as hook

    page = (
        '<script src="https://cdnjs.cloudflare.com/mathjax.js"> </script>'
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({});</script>'
        '<script type="module">'
        'const m = await import("https://cdn.example/m.mjs");</script>'
        '<script src="../../vendor/katex/katex.min.js"></script>'
        "<script>var local = 1;</script>"
    )
    kept = hook._SCRIPT.sub(
        lambda m: "" if hook._REMOTE.search(m.group(0)) else m.group(0), page
    )
    assert kept == (
        '<script src="../../vendor/katex/katex.min.js"></script>'
        "<script>var local = 1;</script>"
    )


def _mini_site(tmp_path: Path, cell: str) -> Path:
    """A site with one notebook page, no posts, to build in seconds."""
    (tmp_path / "docs" / "notebooks").mkdir(parents=True)
    (tmp_path / "docs" / "index.md").write_text("# Home\n")
    (tmp_path / "pkg_nb").mkdir()
    (tmp_path / "pkg_nb" / "__init__.py").write_text("")
    (tmp_path / "pkg_nb" / "a.py").write_text("version = 1\n")
    source = tmp_path / "docs" / "notebooks" / "nb.py"
    source.write_text("# %% [markdown]\n# # Test\n\n# %%\n" + cell + "\n")
    jupytext.write(jupytext.read(source), source.with_suffix(".ipynb"))
    (tmp_path / "mkdocs.yml").write_text(
        textwrap.dedent("""
        site_name: t
        plugins:
          - explainer:
              notebook_timeout: 20
          - mkdocs-jupyter:
              include: ["notebooks/*.py", "notebooks/*.ipynb"]
              ignore: ["docs/notebooks/*.ipynb"]
              execute: false
              allow_errors: false
              cache: false
    """)
    )
    return tmp_path


def _build(site: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **env},
    )


def test_failing_cell_fails_the_build_naming_the_notebook(tmp_path):
    site = _mini_site(tmp_path, 'raise ValueError("a broken cell")')
    result = _build(site)
    assert result.returncode != 0
    assert (
        "docs/notebooks/nb.py" in result.stderr and "a broken cell" in result.stderr
    ), result.stderr[-2000:]


def test_unchanged_notebook_is_not_rerun_and_a_package_change_reruns_it(tmp_path):
    cell = (
        "import pathlib\n"
        "from pkg_nb import a\n"
        "with open(pathlib.Path.cwd() / 'runs.txt', 'a') as f:\n"
        "    f.write(f'run {a.version}\\n')"
    )
    site = _mini_site(tmp_path, cell)

    def runs():
        done = site / "docs" / "notebooks" / "runs.txt"  # the page's working folder
        return done.read_text().count("run") if done.is_file() else 0

    assert _build(site).returncode == 0
    assert runs() == 1
    assert _build(site).returncode == 0
    assert runs() == 1, "an unchanged notebook was executed again"
    (site / "pkg_nb" / "a.py").write_text("# a comment: not a change\nversion = 1\n")
    assert _build(site).returncode == 0
    assert runs() == 1, "a comment re-executed the notebook"
    (site / "pkg_nb" / "a.py").write_text("version = 2\n")
    assert _build(site).returncode == 0
    assert runs() == 2, "a change of the module it imports did not re-execute it"
    assert "run 2" in (site / "docs" / "notebooks" / "runs.txt").read_text()
    executed = list((site / ".cache" / "executed").rglob("*.ipynb"))
    assert len(executed) == 1, "stale executed notebooks kept"


def test_a_truncated_cache_entry_is_dropped_not_fatal(tmp_path):
    site = _mini_site(tmp_path, "x = 1")
    assert _build(site).returncode == 0
    [entry] = list((site / ".cache" / "executed").rglob("*.ipynb"))
    entry.write_text('{"cells": [{"cell_type"')
    result = _build(site)
    assert result.returncode == 0, result.stderr[-2000:]
    json.loads(entry.read_text())  # executed again, rewritten whole


@pytest.mark.faults
def test_a_pair_out_of_sync_is_refused(tmp_path):
    site = _mini_site(tmp_path, "x = 1")
    source = site / "docs" / "notebooks" / "nb.py"
    source.write_text(
        source.read_text() + "\n# %%\ny = 2\n"
    )  # edited, `make notebooks` not run
    pair = (site / "docs" / "notebooks" / "nb.ipynb").read_bytes()
    result = _build(site)
    assert result.returncode != 0
    assert (
        "docs/notebooks/nb.py" in result.stderr and "nb.ipynb differs" in result.stderr
    )
    assert (site / "docs" / "notebooks" / "nb.ipynb").read_bytes() == pair


@pytest.mark.faults
def test_a_bad_notebook_timeout_is_named(tmp_path):
    site = _mini_site(tmp_path, "x = 1")
    config = site / "mkdocs.yml"
    config.write_text(
        config.read_text().replace(
            "notebook_timeout: 20", "notebook_timeout: !ENV [NOTEBOOK_TIMEOUT, 20]"
        )
    )
    result = _build(site, NOTEBOOK_TIMEOUT="abc")
    assert (
        result.returncode != 0
        and "notebook_timeout" in result.stderr
        and "'abc'" in result.stderr
    )
