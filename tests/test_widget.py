"""The post's live gMLP: the exported weights (fig_tiny_lm.py of the post) and the
widget that runs them in the reader's browser (docs/javascripts/gmlp-widget.js).

The weights are built at the hidden `test` profile (a second of training) into a
temporary folder, next to a page laid out like the post (the same relative URL to the
weights), Material's own CSS and a stand-in for Material's document$. A stdlib HTTP
server on 127.0.0.1 serves it to Debian's headless Chromium; every request to another
host is blocked and counted, and a console error or warning fails the test. The JS
logits are compared with torch's GMLPForCausalLM loaded from the same .bin.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import REPO, guarded_page, low_contrast, n_params, serving, shot

JS = REPO / "docs" / "javascripts" / "gmlp-widget.js"
CSS = REPO / "docs" / "stylesheets" / "widget.css"
POST = "posts/2024/02/blog-post-2/"  # the page sits where the post does
QUICK = "../../../../quick/tiny_lm.json"  # the post's size (quick profile), untrained
TOLERANCE = 1e-4

pytestmark = [pytest.mark.browser]

torch = pytest.importorskip("torch")

from explainer.figures import build, find  # noqa: E402
from gmlp_snippets import GMLPForCausalLM  # noqa: E402

POST2 = next(s for s in find(REPO / "posts", REPO) if s.matches("blog-post-2"))
fig_tiny_lm, training = POST2.module("fig_tiny_lm"), POST2.module("training")
FIGURES = Path("assets") / POST2.folder  # the post's figures, in the site
WEIGHTS = f"../../../../{FIGURES.as_posix()}/tiny_lm.json"  # the post's data-weights

PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gMLP widget</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="../../../../material/main.css">
<link rel="stylesheet" href="../../../../material/palette.css">
<link rel="stylesheet" href="../../../../stylesheets/widget.css">
<script>
// Material's document$, reduced to what the widget uses: it replays the current page to
// a new subscriber, and emits again after each instant navigation (document$.next()).
window.document$ = {
  subscribers: [],
  subscribe(fn) {
    this.subscribers.push(fn)
    fn(document)
    return { unsubscribe() {} }
  },
  next() { for (const fn of this.subscribers) fn(document) },
}
</script>
</head>
<body dir="ltr" data-md-color-scheme="default" data-md-color-primary="indigo"
      data-md-color-accent="indigo">
<div class="md-container"><main class="md-main"><div class="md-main__inner md-grid">
<div class="md-content"><article class="md-content__inner md-typeset">
<h1>W học được gì?</h1>
<p>Trước widget.</p>
<div class="gmlp-widget" data-weights="__WEIGHTS__"></div>
<p>Sau widget.</p>
</article></div></div></main></div>
<script src="../../../../javascripts/gmlp-widget.js"></script>
</body></html>
"""

# true once the widget has its model and both continuations are written
READY = """() => {
    const w = document.querySelector('.gmlp-widget[data-gmlp-mounted]')
    if (!w || w.querySelector('textarea').disabled) return false
    return [...w.querySelectorAll('output.gmlp-widget__text')]
        .every(o => o.getAttribute('aria-busy') === 'false')
}"""

# max |logits of DecodeCache.append - the last row of forward| over a prompt
CACHE_VS_FORWARD = """(ids) => {
    const cache = new gmlpWidget.DecodeCache(m)
    let worst = 0
    for (let t = 0; t < ids.length; t++) {
        const row = cache.append(ids[t])
        const full = m.forward(ids.slice(0, t + 1)).logits.subarray(t * 256)
        for (let k = 0; k < 256; k++) {
            worst = Math.max(worst, Math.abs(row[k] - full[k]))
        }
    }
    return worst
}"""

UNLABELLED = """() => [...document.querySelectorAll(
        '.gmlp-widget :is(textarea, input, select)')]
    .filter(c => !c.labels || c.labels.length === 0).map(c => c.outerHTML)"""

SET_TEXT = """(text) => {
    const input = document.querySelector('.gmlp-widget textarea')
    input.value = text
    input.dispatchEvent(new Event('input', { bubbles: true }))
}"""

