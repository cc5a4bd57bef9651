"""The post's Spatial Gating Unit explorable (docs/javascripts/sgu-explorable.js).

Its computation is checked against gmlp_snippets.SpatialGatingUnit on a bare page that
loads the script alone. The explorable itself is driven from the keyboard, in light,
dark and at phone width, on a small post built with the site's own configuration; one
test checks that the real post (the session's strict build, conftest.py) mounts it.
Every request to another host is blocked and counted, and a console error fails a test.
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlsplit

import pytest
from conftest import (
    REPO,
    SUB_PATH,
    guarded_page,
    low_contrast,
    serving,
    shot,
    sub_path_site,
)

JS = REPO / "docs" / "javascripts" / "sgu-explorable.js"
POST = "posts/2024/02/blog-post-2/"
CHOICES = ["identity", "shift", "average", "random"]
N, D_FFN = 8, 8
TOLERANCE = 1e-5

pytestmark = [pytest.mark.browser]

torch = pytest.importorskip("torch")

from gmlp_snippets import SpatialGatingUnit  # noqa: E402

BARE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>SGU</title></head>
<body><script src="sgu-explorable.js"></script></body></html>"""

COMPUTE = "([z, w, b, gate]) => sguExplorable.compute(z, w, b, gate)"

# the text of every cell of the explorable's k-th table: 0 W, 1 norm(Z2), 2 f, 3 Z1,
# 4 f again, 5 s(Z)
CELLS = """(k) => Array.from(document.querySelectorAll('.sgu-explorable table')[k]
    .querySelectorAll('td'), td => td.textContent)"""
Z1, OUTPUT = 3, 5

UNLABELLED = """() => [...document.querySelectorAll('.sgu-explorable input')]
    .filter(c => !c.labels || c.labels.length === 0).map(c => c.outerHTML)"""

SCROLL_TO = """() => {  // the explorable at the top, below Material's header
    document.querySelector('.sgu-explorable').scrollIntoView()
    window.scrollBy(0, -document.querySelector('.md-header').offsetHeight - 8)
}"""

WIDTHS = """() => ({
    page: document.documentElement.scrollWidth,
    viewport: document.documentElement.clientWidth,
    rows: [...document.querySelectorAll('.sgu-explorable__row')]
        .map(r => r.scrollWidth - r.clientWidth),
})"""

# every text of the explorable, for its contrast
TEXTS = ".sgu-explorable :is(p, legend, label, span, caption, th, td)"


