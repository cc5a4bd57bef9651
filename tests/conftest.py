"""Shared fixtures: one strict build of the site per test session."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
POST2 = REPO / "posts" / "2024-02-02-blog-post-2.md"  # the post on gMLP
SUB_PATH = "gmlp-explained"  # the site is served under /<repo>/, as on GitHub Pages


# ---- one helper each, for every room ----------------------------------------------


def raises_naming(error: type[Exception], fn: Callable[[], object], *parts: str) -> str:
    """fn() raises error, and each part (the field, what it expected) is in its text."""
    with pytest.raises(error) as caught:
        fn()
    message = str(caught.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def download_sections() -> list[str]:
    """The sections of post 2's one-file download (gmlp.py), from its front matter."""
    from explainer import posts

    return posts.read_post(str(POST2), "post 2").settings["download"]["sections"]


def figure_checker(figures, text: str, figures_check: bool = True):
    """The site's figure check (the plugin's), for a FigureSet and a page's text."""
    from explainer.plugin import ExplainerPlugin, linked_files

    plugin = ExplainerPlugin()
    errors, _ = plugin.load_config({"figures_check": figures_check})
    assert not errors, errors
    plugin.on_pre_build(None)
    plugin.figure_sets = {figures.name: figures}
    plugin.linked = linked_files(text)
    return plugin.check_figures


def n_params(model) -> int:
    """The number of parameters of a torch module (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters())


def snapshot(folder: Path, mtimes: bool = True) -> dict[str, object]:
    """Every file under folder by relative path: (mtime, bytes), or bytes alone."""
    return {
        p.relative_to(folder).as_posix(): (
            (p.stat().st_mtime_ns, p.read_bytes()) if mtimes else p.read_bytes()
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


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


def article_html(site: Path, rel: str) -> str:
    """The <article> of a built page (the page's own content, without the theme)."""
    text = (site / rel).read_text(encoding="utf-8")
    return text[text.index("<article") : text.rindex("</article>")]


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


def sub_path_site(tmp: Path) -> tuple[Path, str, int]:
    """Where to build a site served under /<SUB_PATH>/ on a free port: (its folder under
    tmp/www, its URL, the port); serve tmp/www on that port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return tmp / "www" / SUB_PATH, f"http://127.0.0.1:{port}/{SUB_PATH}/", port


@pytest.fixture(scope="session")
def site_build(tmp_path_factory) -> SiteBuild:
    """The real posts plus an unpublished fixture post, built --strict under a
    sub-path."""
    tmp = tmp_path_factory.mktemp("site")
    posts = tmp / "posts"
    posts.mkdir()
    for post in [*(REPO / "posts").glob("*.md"), *(FIXTURES / "posts").glob("*.md")]:
        shutil.copy(post, posts / post.name)
        if post.with_suffix("").is_dir():  # its figure code, named as in the repository
            (posts / post.stem).symlink_to(post.with_suffix(""))
    placeholders = assets_with_placeholders(posts, tmp / "assets")
    shutil.copytree(REPO / "outputs", tmp / "outputs")  # stored: nothing re-runs

    site, url, port = sub_path_site(tmp)
    result = run_mkdocs(
        "build",
        "--strict",
        "--site-dir",
        str(site),
        posts_dir=posts,
        assets_dir=tmp / "assets",
        outputs_dir=tmp / "outputs",
        site_url=url,
        figures_check=not placeholders,
    )
    if result.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}")
    return SiteBuild(site=site, url=url, port=port, placeholders=placeholders)


# ---- a real browser: Debian's Chromium driven by Playwright -----------------------

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"  # screenshots


def require_chromium():
    """playwright.sync_api, checked where a test first needs the browser.

    Without Debian's Chromium the test is skipped, or fails under CI=true: CI must not
    pass without the browser checks. A run that deselects them (`-m "not browser"`)
    never gets here.
    """
    if not CHROMIUM.exists():
        message = f"no {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(
                message + " (CI=true: failing instead of skipping)", pytrace=False
            )
        pytest.skip(message)
    return pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed (pip install -e .[test])",
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serving(directory: Path, port: int = 0) -> Iterator[int]:
    """Serve `directory` on 127.0.0.1 (port 0: any free one); yields the port."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, without the background requests a closed network refuses."""
    with require_chromium().sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@contextlib.contextmanager
def guarded_page(browser, console: Sequence[str] = ("error",), **context_options):
    """A fresh page that may request 127.0.0.1 only (`page.requested` lists every
    request). On leaving: nothing was blocked, and no console message of the `console`
    types and no page error was logged."""
    context = browser.new_context(**context_options)
    blocked: list[str] = []
    errors: list[str] = []
    requested: list[str] = []

    def guard(route):
        url = route.request.url
        requested.append(url)
        parts = urlsplit(url)
        web = parts.scheme in {"http", "https", "ws", "wss"}
        if web and parts.hostname != "127.0.0.1":
            blocked.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on(
        "console", lambda msg: errors.append(msg.text) if msg.type in console else None
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.requested = requested
    try:
        yield page
    finally:
        context.close()
    assert blocked == [], f"requests to other hosts: {blocked}"
    assert errors == [], f"console messages: {errors}"


def shot(page, name: str, full_page: bool = False) -> None:
    """A screenshot into test-artifacts/, to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def contrast(fg, bg) -> float:
    """WCAG contrast ratio of a text colour over a background colour: CSS strings
    ("rgb(...)", "rgba(...)") or sequences of numbers; a text alpha is blended over
    the background."""

    def channels(colour) -> list[float]:
        if isinstance(colour, str):
            return [float(v) for v in re.findall(r"[\d.]+", colour)]
        return [float(v) for v in colour]

    fg, bg = channels(fg), channels(bg)[:3]
    if len(fg) == 4:  # the colour as drawn over the background
        fg = [fg[3] * f + (1 - fg[3]) * b for f, b in zip(fg[:3], bg, strict=True)]

    def luminance(rgb) -> float:
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# every visible text under a selector: its colour and the first opaque background behind
_TEXT_COLOURS = """(texts) => {
    const nums = (s) => s.match(/[\\d.]+/g).map(Number)
    const clear = (s) => /^rgba\\(.*, 0\\)$/.test(s)
    const page = nums(getComputedStyle(document.body).backgroundColor).slice(0, 3)
    return [...document.querySelectorAll(texts)]
        .filter(e => e.textContent.trim() && e.offsetParent)
        .map(e => {
            let box = e
            let back = 'rgba(0, 0, 0, 0)'
            while (box && clear(back)) {
                back = getComputedStyle(box).backgroundColor
                box = box.parentElement
            }
            return { text: e.textContent.slice(0, 30), page,
                     fg: nums(getComputedStyle(e).color).slice(0, 4),
                     bg: clear(back) ? page : nums(back).slice(0, 4) }
        })
}"""


def low_contrast(page, texts: str, minimum: float) -> tuple[int, list]:
    """(how many texts match the CSS selector `texts`, those whose WCAG contrast is
    below minimum as (text, ratio)); a translucent background is blended over the
    page's."""
    items = page.evaluate(_TEXT_COLOURS, texts)
    low = []
    for item in items:
        bg = item["bg"]
        if len(bg) == 4:
            a = bg[3]
            bg = [
                a * c + (1 - a) * p for c, p in zip(bg[:3], item["page"], strict=True)
            ]
        ratio = contrast(item["fg"], bg)
        if ratio < minimum:
            low.append((item["text"], round(ratio, 2)))
    return len(items), low
