"""A post as a Jupyter notebook (prose as Markdown cells, each Python block as a code
cell with its expanded code and stored output), and the notebook pages executed."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from mkdocs.utils.meta import YAML_RE

from explainer import engine, measured
from explainer.engine import EngineError
from explainer.markdown import fences
from explainer.outputs import PostOutputs, notes
from explainer.posts import Post, demote


def repository(
    given: str, site_url: str | None = None, repo_url: str | None = None
) -> str:
    """owner/repo on GitHub: `given` (GITHUB_REPOSITORY), else mkdocs.yml's repo_url,
    else a https://<owner>.github.io/<repo>/ site_url; "" if unknown."""
    repo = str(given or "").strip().strip("/")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        return repo
    match = re.match(
        r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", repo_url or ""
    ) or re.match(r"https://([\w-]+)\.github\.io/([\w.-]+)/?$", site_url or "")
    return f"{match.group(1)}/{match.group(2)}" if match else ""


def build(
    result: PostOutputs,
    title: str,
    text: str,
    edit: Callable[[str], str] = lambda markdown: markdown,
):
    """The nbformat-4 notebook of one post (validated, byte-stable). Root-absolute
    links become ``../``: the notebook lies one folder down (``outputs/``,
    ``downloads/``); `edit` edits each Markdown cell as the site edits the page."""
    import nbformat
    from nbformat import v4

    lines = text.split("\n")
    front = YAML_RE.match(text)
    first = front.group(0).count("\n") if front else 0
    by_line = {b.line: b for b in result.blocks}
    shown = dict(zip(result.blocks, result.outputs, strict=True))
    cells, position, head = [], first, f"# {title}\n\n"

    def prose(end: int) -> list:
        body = (head + demote("\n".join(lines[position:end]))).strip("\n")
        body = edit(re.sub(r"\]\(/(?!/)", "](../", body))
        return [v4.new_markdown_cell(body)] if body.strip() else []

    for fence in fences(lines):
        if fence.start >= first and (block := by_line.get(fence.start + 1)):
            output, count = shown[block], sum(c.cell_type == "code" for c in cells)
            printed = "\n".join([output.text, *notes(output)]) if output else ""
            stream = v4.new_output("stream", name="stdout", text=printed)
            cells += prose(fence.start)
            cells.append(
                v4.new_code_cell(
                    block.code.rstrip("\n"),
                    execution_count=count + 1 if block.runs else None,
                    outputs=[stream] if output and output.text else [],
                )
            )
            position, head = (fence.end or fence.start) + 1, ""
    cells += prose(len(lines))
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    metadata = {"kernelspec": kernel, "language_info": {"name": "python"}}
    notebook = v4.new_notebook(cells=cells, metadata=metadata)
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
    """The text of a post's notebook, with the measured numbers of its figures'
    manifest `entries` put into the prose."""

    def edit(md: str) -> str:
        return measured.substitute(md, entries, lambda offset: post.path)

    return dumps(build(result, post.title, post.text, edit=edit))


def executed(source: Path, cache_dir: Path, timeout: float, root: Path) -> Path:
    """A notebook page (a jupytext script) executed, as .ipynb under `cache_dir` keyed
    on engine.recipe; run only when that key has no notebook yet."""
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