REMOUNT = """(url) => {  // what instant navigation does: a new element, document$ emits
    const fresh = document.createElement('div')
    fresh.className = 'gmlp-widget'
    fresh.dataset.weights = url
    document.querySelector('.gmlp-widget').replaceWith(fresh)
    document$.next()
    document$.next()  // a second emission must not mount it twice
}"""

NOTE_HAS = "(s) => document.querySelector('.gmlp-widget__note').textContent.includes(s)"

WIDTHS = """() => ({
    page: document.documentElement.scrollWidth,
    viewport: document.documentElement.clientWidth,
    widest: Math.max(...[...document.querySelectorAll('.gmlp-widget *')]
                      .map(e => e.getBoundingClientRect().right)),
})"""

TEXTS = ".gmlp-widget :is(p, label, output, span, textarea)"  # every text it shows


# ---- the export ----------------------------------------------------------------------


def _build(out: Path) -> Path:
    results = build(
        POST2, out, ["tiny_lm"], profile="test", device="cpu", progress=False
    )
    assert [(r.name, r.status) for r in results] == [("tiny_lm", "rebuilt")]
    return out


def _perturbed_quick_model():
    """The quick profile's model (the post's size), weights far from their init."""
    torch.manual_seed(0)
    model = GMLPForCausalLM(training.gmlp_config(training.settings("quick")))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("sgu.weight"):
                p.normal_(std=0.15)  # the upper triangle too: the causal mask hides it
            elif name.endswith("sgu.bias"):
                p.normal_(1.0, 0.5)
            elif name == "embed.weight":
                p.normal_(std=0.5)
            elif p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def _write_export(model, folder: Path) -> Path:
    blob, doc = fig_tiny_lm.export(model)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / fig_tiny_lm.BIN).write_bytes(blob)
    (folder / fig_tiny_lm.META).write_bytes(fig_tiny_lm.json_bytes(doc))
    return folder / fig_tiny_lm.META


@pytest.fixture(scope="module")
def www(tmp_path_factory) -> Path:
    """What is served: the post-like page, the widget, Material's CSS, two exports."""
    import material

    root = tmp_path_factory.mktemp("widget") / "www"
    _build(root / FIGURES)
    _write_export(_perturbed_quick_model(), root / "quick")
    for source, folder in ((JS, "javascripts"), (CSS, "stylesheets")):
        (root / folder).mkdir(parents=True)
        shutil.copy(source, root / folder / source.name)
    theme = Path(material.__file__).parent / "templates" / "assets" / "stylesheets"
    (root / "material").mkdir()
    for name in ("main", "palette"):
        css = next(theme.glob(f"{name}.*.min.css"))
        shutil.copy(css, root / "material" / f"{name}.css")
    page = root / POST / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE.replace("__WEIGHTS__", WEIGHTS), encoding="utf-8")
    return root


def test_export_is_byte_stable_and_self_describing(www, tmp_path):
    first = www / FIGURES
    second = _build(tmp_path / "again")
    for name in (fig_tiny_lm.BIN, fig_tiny_lm.META):
        same = (first / name).read_bytes() == (second / name).read_bytes()
        assert same, f"{name} differs between two CPU runs"
    text = (first / fig_tiny_lm.META).read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text.encode("utf-8") == fig_tiny_lm.json_bytes(doc)  # keys sorted
    s = training.settings("test")
    cfg = doc["config"]
    sizes = (cfg["d_model"], cfg["d_ffn"], cfg["seq_len"], cfg["n_layers"])
    assert sizes == (s.d_model, s.d_ffn, s.seq_len, s.n_layers)
    assert cfg["vocab_size"] == 256 and cfg["causal"]
    assert doc["vocabulary"]["kind"] == "bytes" and doc["vocabulary"]["size"] == 256
    t = doc["training"]
    assert t["steps"] == s.steps and t["final_eval_loss"] > 0 < t["final_train_loss"]
    assert "pydoc_data.topics" in t["text_source"] and len(t["text_excerpt"]) > 100
    blob = (first / fig_tiny_lm.BIN).read_bytes()
    w = doc["weights"]
    assert (w["dtype"], w["byte_order"], w["bytes"]) == ("float32", "little", len(blob))
    offset = 0
    for e in w["tensors"]:  # back to back, in state-dict order, each its shape's size
        assert e["offset"] == offset and e["bytes"] == 4 * math.prod(e["shape"]), e
        offset += e["bytes"]
    assert offset == len(blob) == 4 * doc["params"]
    assert w["tied"] == {"head.weight": "embed.weight"}
    blocks = [f"gmlp.blocks.{i}" for i in range(s.n_layers)]
    norms = {"gmlp.norm", *(f"{b}.norm" for b in blocks)}
    norms |= {f"{b}.sgu.norm" for b in blocks}
    assert set(doc["layer_norms"]) == norms
    manifest = json.loads((first / "manifest.json").read_text())["figures"]["tiny_lm"]
    assert manifest["measures"]["bin_bytes"] == len(blob)
    model = fig_tiny_lm.read_model(first / fig_tiny_lm.META)  # the package's model
    assert n_params(model) == doc["params"]


