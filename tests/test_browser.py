"""The built site in a real browser: Debian's headless Chromium driven by Playwright.

The session's build (conftest.py) is served by a stdlib HTTP server under the sub-path
/gmlp-explained/, as GitHub Pages serves a project site. Every request to another host
is blocked and counted: the site must work offline. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import contrast, guarded_page, serving, shot

POST = "posts/2024/02/blog-post-2/"

pytestmark = [pytest.mark.browser, pytest.mark.site]


@pytest.fixture(scope="module")
def server(site_build):
    with serving(site_build.site.parent, site_build.port):
        yield site_build.url


@pytest.fixture
def tab(browser, server):
    """A fresh page; at teardown, no request left 127.0.0.1 and nothing was logged as an
    error."""
    viewport = {"width": 1280, "height": 900}
    with guarded_page(browser, viewport=viewport, locale="vi-VN") as page:
        page.base = server
        yield page


def _open(page, path: str):
    page.goto(page.base + path, wait_until="networkidle")
    return page


def _math_state(page) -> dict:
    return page.evaluate("""() => {
        const article = document.querySelector("article");
        const math = [...article.querySelectorAll(".arithmatex")];
        return {
            total: math.length,
            typeset: math.filter(el => el.querySelector(".katex")).length,
            errors: article.querySelectorAll(".katex-error").length,
            raw: /\\$\\$|\\\\\\(|\\\\\\[/.test(article.innerText),
        };
    }""")


def test_post_math_and_images(tab):
    _open(tab, POST)
    tab.wait_for_selector("article .arithmatex .katex")
    math = _math_state(tab)
    assert math["total"] >= 5 and math["typeset"] == math["total"], math
    assert math["errors"] == 0 and not math["raw"], math
    images = tab.evaluate(
        """() => [...document.querySelectorAll("article img")]
        .map(img => ({src: img.currentSrc, """
        """ok: img.complete && img.naturalWidth > 0}))"""
    )
    assert len(images) >= 4
    assert all(image["ok"] for image in images), images
    assert all("/gmlp-explained/assets/" in image["src"] for image in images), images
    shot(tab, "post")
    tab.locator("article .katex-display").first.scroll_into_view_if_needed()
    shot(tab, "post-math")


def test_code_blocks_have_a_copy_button(tab):
    _open(tab, "code/")
    copy = 'pre [data-md-type="copy"], pre .md-clipboard'  # Material 9.8 / earlier 9.x
    tab.wait_for_selector(copy)
    assert tab.locator(copy).count() >= 1
    assert "class SpatialGatingUnit" in tab.locator("pre").first.inner_text()
    shot(tab, "code")


def _outputs_state(page) -> list[dict]:
    """Each output box of the article: the code block right above it and what it
    shows."""
    return page.evaluate(
        """() => [...document.querySelectorAll("article .exec-output")]"""
        """.map(box => {
        const before = box.previousElementSibling;
        const rect = box.getBoundingClientRect();
        const pre = box.querySelector("pre");
        return {
            label: box.querySelector(".exec-output__label").innerText,
            text: box.querySelector("pre code").innerText,
            underCode: !!before && before.matches(".highlight, div.language-python")
                       && before.getBoundingClientRect().bottom <= rect.top + 1,
            code: before ? before.querySelector("pre code").innerText : "",
            fg: getComputedStyle(pre.querySelector("code")).color,
            bg: getComputedStyle(box).backgroundColor,
            pageWidth: document.documentElement.scrollWidth,
            viewport: window.innerWidth,
        };
    })"""
    )


@pytest.mark.parametrize(
    "scheme, width",
    [("default", 1280), ("slate", 1280), ("default", 390)],
    ids=["light", "dark", "phone"],
)
def test_outputs_show_under_their_blocks(tab, scheme, width):
    tab.set_viewport_size({"width": width, "height": 900})
    tab.add_init_script(
        f"localStorage.setItem('/gmlp-explained/.__palette', "
        f"JSON.stringify({{index: {0 if scheme == 'default' else 1}, "
        f"color: {{scheme: '{scheme}', primary: 'indigo', accent: 'indigo'}}}}))"
    )
    _open(tab, POST)
    assert tab.evaluate("document.body.dataset.mdColorScheme") == scheme
    boxes = _outputs_state(tab)
    assert len(boxes) >= 10, len(boxes)
    for box in boxes:
        assert box["label"] == "Kết quả" and box["text"].strip(), box
        assert box["underCode"], (
            f"an output is not right under a code block: {box['text'][:80]}"
        )
        assert contrast(box["fg"], box["bg"]) >= 4.5, box
    assert boxes[0]["pageWidth"] <= boxes[0]["viewport"], "an output widens the page"
    causal = next(b for b in boxes if "token bị sửa" in b["text"])
    assert "token 0: đúng bằng 0" in causal["text"] and "print(" in causal["code"]
    tab.locator("article .exec-output").nth(2).scroll_into_view_if_needed()
    shot(tab, f"outputs-{scheme}-{width}")


def test_the_copy_button_copies_the_code_alone(tab):
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _open(tab, POST)
    box = tab.locator("article .exec-output").first
    code_block = box.locator("xpath=preceding-sibling::*[1]")
    code_block.hover()
    code_block.locator('[data-md-type="copy"], .md-clipboard').first.click()
    copied = tab.evaluate("navigator.clipboard.readText()")
    shown = code_block.locator("pre code").inner_text()
    assert copied.strip() == shown.strip() and copied.strip()
    assert box.locator("pre code").inner_text().strip() not in copied
    assert "Kết quả" not in copied


@pytest.mark.parametrize("query", ["người", "chuẩn hóa"])
def test_vietnamese_search_finds_the_post(tab, query):
    _open(tab, "")
    tab.locator("input.md-search__input").click()
    tab.locator("input.md-search__input").press_sequentially(
        query, delay=30
    )  # as typed
    tab.wait_for_selector(".md-search-result__item")
    links = tab.eval_on_selector_all(
        ".md-search-result__item a", "els => els.map(a => a.href)"
    )
    assert any(POST in link for link in links), links
    shot(tab, "search")


def test_instant_navigation_keeps_math(tab):
    _open(tab, "posts/")
    tab.evaluate("window.__sameDocument = true")
    tab.locator(f'article a[href$="{POST.split("/", 1)[1]}"]').first.click()
    tab.wait_for_url(f"**/{POST}")
    tab.wait_for_selector("article .arithmatex .katex")
    assert tab.evaluate("window.__sameDocument === true"), (
        "navigation reloaded the page (not instant)"
    )
    math = _math_state(tab)
    assert math["typeset"] == math["total"] >= 5 and not math["raw"], math
    shot(tab, "instant-navigation")


def test_light_dark_toggle(tab):
    _open(tab, "")
    scheme = tab.evaluate("document.body.dataset.mdColorScheme")
    tab.locator("form[data-md-component=palette] label:visible").first.click()
    tab.wait_for_function("s => document.body.dataset.mdColorScheme !== s", arg=scheme)
    assert tab.evaluate("document.body.dataset.mdColorScheme") in {"default", "slate"}
    shot(tab, "palette")


def test_notebook_page_outputs_math_and_download(tab):
    _open(tab, "notebooks/tu-tay-chay-gmlp/")
    tab.wait_for_selector(".jp-RenderedMarkdown .katex")
    state = tab.evaluate(
        """() => {
        const cells = [...document.querySelectorAll(".jp-RenderedMarkdown")];
        return {
            typeset: cells.reduce((n, c) => n + c.querySelectorAll(".katex").length, 0),
            raw: cells.some(c => /\\$[^$]+\\$/.test(c.innerText)),
            errors: document.querySelectorAll(".katex-error").length,
            outputs: [...document.querySelectorAll(".jp-OutputArea-output pre")]"""
        """.map(p => p.innerText).join("\\n"),
            plots: [...document.querySelectorAll(".jp-OutputArea-output img")]
                .filter(img => img.complete && img.naturalWidth > 0).length,
        };
    }"""
    )
    assert state["typeset"] >= 5 and not state["raw"] and state["errors"] == 0, state
    assert "loss:" in state["outputs"] and "Trăm năm" in state["outputs"], state[
        "outputs"
    ][:500]
    assert state["plots"] >= 1, "the spatial-weight plot did not load"
    shot(tab, "notebook")
    with tab.expect_download() as download_info:
        tab.locator("a[download]", has_text="Tải notebook").click()
    download = download_info.value
    assert download.suggested_filename == "tu-tay-chay-gmlp.ipynb"
    import json

    notebook = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4 and any(
        "GMLPForCausalLM" in "".join(c["source"]) for c in notebook["cells"]
    )
