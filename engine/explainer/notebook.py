"""A post as a Jupyter notebook: prose as Markdown cells, each Python block as a code
cell.

Code cells hold the block's code with its includes expanded and the stored output
attached, so the download reads like the page. Blocks marked no-run become code cells
without output. The Colab link needs the GitHub repository: `repository()` finds it in
one setting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mkdocs.utils.meta import YAML_RE

from explainer.markdown import fences
from explainer.outputs import PostOutputs, notes

_HEADING = re.compile(r"^(#{1,5})(?=[ \t]|$)", re.MULTILINE)


def repository(
    extra: dict, site_url: str | None = None, repo_url: str | None = None
) -> str:
    """owner/repo on GitHub, from one setting: extra.github_repository (env
    GITHUB_REPOSITORY), else mkdocs.yml's repo_url, else a
    https://<owner>.github.io/<repo>/ site_url; "" if unknown.
    """
    repo = str(extra.get("github_repository") or "").strip().strip("/")
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
    text: str | None = None,
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

    if text is None:
        text = result.post.read_text(encoding="utf-8-sig")  # as hooks/posts.py: no BOM
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
        prose.extend(
            _HEADING.sub(r"#\1", "\n".join(lines[position : fence.start])).split("\n")
        )
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
    prose.extend(_HEADING.sub(r"#\1", "\n".join(lines[position:])).split("\n"))
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


def title(post: Path) -> str:
    """The post's front-matter title (the file name when it has none)."""
    import yaml

    match = YAML_RE.match(Path(post).read_text(encoding="utf-8-sig"))
    meta = yaml.safe_load(match.group(1)) if match else None
    return (
        str(meta.get("title", Path(post).stem))
        if isinstance(meta, dict)
        else Path(post).stem
    )


def render_post(result: PostOutputs, figures_dir: Path) -> str:
    """The text of a post's notebook, as the site publishes it and outputs/ stores it:
    measured numbers from the figures manifest in `figures_dir` put into the prose."""
    from explainer import measured

    entries = measured.read_entries(figures_dir)
    shown = result.blocks[0].post if result.blocks else str(result.post)

    def edit(md: str) -> str:
        return measured.substitute(md, entries, lambda offset: shown)

    return dumps(build(result, title(result.post), edit=edit))
