"""The MkDocs site: a strict build of the real posts, and the hooks' failure messages.

One build per session (the `site_build` fixture in conftest.py) serves every check here
and the browser test; the failing builds stop early and take well under a second each.
"""

from __future__ import annotations

import html
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import FIXTURES, REPO, article_html, raises_naming

pytestmark = pytest.mark.site

POST = "posts/2024/02/blog-post-2/index.html"
UNPUBLISHED = "unpublished-draft"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# <link rel=...> values that make the browser fetch the target
FETCHING_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "manifest",
    "font",
}


class _Page(HTMLParser):
    """Tags with their attributes, headings with their text, and the text outside
    <script>."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.headings: list[tuple[str, str]] = []  # (id, text)
        self.styles: list[str] = []
        self._heading: list | None = None
        self._skip = 0
        self.text_parts: list[str] = []
        self.feed(text)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if "style" in attrs:
            self.styles.append(attrs["style"])
        if tag in {"script", "style"}:
            self._skip += 1
        if re.fullmatch(r"h[1-6]", tag) and attrs.get("id"):
            self._heading = [attrs["id"], ""]

    def handle_endtag(self, tag):
        if tag in {"script", "style"}:
            self._skip -= 1
        if self._heading is not None and re.fullmatch(r"h[1-6]", tag):
            self.headings.append(
                (self._heading[0], self._heading[1].replace("¶", "").strip())
            )
            self._heading = None

    def handle_data(self, data):
        if self._skip and self.tags and self.tags[-1][0] == "style":
            self.styles.append(data)
        if not self._skip:
            self.text_parts.append(data)
            if self._heading is not None:
                self._heading[1] += data


def _page(site: Path, rel: str) -> _Page:
    return _Page((site / rel).read_text(encoding="utf-8"))


def _resolve(build, page_rel: str, link: str) -> Path | None:
    """The file a link on page_rel points to, or None when it leaves the site."""
    page_url = build.url + page_rel.removesuffix("index.html")
    target = urlsplit(urljoin(page_url, link))
    base = urlsplit(build.url)
    if target.netloc != base.netloc or not target.path.startswith(base.path):
        return None
    path = unquote(target.path[len(base.path) :])
    if path == "" or path.endswith("/"):
        path += "index.html"
    return build.site / path


# ---- the post at its old permalink ---------------------------------------------------


def test_post_is_served_at_its_jekyll_permalink(site_build):
    page = _page(site_build.site, POST)
    titles = [
        text for hid, text in page.headings if text.startswith("Paper Explained 2")
    ]
    assert titles, "the post's title is its heading"
    canonical = [
        a["href"]
        for tag, a in page.tags
        if tag == "link" and a.get("rel") == "canonical"
    ]
    assert canonical == [site_build.url + "posts/2024/02/blog-post-2/"]


def test_post_math_is_marked_for_katex(site_build):
    article = article_html(site_build.site, POST)
    assert article.count('class="arithmatex"') >= 5
    assert "$$" not in html.unescape(re.sub(r"<[^>]+>", "", article))
    assert '<div class="arithmatex">\\[' in article, (
        "display math ($$...$$) becomes a block"
    )


def test_post_images_resolve(site_build):
    page = _page(site_build.site, POST)
    images = [a["src"] for tag, a in page.tags if tag == "img"]
    assert len(images) >= 4
    for src in images:
        assert not src.startswith("/"), (
            f"root-absolute image breaks under a sub-path: {src}"
        )
        target = _resolve(site_build, POST, src)
        assert target is not None and target.is_file(), f"{src} does not resolve"


@pytest.mark.parametrize(
    "page_rel",
    [
        POST,
        "posts/index.html",
        "index.html",
        "code/index.html",
        "tags/index.html",
        "posts/archive/2024/index.html",
    ],
)
def test_local_links_and_images_resolve(site_build, page_rel):
    page = _page(site_build.site, page_rel)
    for tag, attrs in page.tags:
        link = (
            attrs.get("src")
            if tag in {"img", "script"}
            else attrs.get("href")
            if tag in {"a", "link"}
            else None
        )
        if not link or link.startswith(("#", "mailto:", "data:")):
            continue
        target = _resolve(site_build, page_rel, link.split("#")[0])
        if target is not None:
            assert target.exists(), f"{page_rel}: <{tag}> {link} -> {target} missing"


def test_root_absolute_links_become_relative(site_build):
    home = _page(site_build.site, "index.html")
    links = [
        a["href"]
        for tag, a in home.tags
        if tag == "a" and "blog-post-2" in a.get("href", "")
    ]
    assert "posts/2024/02/blog-post-2/" in links, (
        "the Jekyll-style /posts/... link on the home page"
    )
    for page_rel in (POST, "index.html", "posts/index.html"):
        page = _page(site_build.site, page_rel)
        links = [
            a.get("href") or a.get("src") or ""
            for tag, a in page.tags
            if tag in {"a", "img"}
        ]
        rooted = [
            link for link in links if link.startswith("/") and not link.startswith("//")
        ]
        assert not rooted, (
            f"{page_rel}: root-absolute links break under a sub-path: {rooted}"
        )


def test_blog_index_shows_an_excerpt(site_build):
    article = article_html(site_build.site, "posts/index.html")
    assert "Paper Explained 2" in article
    assert "Tiếp tục đọc" in article, "a 'continue reading' link to the post"
    assert "Universal Approximation" not in article, (
        "only the first paragraph, not the whole post"
    )


def test_post_tags(site_build):
    tags_page = (site_build.site / "tags/index.html").read_text(encoding="utf-8")
    for name in ("Paper explained", "Deep Learning"):
        assert name in tags_page
    assert "../posts/2024/02/blog-post-2/" in tags_page
    post = (site_build.site / POST).read_text(encoding="utf-8")
    assert 'class="md-tag"' in post


# ---- code from the package -----------------------------------------------------------


def test_code_page_includes_the_sgu_section(site_build):
    from explainer.export import read_section

    section = read_section("gmlp_snippets/sgu.py:sgu")
    blocks = re.findall(
        r"<pre.*?</pre>", article_html(site_build.site, "code/index.html"), re.S
    )
    text = html.unescape(re.sub(r"<[^>]+>", "", "".join(blocks)))
    for line in section.splitlines():
        if line.strip():
            assert line.strip() in text, f"missing from the code page: {line.strip()}"
    assert "--8<--" not in text, "the include line itself must not show"


def test_one_file_model_is_served_at_the_root(site_build):
    from conftest import POST2

    from explainer import posts
    from explainer.export import render

    download = posts.read_post(str(POST2), "post 2").settings["download"]
    served = site_build.site / "gmlp.py"
    assert served.read_text(encoding="utf-8") == render(download, REPO)


def test_heading_ids_keep_vietnamese_letters(site_build):
    code = dict(_page(site_build.site, "code/index.html").headings)
    assert "đơn-vị-cổng-không-gian-sgu" in code
    headings = _page(site_build.site, POST).headings
    assert "giới-thiệu" in dict(headings)
    for hid, text in headings:
        for letter in "đơưăâêô":
            if letter in text.lower():
                assert letter in hid, f"{text!r} lost {letter!r}: #{hid}"


# ---- offline-clean: nothing is fetched from another host -----------------------------


def _remote(url: str) -> bool:
    parts = urlsplit(url.strip().strip("'\""))
    return (
        parts.scheme in {"http", "https", ""}
        and bool(parts.netloc)
        and parts.hostname not in LOCAL_HOSTS
    )


def test_no_request_to_a_third_party_host(site_build):
    offenders = []
    for path in site_build.site.rglob("*"):
        rel = path.relative_to(site_build.site)
        if path.suffix == ".html":
            page = _Page(path.read_text(encoding="utf-8"))
            for tag, attrs in page.tags:
                urls = []
                if tag in {
                    "script",
                    "img",
                    "iframe",
                    "source",
                    "audio",
                    "video",
                    "embed",
                }:
                    urls += [attrs.get("src", "")] + attrs.get("srcset", "").split(",")
                if (
                    tag == "link"
                    and set(attrs.get("rel", "").lower().split()) & FETCHING_RELS
                ):
                    urls.append(attrs.get("href", ""))
                offenders += [
                    f"{rel}: <{tag}> {u}" for u in urls if u and _remote(u.split()[0])
                ]
            css = page.styles
        elif path.suffix == ".css":
            css = [path.read_text(encoding="utf-8")]
        else:
            continue
        for block in css:
            offenders += [
                f"{rel}: url({u})"
                for u in re.findall(r"url\(([^)]*)\)", block)
                if _remote(u)
            ]
            offenders += [
                f"{rel}: @import {u}"
                for u in re.findall(r"@import\s+['\"]([^'\"]+)", block)
                if _remote(u)
            ]
    assert not offenders, "\n".join(offenders)


def test_katex_is_served_by_the_site(site_build):
    for name in (
        "vendor/katex/katex.min.js",
        "vendor/katex/katex.min.css",
        "vendor/katex/contrib/auto-render.min.js",
        "javascripts/katex.js",
    ):
        assert (site_build.site / name).is_file(), name
    css = (site_build.site / "vendor/katex/katex.min.css").read_text(encoding="utf-8")
    fonts = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert fonts and all(
        (site_build.site / "vendor/katex" / f).is_file() for f in fonts
    )
    post = (site_build.site / POST).read_text(encoding="utf-8")
    assert "vendor/katex/katex.min.js" in post and "javascripts/katex.js" in post


# ---- feeds, sitemap, search, 404 -----------------------------------------------------


def test_rss_feed_and_sitemap_list_the_post(site_build):
    post_url = site_build.url + "posts/2024/02/blog-post-2/"
    feed = (site_build.site / "feed_rss_created.xml").read_text(encoding="utf-8")
    assert f"<link>{post_url}</link>" in feed
    assert "<category>Deep Learning</category>" in feed
    assert "None" not in feed
    sitemap = (site_build.site / "sitemap.xml").read_text(encoding="utf-8")
    assert f"<loc>{post_url}</loc>" in sitemap


def test_unpublished_post_is_left_out(site_build):
    assert not list(site_build.site.rglob(f"*{UNPUBLISHED}*"))
    for name in (
        "sitemap.xml",
        "feed_rss_created.xml",
        "search/search_index.json",
        "tags.json",
        "posts/index.html",
        "tags/index.html",
    ):
        text = (site_build.site / name).read_text(encoding="utf-8")
        assert UNPUBLISHED not in text and "zyxwnhap" not in text, name


def test_search_index_is_vietnamese(site_build):
    index = json.loads(
        (site_build.site / "search/search_index.json").read_text(encoding="utf-8")
    )
    assert index["config"]["lang"] == ["vi"]
    post_docs = [
        d
        for d in index["docs"]
        if d["location"].startswith("posts/2024/02/blog-post-2/")
    ]
    text = " ".join(d["text"] + " " + d["title"] for d in post_docs)
    assert "người" in text and "chuẩn hóa" in text


def test_404_page_is_vietnamese(site_build):
    page = (site_build.site / "404.html").read_text(encoding="utf-8")
    assert "Không tìm thấy trang" in page
    assert f'href="/{site_build.url.split("/", 3)[3]}' in page, (
        "404 links work at any depth"
    )


# ---- failures name the file and the field --------------------------------------------


def _build_bad(mkdocs, tmp_path, case: str):
    """A strict build of the fixture posts in tests/fixtures/bad/<case>."""
    return mkdocs(
        "build",
        "--strict",
        "--site-dir",
        str(tmp_path / "site"),
        posts_dir=FIXTURES / "bad" / case,
        outputs_dir=tmp_path / "outputs",
        figures_check=False,  # the posts fail first; their figures are not the point
    )


@pytest.mark.faults
@pytest.mark.parametrize(
    "case, file, message",
    [
        ("missing-date", "2024-01-05-no-date.md", "field 'date' is missing"),
        ("clash", "2024-01-08-second.md", "field 'permalink' clashes with"),
        (
            "permalink-date",
            "2024-01-10-wrong-month.md",
            "field 'permalink' is '/posts/2023/12/wrong-month/'",
        ),
    ],
)
def test_bad_front_matter_fails_the_build(mkdocs, tmp_path, case, file, message):
    """The end-to-end cases: a post's check, the mount and the nav each stop a strict
    build with an ERROR that names the author's file (the other bad posts are checked
    as functions below)."""
    error = _first_error(_build_bad(mkdocs, tmp_path, case))
    assert f"ERROR   -  tests/fixtures/bad/{case}/{file}" in error, error
    assert message in error, error
    assert "posts/posts/" not in error, "the mounted path, not the author's file"


@pytest.mark.faults
def test_missing_katex_names_the_command(tmp_path):
    from explainer.plugin import ExplainerPlugin

    config = SimpleNamespace(
        config_file_path=str(tmp_path / "mkdocs.yml"),
        site_url="",
        repo_url="",
        plugins={},
        extra_css=["vendor/katex/katex.min.css"],  # the site asks for KaTeX
    )
    plugin = ExplainerPlugin()
    plugin.load_config({})
    with pytest.raises(Exception, match=r"KaTeX is missing.*make build.*npm ci"):
        plugin.on_config(config)


# ---- every bad post is named by its real file, with the field or line ----------------


def _first_error(result) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "Traceback" not in output, (
        f"a bare traceback instead of a message:\n{output[-2000:]}"
    )
    return next(line for line in output.splitlines() if line.startswith("ERROR"))


@pytest.mark.faults
@pytest.mark.parametrize(
    "case, file, where, message",
    [
        ("bad-yaml", "2024-01-06-bad-yaml.md", "", "not valid YAML (field 'tags'"),
        (
            "impossible-date",
            "2024-01-11-impossible-date.md",
            "field 'date' (line 3 of the file)",
            "must be a real date such as 2024-02-29, not 2024-02-30 "
            "(day is out of range for month)",
        ),
        (
            "not-utf8",
            "2024-01-12-latin1.md",
            "byte 0xe0 at offset 49 (line 6, byte 7 of the line)",
            "save the file as UTF-8",
        ),
        (
            "blog-field",
            "2024-01-15-bad-draft.md",
            "field 'draft'",
            "is not valid for the blog plugin, not 'maybe'",
        ),
        (
            "include-outside-fence",
            "2024-01-13-include-outside.md",
            ", line 8:",
            "the include '--8<-- \"gmlp_snippets/sgu.py:sgu\"' is outside a fenced "
            "code block, so the included code would be pasted into the page as "
            "Markdown; put it inside a fence: a line ```python before it and a line "
            "``` after it",
        ),
        (
            "missing-snippet",
            "2024-01-09-missing-snippet.md",
            ", line 10:",
            "Snippet section 'no-such-section' could not be located; "
            "the sections of gmlp_snippets/sgu.py are: ",
        ),
        (
            "missing-snippet-file",
            "2024-01-14-missing-file.md",
            ", line 9:",
            "Snippet at path 'gmlp_snippets/no_such_file.py' could not be found",
        ),
    ],
)
def test_bad_post_names_its_real_file(case, file, where, message):
    """A post's checks as the plugin runs them on each post (read_post, then
    check_includes), each message naming the file as shown, the field or line."""
    from explainer import posts
    from explainer.blocks import Markdown
    from explainer.engine import EngineError

    shown = f"tests/fixtures/bad/{case}/{file}"

    def check() -> None:
        post = posts.read_post(str(REPO / shown), shown)
        posts.check_includes(post, Markdown.of_site(REPO).snippets, str(REPO))

    error = raises_naming(EngineError, check, where, message)
    assert error.startswith(shown), error


@pytest.mark.faults
def test_mkdocs_link_warnings_name_the_real_post(mkdocs, tmp_path):
    result = _build_bad(mkdocs, tmp_path, "broken-link")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "in strict mode" in output, output[-2000:]
    warning = next(
        line for line in output.splitlines() if "khong-co-trang-nay.md" in line
    )
    assert (
        "Doc file 'tests/fixtures/bad/broken-link/2024-01-16-broken-link.md'" in warning
    ), warning


def test_include_checks_follow_the_fences(tmp_path):
    """Unit check of the include walk: fenced, escaped, block and unfenced includes."""

    from explainer import posts as hook
    from explainer.blocks import Markdown
    from explainer.engine import EngineError as PluginError

    snippets = Markdown(
        ("pymdownx.snippets",),
        {"pymdownx.snippets": {"base_path": [str(REPO)], "check_paths": True}},
    ).snippets
    head = "---\ntitle: t\ndate: 2024-01-01\n---\n"

    def check(body: str) -> None:
        text = head + body
        post = hook.Post(
            path="posts/2024-01-01-t.md",
            title="t",
            name="t",
            permalink=None,
            tags=None,
            text=text,
            body_line=5,
        )
        hook.check_includes(post, snippets, str(REPO))

    check('```python\n--8<-- "gmlp_snippets/sgu.py:sgu"\n```\n')  # fenced: fine
    check(';--8<-- "gmlp_snippets/none.py"\n')  # escaped: shown as text, not an include
    check(
        "~~~text\n--8<--\ngmlp_snippets/sgu.py:sgu\n--8<--\n~~~\n"
    )  # block form, fenced
    with pytest.raises(
        PluginError, match=r"^posts/2024-01-01-t\.md, line 7: the include '--8<-- / "
    ):
        check("\ntext\n--8<--\ngmlp_snippets/sgu.py:sgu\n--8<--\n")
    with pytest.raises(
        PluginError, match=r"line 8: the include 'gmlp_snippets/sgu.py:nope' failed"
    ):
        check(
            "```\n--8<--\ngmlp_snippets/sgu.py:sgu\ngmlp_snippets/sgu.py:nope\n--8<--\n```\n"
        )
    with pytest.raises(PluginError, match=r"line 9: .* is outside a fenced code block"):
        check('```python\nx = 1\n```\n\n--8<-- "gmlp_snippets/sgu.py:sgu"\n')


def test_the_site_builds_unchanged_with_properdocs(site_build, tmp_path):
    """ProperDocs (the MkDocs 1.6 fork) runs the same plugin on the same mkdocs.yml and
    gives the same post page."""
    import os
    import subprocess

    properdocs = Path(sys.executable).with_name("properdocs")
    site, tmp = tmp_path / "site", site_build.site.parents[1]
    env = {
        **os.environ,
        "SITE_URL": site_build.url,
        "GMLP_POSTS_DIR": str(tmp / "posts"),
        "GMLP_ASSETS_DIR": str(tmp / "assets"),
        "GMLP_OUTPUTS_DIR": str(tmp / "outputs"),
        "GMLP_FIGURES_CHECK": str(not site_build.placeholders).lower(),
    }
    result = subprocess.run(
        [str(properdocs), "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = "posts/2024/02/blog-post-2/index.html"
    assert article_html(site, page) == article_html(site_build.site, page)


def test_a_build_reads_each_post_store_and_manifest_once(
    site_build, tmp_path, monkeypatch
):
    """One reader of each file per build: a post, its block store, a figure manifest
    (the build of the session's sources, in this process, with the reads counted)."""
    from collections import Counter

    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from explainer import engine, posts

    tmp = site_build.site.parents[1]
    for name in ("posts", "assets", "outputs"):
        monkeypatch.setenv(f"GMLP_{name.upper()}_DIR", str(tmp / name))
    monkeypatch.setenv("GMLP_FIGURES_CHECK", str(not site_build.placeholders).lower())
    reads = Counter()
    store_read, post_read = engine.Store._read, posts._read_text

    def count_store(store):
        reads[store.path.name] += 1
        return store_read(store)

    def count_post(path, shown):
        reads[Path(path).name] += 1
        return post_read(path, shown)

    monkeypatch.setattr(engine.Store, "_read", count_store)
    monkeypatch.setattr(posts, "_read_text", count_post)
    config = load_config(str(REPO / "mkdocs.yml"), site_dir=str(tmp_path / "site"))
    config.plugins.on_startup(command="build", dirty=False)
    try:
        build(config)
    finally:
        config.plugins.on_shutdown()
    published = "2024-02-02-blog-post-2"
    assert {f"{published}.md", f"{published}.json", "manifest.json"} <= set(reads)
    assert set(reads.values()) == {1}, reads