def test_the_real_size_fits_in_600_kb():
    """The quick profile's .bin (what `make figures` commits): sized by its shapes."""
    model = GMLPForCausalLM(training.gmlp_config(training.settings("quick")))
    blob, doc = fig_tiny_lm.export(model)
    assert len(blob) == 4 * training.count_params(model) == 4 * doc["params"]
    assert len(blob) <= fig_tiny_lm.MAX_BIN_BYTES, f"{len(blob)} bytes"
    committed = POST2.out / fig_tiny_lm.BIN
    if committed.exists():  # after `make figures`: the committed export
        text = committed.with_name(fig_tiny_lm.META).read_text(encoding="utf-8")
        size = json.loads(text)["weights"]["bytes"]
        assert committed.stat().st_size == size <= fig_tiny_lm.MAX_BIN_BYTES


def test_the_site_loads_the_widget_and_nothing_from_elsewhere():
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert "javascripts/gmlp-widget.js" in config and "stylesheets/widget.css" in config
    code = JS.read_text(encoding="utf-8")
    assert "http://" not in code and "https://" not in code and "import(" not in code


# ---- the browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(www):
    with serving(www) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture
def tab(browser, server):
    """The post-like page; at teardown: no request left 127.0.0.1, no console error or
    warning was logged."""
    viewport = {"width": 1280, "height": 900}
    with guarded_page(
        browser, console=("error", "warning"), viewport=viewport, locale="vi-VN"
    ) as page:
        page.goto(server + POST, wait_until="networkidle")
        yield page
        hosts = {urlsplit(url).hostname for url in page.requested}
        assert hosts == {"127.0.0.1"}, page.requested


def _ready(page):
    page.wait_for_function(READY, timeout=20000)


def _ids(text: str) -> list[int]:
    return list(text.encode("utf-8"))