def _package(z, w, b) -> tuple[torch.Tensor, torch.Tensor]:
    """The package's s(Z) and gate f(Z2) (s with Z1 = 1) for this W and b."""
    sgu = SpatialGatingUnit(D_FFN, seq_len=N, causal=False).double()
    with torch.no_grad():
        sgu.weight.copy_(torch.tensor(w, dtype=torch.float64))
        sgu.bias.copy_(torch.tensor(b, dtype=torch.float64))
        z = torch.tensor([z], dtype=torch.float64)
        ones = torch.cat(
            [torch.ones_like(z[..., : D_FFN // 2]), z[..., D_FFN // 2 :]], -1
        )
        return sgu(z)[0], sgu(ones)[0]


def _worst(js, expected: torch.Tensor) -> float:
    return float((torch.tensor(js, dtype=torch.float64) - expected).abs().max())


# ---- the computation, on a bare page ------------------------------------------------


@pytest.fixture(scope="module")
def bare(browser, tmp_path_factory):
    root = tmp_path_factory.mktemp("sgu")
    (root / "index.html").write_text(BARE, encoding="utf-8")
    (root / JS.name).write_bytes(JS.read_bytes())
    with serving(root) as port, guarded_page(browser) as page:
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        yield page


def test_the_choices_of_w_are_what_the_ui_says(bare):
    w = {
        name: torch.tensor(bare.evaluate(f"sguExplorable.W.{name}")) for name in CHOICES
    }
    assert torch.equal(w["identity"], torch.eye(N))
    assert torch.equal(w["shift"], torch.diag(torch.ones(N - 1), -1))  # i reads i-1
    band = (torch.arange(N)[:, None] - torch.arange(N)[None, :]).abs() <= 1
    assert torch.equal(w["average"] > 0, band)
    assert torch.allclose(w["average"].sum(1), torch.ones(N))  # a mean: rows sum to 1
    assert w["random"].abs().max() <= 0.5 and w["random"].count_nonzero() > N * N // 2
    again = bare.evaluate("sguExplorable.W.random")  # a fixed seed
    assert torch.equal(w["random"], torch.tensor(again))
    assert torch.tensor(bare.evaluate("sguExplorable.Z")).shape == (N, D_FFN)


@pytest.mark.parametrize("gate", [True, False], ids=["gate-on", "gate-off"])
@pytest.mark.parametrize("choice", CHOICES)
def test_js_equals_the_package(bare, choice, gate):
    z = bare.evaluate("sguExplorable.Z")
    w = bare.evaluate(f"sguExplorable.W.{choice}")
    js = bare.evaluate(COMPUTE, [z, w, 1, gate])
    # gate off is defined as f = 1: the package's unit with W = 0 and b = 1, s(Z) = Z1
    s, f = _package(z, w if gate else [[0.0] * N] * N, [1.0] * N)
    assert _worst(js["s"], s) < TOLERANCE and _worst(js["f"], f) < TOLERANCE
    z1 = torch.tensor(z, dtype=torch.float64)[:, : D_FFN // 2]
    assert _worst(js["z1"], z1) == 0
    if gate:  # the gate changes every W's output
        assert _worst(js["s"], z1) > 0.1


def test_b_is_one_number_per_token(bare):
    z = bare.evaluate("sguExplorable.Z")
    w = bare.evaluate("sguExplorable.W.random")
    b = [0.5 - 0.25 * i for i in range(N)]
    js = bare.evaluate(COMPUTE, [z, w, b, True])
    s, f = _package(z, w, b)
    assert _worst(js["s"], s) < TOLERANCE and _worst(js["f"], f) < TOLERANCE


@pytest.mark.parametrize(
    "args, message",
    [
        ("[Z.map(r => r.slice(1)), W.identity, 1]", "expected z n rows"),
        ("[Z, W.identity.slice(1), 1]", "expected w of shape (8, 8)"),
        ("[Z, W.identity, [1, 1]]", "expected b a number or 8 numbers"),
    ],
    ids=["odd-channels", "w-shape", "b-length"],
)
def test_bad_input_is_named(bare, args, message):
    call = f"""() => {{
        const {{ Z, W, compute }} = sguExplorable
        try {{ compute(...{args}); return 'no error' }} catch (e) {{ return e.message }}
    }}"""
    text = bare.evaluate(call)
    assert text.startswith("sguExplorable.compute: ") and message in text, text


# ---- the explorable on a page of the site -----------------------------------------

# a post that holds the explorable alone: built in seconds with the site's theme,
# mkdocs.yml (which loads the script and its CSS) and hooks, whatever the state of the
# figures and the real post's blocks
SMALL_POST = """---
title: SGU
date: 2024-02-02
permalink: /posts/2024/02/sgu/
---

# Spatial Gating Unit

Trước ô.

<div class="sgu-explorable"></div>

Sau ô.
"""
SMALL = "posts/2024/02/sgu/"


@pytest.fixture(scope="module")
def server(mkdocs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sgu-site")
    (tmp / "posts").mkdir()
    (tmp / "posts" / "2024-02-02-sgu.md").write_text(SMALL_POST, encoding="utf-8")
    site, url, port = sub_path_site(tmp)
    built = mkdocs(
        "build",
        "--site-dir",
        str(site),
        posts_dir=tmp / "posts",
        outputs_dir=tmp / "outputs",
        site_url=url,
        figures_check=False,
    )
    assert built.returncode == 0, built.stderr
    with serving(site.parent, port):
        yield url


@contextlib.contextmanager
def _page(browser, url, scheme="default", width=1280):
    """A page of the site in a guarded tab, in the given palette and width; on leaving,
    nothing was requested but from 127.0.0.1."""
    viewport = {"width": width, "height": 1600}
    with guarded_page(browser, viewport=viewport, locale="vi-VN") as page:
        palette = {
            "index": 0 if scheme == "default" else 1,
            "color": {"scheme": scheme, "primary": "indigo", "accent": "indigo"},
        }
        key = f"/{SUB_PATH}/.__palette"
        page.add_init_script(f"localStorage.setItem('{key}', '{json.dumps(palette)}')")
        page.goto(url, wait_until="networkidle")
        yield page
        hosts = {urlsplit(url).hostname for url in page.requested}
        assert hosts == {"127.0.0.1"}, page.requested


def test_the_explorable_mounts_and_works_from_the_keyboard(browser, server):
    with _page(browser, server + SMALL) as page:
        root = page.locator(".sgu-explorable[data-sgu-mounted]")
        assert root.count() == 1
        assert root.locator("table").count() == 6  # W, norm(Z2), f, Z1, f, s(Z)
        assert root.locator("td[title]").count() == N * N + 5 * N * D_FFN // 2
        assert page.evaluate(UNLABELLED) == []
        identity = page.evaluate(CELLS, OUTPUT)

        root.locator("input[type=radio]").first.focus()
        page.keyboard.press("ArrowDown")  # the next W: shift by one
        assert (
            root.locator("input:checked[type=radio]").get_attribute("value") == "shift"
        )
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "no visible focus"
        shifted = page.evaluate(CELLS, OUTPUT)
        assert shifted != identity
        z1 = page.evaluate(CELLS, Z1)
        assert shifted[: D_FFN // 2] == z1[: D_FFN // 2]  # token 0 reads no one: s = Z1
        assert "hàng i − 1" in root.locator("[role=status]").inner_text()

        page.keyboard.press("Tab")  # the gate
        assert page.evaluate("document.activeElement.type") == "checkbox"
        page.keyboard.press("Space")
        assert not root.locator("input[type=checkbox]").is_checked()
        assert page.evaluate(CELLS, OUTPUT) == z1  # gate off: s(Z) = Z1
        assert "tắt" in root.locator("[role=status]").inner_text()


@pytest.mark.parametrize(
    "name, scheme, width",
    [("light", "default", 1280), ("dark", "slate", 1280), ("phone", "default", 360)],
)
def test_the_explorable_reads_in_light_dark_and_on_a_phone(
    browser, server, name, scheme, width
):
    with _page(browser, server + SMALL, scheme, width) as page:
        page.locator(".sgu-explorable input[value=average]").check()
        page.evaluate(SCROLL_TO)
        shot(page, f"sgu-explorable-{name}")
        widths = page.evaluate(WIDTHS)
        count, low = low_contrast(page, TEXTS, 4.5)
    assert widths["page"] <= widths["viewport"], widths
    assert widths["rows"] == [0, 0], widths  # no table cut off in its row
    assert count and low == [], f"{scheme}: low contrast {low}"


def test_instant_navigation_mounts_it_once(browser, server):
    with _page(browser, server + "posts/") as page:
        page.evaluate("window.sameDocument = true")
        page.locator(f'article a[href$="{SMALL}"]').first.click()
        page.wait_for_selector(".sgu-explorable[data-sgu-mounted] table")
        assert page.evaluate("window.sameDocument")  # Material swapped the page in
        assert page.locator(".sgu-explorable table").count() == 6


def test_without_javascript_nothing_shows_and_nothing_breaks(browser, server):
    with guarded_page(browser, java_script_enabled=False) as page:
        page.goto(server + SMALL, wait_until="networkidle")
        root = page.locator(".sgu-explorable")
        assert root.count() == 1 and root.inner_html() == ""
        assert not root.is_visible()
        assert page.get_by_text("Sau ô.").is_visible()


@pytest.mark.site
def test_the_post_mounts_it(browser, site_build):
    """The real post, in the session's strict build."""
    with serving(site_build.site.parent, site_build.port):
        with _page(browser, site_build.url + POST) as page:
            root = page.locator(".sgu-explorable[data-sgu-mounted]")
            assert root.count() == 1 and root.locator("table").count() == 6
            page.evaluate(SCROLL_TO)
            shot(page, "sgu-explorable-post")
