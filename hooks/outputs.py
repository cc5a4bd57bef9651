"""Executed posts: every Python block of every post is run at build and its output shown
under it.

* ``on_files`` reads the Python blocks of each post mounted by hooks/posts.py, takes
  their outputs from the post's store (``<extra.outputs_dir>/<post>.json``) and runs the
  blocks that have none, in parallel (explainer.outputs). A failing block stops the
  build - strict or not - naming the post, the block's line and the end of its
  traceback. It also writes the post as a notebook (``<outputs_dir>/<post>.ipynb``,
  committed so Colab can open it from GitHub) and publishes it at
  ``downloads/<post>.ipynb``.
* ``on_page_markdown`` puts each output under its block ("Kết quả") and, at the end of
  the post, links the notebook (and Colab, when the GitHub repository is known). It runs
  after the hooks that edit the prose (measured numbers, root-absolute links), so an
  output is shown exactly as the block printed it.
* ``on_post_build`` prunes the stored outputs of blocks that no longer exist - only
  after a build that succeeded.

Why not markdown-exec (the kept MkDocs library that runs fenced blocks at build): it
runs the code inside the MkDocs process, so blocks share imports and state and cannot
time out, and it keeps no store, so every build would run every block. What it does on
the page (the output right under the block) is the part worth copying, and it is done
here in a few lines.

Settings: ``extra.outputs_dir`` (env GMLP_OUTPUTS_DIR, default ``outputs``),
EXEC_TIMEOUT (seconds per block, default 300), EXEC_WORKERS (blocks run at once, default
2).
"""

from __future__ import annotations

import logging
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # the repository: explainer/

from explainer import notebook, outputs  # noqa: E402
from explainer.blocks import python_fences  # noqa: E402
from explainer.engine import EngineError, write_if_changed  # noqa: E402
from explainer.markdown import map_prose  # noqa: E402

log = logging.getLogger("mkdocs.hooks.outputs")

DOWNLOADS = "downloads"
_results: dict[
    str, outputs.PostOutputs
] = {}  # src_uri of a mounted post -> its outputs
_links: dict[str, str] = {}  # src_uri -> the notebook links paragraph
_repo = ""  # owner/repo on GitHub, "" when unknown
# Where a post offers `pip install` from the blog's repository; without a known
# repository the line goes away (the post offers the one-file gmlp.py download instead).
INSTALL = "<!-- install-from-repository -->"


def _folders(config) -> tuple[Path, Path]:
    root = Path(config.config_file_path).parent
    outputs_dir = root / config.extra.get("outputs_dir", "outputs")
    if outputs_dir.exists() and not outputs_dir.is_dir():
        raise PluginError(
            "GMLP_OUTPUTS_DIR (extra.outputs_dir) must be a folder, "
            f"but {outputs_dir} is a file"
        )
    return (root / config.extra.get("posts_dir", "posts")).resolve(), outputs_dir


@event_priority(
    40
)  # after hooks/posts.py mounted the posts (50), before the blog plugin (-50)
def on_files(files, config):
    posts_dir, outputs_dir = _folders(config)
    mounted = [
        f
        for f in files.documentation_pages()
        if f.abs_src_path and Path(f.abs_src_path).resolve().parent == posts_dir
    ]
    _results.clear()
    _links.clear()
    try:
        results = outputs.collect([Path(f.abs_src_path) for f in mounted], outputs_dir)
    except EngineError as error:
        raise PluginError(str(error)) from None
    global _repo
    repo = _repo = notebook.repository(config.extra, config.site_url, config.repo_url)
    given = str(config.extra.get("github_repository") or "").strip().strip("/")
    if given and repo != given:
        log.warning(
            "GITHUB_REPOSITORY (extra.github_repository) must look like owner/repo, "
            "got %r: ignored",
            given,
        )
    root = Path(config.config_file_path).parent
    figures_dir = root / config.extra.get("assets_dir", "assets") / "img" / "blog2"
    for file, result in zip(mounted, results, strict=True):
        _results[file.src_uri] = result
        name = f"{result.post.stem}.ipynb"
        stored = outputs_dir / name
        try:
            text = notebook.render_post(result, figures_dir)
            write_if_changed(stored, text.encode("utf-8"))  # a failure names the fix
        except EngineError as error:
            raise PluginError(str(error)) from None
        files.append(File.generated(config, f"{DOWNLOADS}/{name}", content=text))
        # relative to the post's source: this hook runs after hooks/assets.py
        download = posixpath.relpath(
            f"{DOWNLOADS}/{name}", posixpath.dirname(file.src_uri) or "."
        )
        links = [f"[Tải bài này dưới dạng notebook ({name})]({download})"]
        if repo:
            path = (
                stored.resolve().relative_to(root.resolve())
                if stored.resolve().is_relative_to(root.resolve())
                else None
            )
            if path is not None:
                links.append(f"[Mở trong Colab]({notebook.colab_url(repo, path)})")
        _links[file.src_uri] = " · ".join(links)
    return files


# after hooks/posts.py (10) and the prose edits of hooks/assets.py and hooks/figures.py
# (0): what a block printed is never rewritten; before the blog plugin (-50)
@event_priority(-10)
def on_page_markdown(markdown, page, config, files):
    result = _results.get(page.file.src_uri)
    if result is None:
        return None
    lines = markdown.split("\n")
    shown = python_fences(lines)  # the fences shown as code, as read_blocks
    if [("\n".join(lines[f.start + 1 : f.end])) for f in shown] != [
        b.source for b in result.blocks
    ]:
        raise PluginError(
            f"{result.blocks[0].post if result.blocks else page.file.src_path}: "
            "the page's Python blocks differ from the ones that were run"
        )
    for fence, output in sorted(
        zip(shown, result.outputs, strict=True), key=lambda p: -p[0].start
    ):
        if output is None or fence.end is None:
            continue
        rendered = outputs.render(output, fence.indent)
        if rendered:
            lines[fence.end + 1 : fence.end + 1] = ["", rendered, ""]
    lines += [
        "",
        f'<p class="post-notebook" markdown="1">{_links[page.file.src_uri]}</p>',
        "",
    ]
    return install_from_repository("\n".join(lines), _repo)


def install_from_repository(markdown: str, repo: str) -> str:
    """Replace the INSTALL line by a list item with the pip command, or drop it."""
    item = (
        (
            "1. **Cài package** từ repository của blog (chỉ cần `torch`):\n\n"
            "    ```bash\n"
            f'    pip install "gmlp-snippets @ git+https://github.com/{repo}"\n'
            "    ```"
        )
        if repo
        else ""
    )
    return map_prose(
        markdown,
        lambda text: re.sub(
            r"^[ \t]*" + re.escape(INSTALL) + r"[ \t]*$",
            lambda _: item,
            text,
            flags=re.M,
        ),
    )


def on_post_build(config):
    """The build succeeded: forget the outputs of blocks that are gone."""
    try:
        outputs.prune(_results.values())
    except EngineError as error:  # a write that failed: named, the store unchanged
        raise PluginError(str(error)) from None
