"""A post as a Jupyter notebook: prose as Markdown cells, each Python block as a code
cell.

Code cells hold the block's code with its includes expanded and the stored output
attached, so the download reads like the page. Blocks marked no-run become code cells
without output. The Colab link needs the GitHub repository: `repository()` finds it in
one setting.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from mkdocs.utils.meta import YAML_RE

from explainer import engine
from explainer.engine import EngineError
from explainer.markdown import fences
from explainer.outputs import PostOutputs, notes
from explainer.posts import Post, demote


def repository(
    given: str, site_url: str | None = None, repo_url: str | None = None
) -> str:
    """owner/repo on GitHub: `given` (the plugin's `repository`, env
    GITHUB_REPOSITORY), else mkdocs.yml's repo_url, else a
    https://<owner>.github.io/<repo>/ site_url; "" if unknown.
    """
    repo = str(given or "").strip().strip("/")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        return repo
    match = re.match(
        r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", repo_url or ""
    )
    if match:
        return f"{match.group(1)}/{match.group(2)}"
    match = re.match(r"https://([\w-]+)\.github\.io/([\w.-]+)/?$", site_url or "")
    return f"{match.group(1)}/{match.group(2)}" if match else ""


def build(
    result: PostOutputs,
    title: str,
    text: str,
    edit: Callable[[str], str] = lambda markdown: markdown,
):
    """The nbformat-4 notebook of one post (validated, byte-stable).

    Root-absolute links (``/assets/...``) become ``../assets/...``: the notebook lies
    one folder down both in the repository (``outputs/``) and on the site
    (``downloads/``). `edit` edits each Markdown cell as the site edits the page (e.g.
    measured numbers).
    """
    import nbformat
    from nbformat import v4

    lines = text.split("\n")
    front = YAML_RE.match(text)
    first = front.group(0).count("\n") if front else 0
    by_line = {
        b.line: (b, out) for b, out in zip(result.blocks, result.outputs, strict=True)
    }
    cells, prose, count = [], [f"# {title}", ""], 0

    def flush():
        body = "\n".join(prose).strip("\n")
        body = edit(re.sub(r"\]\(/(?!/)", "](../", body))
        if body.strip():
            cells.append(v4.new_markdown_cell(body))
        prose.clear()

    position = first
    for fence in fences(lines):
        if fence.start < first or fence.start + 1 not in by_line:
            continue
        prose.extend(demote("\n".join(lines[position : fence.start])).split("\n"))
        flush()
        block, output = by_line[fence.start + 1]
        count += 1
        outputs = []
        if output is not None and output.text:
            text = "\n".join([output.text, *notes(output)])  # the page's notes too
            outputs.append(v4.new_output("stream", name="stdout", text=text))
        cells.append(
            v4.new_code_cell(
                block.code.rstrip("\n"),
                execution_count=count if block.runs else None,
                outputs=outputs,
            )
        )
        position = (fence.end or fence.start) + 1
    prose.extend(demote("\n".join(lines[position:])).split("\n"))
    flush()
    notebook = v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
    )
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"  # stable ids: the same post gives the same bytes
    nbformat.validate(notebook)
    return notebook


def dumps(notebook) -> str:
    import nbformat

    return nbformat.writes(notebook, version=4) + "\n"


def colab_url(repo: str, path: Path | str) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/main/{Path(path).as_posix()}"


def render_post(result: PostOutputs, post: Post, entries: dict) -> str:
    """The text of a post's notebook, as the site publishes it and outputs/ stores it:
    measured numbers from its figures' manifest `entries` put into the prose."""
    from explainer import measured

    def edit(md: str) -> str:
        return measured.substitute(md, entries, lambda offset: post.path)

    return dumps(build(result, post.title, post.text, edit=edit))


def executed(source: Path, cache_dir: Path, timeout: float, root: Path) -> Path:
    """A notebook page (a jupytext script) executed, as .ipynb under `cache_dir`, keyed
    on its text, the local modules it imports and the versions; run only when that
    key has no notebook yet. A failing or timed-out cell raises EngineError naming the
    notebook."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    text = source.read_text(encoding="utf-8")
    parts = engine.recipe(text, root, dists=("torch", "nbclient"), timeout=timeout)
    folder = cache_dir / engine.key(**parts)[:16] / source.parent.name
    path = folder / f"{source.stem}.ipynb"
    with contextlib.suppress(OSError, ValueError):
        nbformat.read(path, as_version=4)  # whole: an interrupted write reads badly
        return path
    nb = jupytext.reads(text, fmt="py:percent")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
    )
    try:  # the kernel imports any package at the repository root, as a block does
        client.execute(env={**os.environ, "PYTHONPATH": str(root)})
    except Exception as error:  # CellExecutionError, CellTimeoutError, a dead kernel
        raise EngineError(
            f"notebook {engine._shown(source)} failed to execute: "
            f"{type(error).__name__}: {error}"
        ) from None
    for old in cache_dir.glob(f"*/{source.parent.name}/{source.stem}.ipynb"):
        old.unlink()  # the same page under an older key
    engine.write_if_changed(path, nbformat.writes(nb).encode("utf-8"))
    return path


def pair_problem(source: Path, ipynb: Path) -> str | None:
    """Why the .ipynb pair cannot be published beside its source, or None."""
    import jupytext

    if not ipynb.is_file():
        return f"its pair {ipynb.name} is missing"
    script, pair = jupytext.read(source), jupytext.read(ipynb)
    if [(c.cell_type, c.source) for c in script.cells] != [
        (c.cell_type, c.source) for c in pair.cells
    ]:
        return (
            f"its pair {ipynb.name} differs from it "
            "(the download would not match the page)"
        )
    return None
