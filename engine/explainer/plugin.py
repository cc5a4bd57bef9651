"""The MkDocs layer: one plugin over the engine. Its events, in the order MkDocs calls:

* on_config: settings checked (a bad one is a config error naming it), KaTeX found,
  the Python fences routed to `_fence`, messages about a mounted post made to name its
  real file.
* on_files (before the blog plugin): the posts mounted as blog posts, beside assets/,
  KaTeX and each post's one-file download; every post's blocks taken from its store or
  run (in parallel), and the post written as a notebook.
* on_nav: notebook pages executed under their key (mkdocs-jupyter renders them with
  ``execute: false``); each post checked to be served at its permalink.
* on_page_markdown: a post's title, headings, excerpt, tags, install line and notebook
  links; root-absolute links made relative; measured numbers and figure provenance put
  into the prose; the figures a page links noted.
* rendering: `_fence` shows each Python block with its output under it.
* on_env: the linked figures checked against their code, before anything is written.
* on_page_content / on_post_page: notebook pages get their links, lose CDN scripts.
* on_post_build: the stores forget the blocks that are gone.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from pathlib import Path

from mkdocs.config import base
from mkdocs.config import config_options as c
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File

from explainer import engine, export, measured, notebook, outputs, posts
from explainer.blocks import PYTHON, Markdown, block_code, show
from explainer.engine import EngineError
from explainer.figures import cache, registry
from explainer.markdown import map_prose

log = logging.getLogger("mkdocs.plugins.explainer")

KATEX = "vendor/katex"  # where the site serves node_modules/katex/dist
KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
INSTALL = "<!-- install-from-repository -->"  # where a post offers `pip install`
_MARKDOWN_LINK = re.compile(
    r"(\]\(\s*<?|^[ ]{0,3}\[[^\]]+\]:[ \t]*<?)/(?!/)([^\s)>]*)", re.M
)
_HTML_ATTR = re.compile(r"""\b((?:src|href)=["'])/(assets/[^"']+)""")
_FIGURE = re.compile(r"(<figure\b.*?</figure>)", re.S)
_ASSET = re.compile(r"assets/([A-Za-z0-9_./-]+?)/([A-Za-z0-9_.-]+)(?=[)\"'\s#?])")
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
_REMOTE = re.compile(
    r"\bsrc=\"https?://|import\(\"https?://|from \"https?://|text/x-mathjax-config"
)
_LOGGERS = ("mkdocs.structure.pages", "mkdocs.commands.build", "mkdocs.material.blog")


class _Positive(c.BaseConfigOption):
    """A number > 0 (whole with whole=True); None or "" (an unset !ENV): the default."""

    def __init__(self, default: float, whole: bool = False):
        super().__init__()
        self.default, self.whole = default, whole

    def run_validation(self, value):
        if value is None or value == "":
            return self.default
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not 0 < number < float("inf") or (self.whole and number != int(number)):
            expected = "a whole number > 0" if self.whole else "a number of seconds > 0"
            raise c.ValidationError(f"expected {expected}, got {value!r}")
        return int(number) if self.whole else number


class ExplainerConfig(base.Config):
    posts_dir = c.Type(str, default="posts")  # the posts, relative to mkdocs.yml
    outputs_dir = c.Type(str, default="outputs")  # the blocks' stores and notebooks
    assets_dir = c.Type(str, default="assets")  # served as assets/: the figures
    timeout = _Positive(outputs.DEFAULT_TIMEOUT)  # seconds per block
    workers = _Positive(min(2, os.cpu_count() or 1), whole=True)  # blocks at once
    notebook_timeout = _Positive(300.0)  # seconds per notebook cell
    figures_check = c.Type(bool, default=True)  # linked figures match their code
    repository = c.Type(str, default="")  # owner/repo on GitHub, for Colab and pip


class ExplainerPlugin(BasePlugin[ExplainerConfig]):
    serving = False

    def on_startup(self, *, command, dirty):
        self.serving = command == "serve"  # drafts are shown, marked as drafts

    def on_config(self, config):
        self.root = Path(config.config_file_path).parent
        self.jupyter = config.plugins.get("mkdocs-jupyter")
        given = self.config.repository.strip().strip("/")
        self.repo = notebook.repository(given, config.site_url, config.repo_url)
        if given and self.repo != given:
            log.warning(
                "repository (GITHUB_REPOSITORY) must look like owner/repo, "
                f"got {given!r}: ignored"
            )
        dist = self.root / "node_modules" / "katex" / "dist"
        self.katex = dist if any(KATEX in x for x in config.extra_css) else None
        missing = [n for n in (*KATEX_FILES, "fonts") if not (dist / n).exists()]
        if missing and self.katex:
            raise PluginError(
                f"KaTeX is missing ({', '.join(missing)} in {os.path.relpath(dist)}): "
                "run `make build` / `make serve`, or `npm ci`, first"
            )
        superfences = config.mdx_configs.setdefault("pymdownx.superfences", {})
        old = superfences.get("custom_fences", [])
        superfences["custom_fences"] = [f for f in old if f["name"] not in PYTHON] + [
            {"name": n, "class": n, "format": self._fence} for n in PYTHON
        ]
        self.markdown = Markdown(tuple(config.markdown_extensions), config.mdx_configs)
        blog = config.plugins.get("material/blog") or config.plugins.get("blog")
        self.blog = blog.config if blog is not None else None
        rss = config.plugins.get("rss")
        if rss is not None and not rss.config.image and config.site_url:
            rss.config.image = (
                f"{config.site_url.rstrip('/')}/assets/images/favicon.png"
            )
        self.posts: dict[str, posts.Post] = {}  # src_uri of a mounted post -> post
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            for old in [f for f in logger.filters if isinstance(f, _RealPaths)]:
                logger.removeFilter(old)  # left by an earlier build of `mkdocs serve`
            logger.addFilter(_RealPaths(self.posts))
        return config

    def on_pre_build(self, config):
        self.manifests: dict[str, engine.Store] = {}  # read once per build
        self.linked: dict[str, set[str]] = {}  # figure folder -> files the pages link
        self.missing: set[str] = set()  # /assets/... targets that are not there

    @event_priority(50)  # before the blog plugin's on_files (-50)
    def on_files(self, files, config):
        try:
            self._mount(files, config)
            self._run_blocks(files, config)
        except EngineError as error:
            raise PluginError(str(error)) from None
        return files

    def _mount(self, files, config) -> None:
        self.posts.clear()
        self.figure_sets = {}
        blog = self.blog
        if blog is None:  # a site without posts (no blog plugin)
            return
        post_dir = posixpath.normpath(blog.post_dir.format(blog=blog.blog_dir))
        folder = self.root / self.config.posts_dir
        if not folder.is_dir():
            raise EngineError(f"posts folder '{folder}' not found (posts_dir)")
        assets = self.root / self.config.assets_dir
        found = registry.find(folder, self.root, assets)
        self.figure_sets = {figures.name: figures for figures in found}

        def add(uri: str, path: Path | None = None, text: str | None = None):
            source = path and str(path)
            files.append(File.generated(config, uri, abs_src_path=source, content=text))

        for path in sorted(folder.glob("[!.]*.md")):
            post = posts.read_post(str(path), os.path.relpath(path, self.root))
            if post.draft and not (self.serving and blog.draft_on_serve):
                log.info(f"{post.path}: published: false, left out of the site")
                continue
            posts.check_includes(post, self.markdown.snippets, str(self.root))
            src_uri = posixpath.join(post_dir, f"{post.name}.md")
            other = self.posts.get(src_uri)
            if other or files.get_file_from_path(src_uri) is not None:
                clash = (
                    f"{other.path}: both posts would be served at .../{post.name}/"
                    if other
                    else f"docs page '{src_uri}'"
                )
                raise EngineError(
                    f"{post.path}: field 'permalink' clashes with {clash}"
                )
            if post.draft:  # a marked copy: the blog plugin reads the file itself
                path = self.root / ".cache" / "drafts" / path.name
                text = post.text.replace("---\n", "---\ndraft: true\n", 1)
                engine.write_if_changed(path, text.encode("utf-8"))
            add(src_uri, path)
            self.posts[src_uri] = post
            if download := post.settings.get("download"):
                text = export.render(download, self.root, post.path, self.markdown)
                add(download["file"], text=text)
        for path in sorted(p for p in assets.rglob("*") if p.is_file()):
            rel = path.relative_to(assets).as_posix()
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            if files.get_file_from_path(f"assets/{rel}") is not None:
                raise EngineError(
                    f"assets/{rel}: the site already has 'assets/{rel}' "
                    "(from docs/ or the theme); rename one of them"
                )
            add(f"assets/{rel}", path)
        if self.katex is not None:
            fonts = sorted(f"fonts/{p.name}" for p in (self.katex / "fonts").iterdir())
            for name in (*KATEX_FILES, *fonts):
                add(f"{KATEX}/{name}", self.katex / name)

    def _run_blocks(self, files, config) -> None:
        outputs_dir = self.root / self.config.outputs_dir
        if outputs_dir.exists() and not outputs_dir.is_dir():
            raise EngineError(
                f"outputs_dir (GMLP_OUTPUTS_DIR) must be a folder, but {outputs_dir} "
                "is a file"
            )
        self.results = outputs.collect(
            [Path(self.root, post.path) for post in self.posts.values()],
            outputs_dir,
            self.config.timeout,
            self.config.workers,
            self.root,
            md=self.markdown,
            texts=[post.text for post in self.posts.values()],
        )
        self.shown = {
            block.code: output
            for result in self.results
            for block, output in zip(result.blocks, result.outputs, strict=True)
        }
        self.links = {}
        for src_uri, result in zip(self.posts, self.results, strict=True):
            name = f"{result.post.stem}.ipynb"
            stored = outputs_dir / name
            entries = self._entries(self.figure_sets.get(result.post.stem))
            text = notebook.render_post(result, self.posts[src_uri], entries)
            engine.write_if_changed(stored, text.encode("utf-8"))
            files.append(File.generated(config, f"downloads/{name}", content=text))
            here = posixpath.dirname(src_uri) or "."
            download = posixpath.relpath(f"downloads/{name}", here)
            links = [f"[Tải bài này dưới dạng notebook ({name})]({download})"]
            if self.repo and stored.resolve().is_relative_to(self.root.resolve()):
                path = stored.resolve().relative_to(self.root.resolve())
                links.append(f"[Mở trong Colab]({notebook.colab_url(self.repo, path)})")
            self.links[src_uri] = " · ".join(links)

    def _manifest(self, figures) -> engine.Store:
        """A post's figure manifest, read once per build."""
        if figures.name not in self.manifests:
            self.manifests[figures.name] = cache.manifest(figures.out)
        return self.manifests[figures.name]

    def _entries(self, figures) -> measured.Entries:
        """The usable entries of a post's figure manifest."""
        if figures is None:
            return measured.Entries()
        return measured.read_entries(self._manifest(figures))

    def on_nav(self, nav, config, files):
        self.notebooks: dict[str, Path] = {}  # src_uri -> the notebook page's source
        executed = self.root / ".cache" / "executed"  # keyed on each page's recipe
        timeout = self.config.notebook_timeout
        for file in files.documentation_pages() if self.jupyter else ():
            if self.jupyter.should_include(file):  # a page mkdocs-jupyter made
                source = Path(file.abs_src_path)
                self.notebooks[file.src_uri] = source
                try:
                    path = notebook.executed(source, executed, timeout, self.root)
                except EngineError as error:
                    raise PluginError(str(error)) from None
                file.abs_src_path = str(path)
        for src_uri, post in self.posts.items():
            url = "/" + files.get_file_from_path(src_uri).url
            if post.permalink is not None and post.permalink != url:
                raise PluginError(
                    f"{post.path}: field 'permalink' is '{post.permalink}' "
                    f"but the post is served at '{url}' "
                    "(/<blog_dir>/<yyyy>/<MM>/<last segment>/, from the field 'date')"
                )

    @event_priority(10)  # before the blog and tags plugins read the page (-50)
    def on_page_markdown(self, markdown, page, config, files):
        post = self.posts.get(page.file.src_uri)
        if post is not None:
            if post.tags is not None:
                page.meta["tags"] = post.tags
            separator = self.blog.post_excerpt_separator
            markdown = posts.page_markdown(post, markdown, separator)
            markdown = _install(markdown, self.repo, post.settings.get("install"))
            links = self.links[page.file.src_uri]
            markdown += f'\n\n<p class="post-notebook" markdown="1">{links}</p>\n'
        try:
            return map_prose(markdown, self._prose(page, files, post))
        except EngineError as error:
            raise PluginError(str(error)) from None

    def _prose(self, page, files, post):
        """The edit of a page's prose: links made relative, measured numbers and
        figure provenance put in, the figures it links noted."""
        figures = self.figure_sets.get(Path(post.path).stem) if post else None
        entries = self._entries(figures)
        source = page.file.abs_src_path
        shown = post.path if post else os.path.relpath(source or page.file.src_path)

        def where(text: str, offset: int) -> str:  # the line of a token that failed
            original = post.text if post else source and Path(source).read_text("utf-8")
            original = original or ""
            found = original.find(text[offset : text.index("}}", offset) + 2])
            return (
                f"{shown}:{measured.line_of(original, found)}" if found >= 0 else shown
            )

        drawn = figures.figures if figures else ()
        by_file = {file: figure.name for figure in drawn for file in figure.files}
        folder = re.escape(figures.folder) if figures else ""
        image = re.compile(rf"\]\((?:[./]*/)?assets/{folder}/([A-Za-z0-9_.-]+)\)")

        def caption(match: re.Match) -> str:
            block = match.group(1)
            found = image.search(block)
            entry = entries.get(by_file.get(found.group(1), "")) if found else None
            if not entry or "</figcaption>" not in block:
                return block
            made = measured.provenance(entry)
            note = f' <span class="figure-provenance">({made})</span></figcaption>'
            return block.replace("</figcaption>", note, 1)

        def edit(text: str) -> str:
            for folder, names in linked_files(text).items():
                self.linked.setdefault(folder, set()).update(names)
            text = measured.substitute(text, entries, lambda at: where(text, at))
            text = _FIGURE.sub(caption, text) if by_file else text
            return self._relative(text, page, files)

        return edit

    def _relative(self, text: str, page, files) -> str:
        """Root-absolute links to the site's files and pages made relative to the page
        (so they work under any sub-path); others are left for MkDocs to report."""
        source_dir = posixpath.dirname(page.file.src_uri) or "."
        url_dir = page.url.rsplit("/", 1)[0] if "/" in page.url else "."

        def markdown_link(match: re.Match) -> str:
            target = match.group(2)
            source = _source_of(target, files)
            if source is None:
                if not target.startswith("assets/"):
                    return match.group(0)  # not ours: MkDocs reports the absolute link
                self.missing.add(target.split("#", 1)[0])  # MkDocs reports it too
                source = target
            return match.group(1) + posixpath.relpath(source, source_dir)

        def html_attr(match: re.Match) -> str:
            target = match.group(2).split("#", 1)[0].split("?", 1)[0]
            if files.get_file_from_path(target) is None:
                self.missing.add(target)
                log.warning(
                    f"Doc file '{page.file.src_uri}' links to '/{target}', "
                    "which is not in assets/"
                )
            return match.group(1) + posixpath.relpath(match.group(2), url_dir)

        return _HTML_ATTR.sub(html_attr, _MARKDOWN_LINK.sub(markdown_link, text))

    def _fence(self, src, language, class_name, options, md, **kwargs) -> str:
        """A Python block on the page, and its output under it."""
        html = show(src, language, class_name, options, md, **kwargs)
        output = self.shown.get(block_code(src))
        rendered = outputs.render(output) if output is not None else ""
        return html + ("\n" + rendered if rendered else "")

    def on_env(self, env, config, files):
        if self.missing:
            log.info(
                "Missing in assets/: %s. Figures are drawn by `make figures`.",
                ", ".join(sorted(self.missing)),
            )
        self.check_figures()
        return env

    def check_figures(self) -> None:
        """Stop the build when a figure a page links is missing or older than its
        code; the manifests must be readable even when figures_check is off."""
        try:
            for figures in self.figure_sets.values():
                self._entries(figures)
        except EngineError as error:
            raise PluginError(str(error)) from None
        if not self.config.figures_check:
            log.warning("figures_check is off: the figures are not checked")
            return
        problems = []
        for figures in self.figure_sets.values():
            linked = self.linked.get(figures.folder, set())
            names = [f.name for f in figures.figures if linked & set(f.files)]
            store = self._manifest(figures)
            problems += cache.check(figures.out, names, figures, store) if names else []
        if problems:
            raise PluginError(
                "Figures are missing or out of date - run `make figures` "
                "(python -m explainer figures):\n  - " + "\n  - ".join(problems)
            )

    def on_page_content(self, html, page, config, files):
        source = self.notebooks.get(page.file.src_uri)
        if source is None:
            return html
        ipynb = source.with_suffix(".ipynb")
        if problem := notebook.pair_problem(source, ipynb):
            raise PluginError(
                f"{os.path.relpath(source)}: {problem}; "
                "run `make notebooks` to write it"
            )
        links = [f'<a href="../{ipynb.name}" download>Tải notebook ({ipynb.name})</a>']
        if self.repo:
            url = notebook.colab_url(self.repo, ipynb.relative_to(self.root))
            links.append(f'<a href="{url}">Mở trong Colab</a>')
        return f'<p class="notebook-links">{" · ".join(links)}</p>\n' + html

    def on_post_page(self, output, page, config):
        if page.file.src_uri not in self.notebooks:
            return output
        return _SCRIPT.sub(lambda m: "" if _REMOTE.search(m[0]) else m[0], output)

    def on_post_build(self, config):
        try:
            outputs.prune(self.results)
        except EngineError as error:  # a write that failed: named, the store unchanged
            raise PluginError(str(error)) from None


def linked_files(text: str) -> dict[str, set[str]]:
    """{folder under assets/: the files of it that `text` links}."""
    found: dict[str, set[str]] = {}
    for match in _ASSET.finditer(text):
        found.setdefault(match.group(1), set()).add(match.group(2))
    return found


def _source_of(target: str, files) -> str | None:
    """The src_uri of the site's file or page at the root-relative path/URL target."""
    path, _, anchor = target.partition("#")
    path = path.split("?", 1)[0]
    anchor = f"#{anchor}" if anchor else ""
    if files.get_file_from_path(path) is not None:
        return path + anchor
    for file in files.documentation_pages():
        if file.url == path or (path == "" and file.url in ("", "./")):
            return file.src_uri + anchor
    return None


def _install(markdown: str, repo: str, package: str | None) -> str:
    """The INSTALL line as a list item with the pip command, or dropped (no
    repository, or no package to install)."""
    item = (
        "1. **Cài package** từ repository của blog (chỉ cần `torch`):\n\n"
        "    ```bash\n"
        f'    pip install "{package} @ git+https://github.com/{repo}"\n'
        "    ```"
        if repo and package
        else ""
    )
    pattern = re.compile(r"^[ \t]*" + re.escape(INSTALL) + r"[ \t]*$", re.M)
    return map_prose(markdown, lambda text: pattern.sub(lambda _: item, text))


class _RealPaths(logging.Filter):
    """Messages name a post's real file, not its mounted page ('posts/posts/x.md')."""

    def __init__(self, mounted: dict[str, posts.Post]):
        super().__init__()
        self.mounted = mounted

    def filter(self, record: logging.LogRecord) -> bool:
        message = changed = record.getMessage()
        for src_uri, post in self.mounted.items():
            changed = changed.replace(f"'{src_uri}'", f"'{post.path}'")
        if changed != message:
            record.msg, record.args = changed, None
        return True