@pytest.fixture
def one_thread():
    """torch on one thread: the models are tiny, and a busy 2-core CPU is 30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


INPUTS = [
    "def __init__(self, ",
    "Trăm năm trong cõi người ta",  # Vietnamese: 2-3 bytes per accented letter
    "Trăm năm trong cõi người ta, chữ tài chữ mệnh khéo là ghét nhau. " * 3,  # > n
    "a",
    "😀\x00\x07\x1b[31m\u200b\ufeff",  # emoji, control characters, zero-width
    bytes(range(256)).decode("latin-1"),  # every byte value (2 bytes above 0x7f)
]


@pytest.mark.parametrize("which", ["trained-test-profile", "quick-size"])
def test_js_logits_match_torch(tab, www, which, one_thread):
    if which == "quick-size":
        url, meta = QUICK, www / "quick" / "tiny_lm.json"
    else:
        url, meta = WEIGHTS, www / FIGURES / "tiny_lm.json"
    model = fig_tiny_lm.read_model(meta)
    n = model.cfg.seq_len
    tab.evaluate("async (url) => { await gmlpWidget.load(url) }", url)
    worst = 0.0
    for text in INPUTS:
        ids = _ids(text)
        rows = tab.evaluate("(ids) => gmlpWidget.logits(ids)", ids)
        js = torch.tensor(rows, dtype=torch.float64)
        with torch.no_grad():
            expected = model(torch.tensor([ids[-n:]]))[0].double()  # the last n bytes
        assert js.shape == expected.shape, (text, js.shape, expected.shape)
        worst = max(worst, float((js - expected).abs().max()))
    assert worst < TOLERANCE, f"{which}: max |JS - torch| = {worst:.3g}"
    assert tab.evaluate("() => gmlpWidget.logits([])") == []
    print(f"{which}: max |JS logits - torch logits| = {worst:.2e}")


PROMPTS = [
    "Trăm năm trong cõi người ta",  # 33 bytes: the window fills up, then slides
    "def f(x):\n    return x",  # short: each new byte only adds a row (DecodeCache)
    "The for statement is used to iterate over the elements of a sequence",  # > n
]


def test_js_greedy_continuation_is_torch_argmax(tab, www, one_thread):
    model = fig_tiny_lm.read_model(www / "quick" / "tiny_lm.json")
    tab.evaluate("async (url) => { window.m = await gmlpWidget.load(url) }", QUICK)
    for prompt in PROMPTS:
        ids = _ids(prompt)
        new = tab.evaluate("(ids) => Array.from(m.generate(ids, 40))", ids)
        assert len(new) == 40
        tokens = list(ids)
        with torch.no_grad():
            for b in new:  # each byte the JS chose is torch's argmax (up to a near tie)
                logits = model(torch.tensor([tokens[-model.cfg.seq_len :]]))[0, -1]
                gap = float(logits.max() - logits[b])
                assert gap < TOLERANCE, (prompt, b, int(logits.argmax()))
                tokens.append(b)
    # a row added by DecodeCache is the row of a full forward
    assert tab.evaluate(CACHE_VS_FORWARD, _ids(PROMPTS[0])) < 1e-12
    sample = "(ids) => Array.from(m.generate(ids, 24, {temperature: 0.8, seed: 7}))"
    sampled, again = tab.evaluate(sample, ids), tab.evaluate(sample, ids)
    assert sampled == again and len(sampled) == 24
    assert all(0 <= b < 256 for b in sampled)


def test_erf_is_exact_to_double_precision(tab):
    xs = [i / 997 for i in range(-7000, 7001)] + [1e-12, -1e-300, 5.99999, 6.0, 30.0]
    ys = tab.evaluate("(xs) => xs.map(gmlpWidget.erf)", xs)
    assert max(abs(y - math.erf(x)) for x, y in zip(xs, ys, strict=True)) < 1e-14
    some = xs[::50]
    gelu = tab.evaluate("(xs) => xs.map(gmlpWidget.gelu)", some)
    expected = torch.nn.functional.gelu(torch.tensor(some, dtype=torch.float64))
    assert max(abs(a - b) for a, b in zip(gelu, expected.tolist(), strict=True)) < 1e-14


def test_the_widget_renders_and_works_from_the_keyboard(tab):
    _ready(tab)
    w = tab.locator(".gmlp-widget")
    notes = w.locator(".gmlp-widget__note")  # the input's, the token's, W's, the gate's
    assert "tham số" in w.locator(".gmlp-widget__status").inner_text()
    assert len(w.locator("output.gmlp-widget__text").first.inner_text()) > 10
    assert tab.evaluate(UNLABELLED) == []  # every control has a label
    shot(tab, "widget-light", full_page=True)

    tab.keyboard.press("Tab")  # the first control on the page: the text
    assert tab.evaluate("document.activeElement.tagName") == "TEXTAREA"
    outline = tab.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "no visible focus"
    tab.keyboard.press("Control+A")
    tab.keyboard.type("Xin chào")  # 9 bytes: à is two
    tab.wait_for_function(NOTE_HAS, arg="9 byte")
    _ready(tab)
    assert w.locator(".gmlp-widget__bytes > span").count() == 9
    greedy = w.locator("output.gmlp-widget__text").first
    assert greedy.inner_text().startswith("Xin chào")

    tab.keyboard.press("Tab")  # temperature
    assert tab.evaluate("document.activeElement.type") == "range"
    before = tab.evaluate("document.activeElement.value")
    tab.keyboard.press("ArrowRight")
    assert tab.evaluate("document.activeElement.value") != before
    tab.keyboard.press("Tab")  # sample again
    assert tab.evaluate("document.activeElement.tagName") == "BUTTON"
    tab.keyboard.press("Enter")
    _ready(tab)

    tab.keyboard.press("Tab")  # block
    assert tab.evaluate("document.activeElement.tagName") == "SELECT"
    assert notes.nth(2).inner_text().startswith("Khối 1")
    tab.keyboard.press("ArrowDown")
    tab.wait_for_function("document.activeElement.value === '1'")
    assert notes.nth(2).inner_text().startswith("Khối 2")

    tab.keyboard.press("Tab")  # token position: follows the last token until moved
    assert tab.evaluate("document.activeElement.type") == "range"
    assert tab.evaluate("document.activeElement.value") == "8"
    for _ in range(3):
        tab.keyboard.press("ArrowLeft")
    assert tab.evaluate("document.activeElement.value") == "5"
    assert "token 5" in notes.nth(2).inner_text()
    assert w.locator(".gmlp-widget__byte.is-selected").inner_text() == "h"
    assert "Token 5 là “h”" in notes.nth(1).inner_text()
    shot(tab, "widget-keyboard", full_page=True)


BAD_INPUTS = [
    ("", "Ô trống"),
    ("x" * 200, "chỉ đọc 64 byte cuối"),
    ("😀😀😀\x00\x01\x1b[0m\x7f\u202e\x85", "byte"),  # emoji, C0/C1 controls, bidi
    ("\ud800 lone surrogate", "byte"),  # only from JS: TextEncoder writes U+FFFD
    ("Trăm năm trong cõi người ta, chữ tài chữ mệnh khéo là ghét nhau", "64 byte cuối"),
]


def test_bad_input_gives_no_error(tab):
    """Empty, too long, emoji, control characters: a message, no console error."""
    _ready(tab)
    tab.evaluate(REMOUNT, QUICK)  # the post's size: n = 64
    _ready(tab)
    for text, note in BAD_INPUTS:
        tab.evaluate(SET_TEXT, text)
        tab.wait_for_function(NOTE_HAS, arg=note)
        _ready(tab)
        shown = tab.locator(".gmlp-widget").inner_text()
        for wrong in ("Lỗi", "undefined", "NaN"):
            assert wrong not in shown, (text, shown)


def test_readable_in_both_palettes_and_at_phone_width(tab):
    _ready(tab)
    text = "Trăm năm trong cõi người ta, chữ tài chữ mệnh khéo là ghét nhau"
    tab.locator(".gmlp-widget textarea").fill(text)
    tab.wait_for_function(NOTE_HAS, arg="79 byte")
    _ready(tab)
    for scheme, width in [("default", 360), ("slate", 360), ("slate", 1280)]:
        tab.set_viewport_size({"width": width, "height": 800})
        tab.evaluate("(s) => { document.body.dataset.mdColorScheme = s }", scheme)
        tab.wait_for_timeout(100)  # the canvases redraw on the next frame
        sizes = tab.evaluate(WIDTHS)
        assert sizes["page"] <= sizes["viewport"], (scheme, width, sizes)
        assert sizes["widest"] <= sizes["viewport"] + 0.5, (scheme, width, sizes)
        count, low = low_contrast(tab, TEXTS, 3.0)
        assert count and not low, (scheme, low)
        shot(tab, f"widget-{scheme}-{width}", full_page=True)


def test_instant_navigation_mounts_the_new_page_once(tab):
    _ready(tab)
    tab.evaluate(REMOUNT, WEIGHTS)  # another page with the same weights
    _ready(tab)
    assert tab.locator(".gmlp-widget textarea").count() == 1
    # fetched once for both pages: the model is kept per URL
    fetched = [u for u in tab.requested if "tiny_lm" in u]
    assert len([u for u in fetched if u.endswith(".json")]) == 1, fetched
    assert len([u for u in fetched if ".bin?" in u]) == 1, fetched
