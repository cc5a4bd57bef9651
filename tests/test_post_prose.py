"""The prose of post 2, read from its Markdown (no site build): figures, citations,
references.

- Figures: every image ``![alt](/assets/img/...)`` sits in a
  ``<figure markdown="span">`` with a
  ``<figcaption markdown="span"><em>Hình N: ...</em></figcaption>`` right under the
  image line, numbered 1, 2, 3, ... in reading order; every "Hình N" the text mentions
  exists; the alt text of every image we added describes it (the original author's image
  lines, those of restoration/restored.txt, stay verbatim, alt text included). The image
  line has a blank line on each side, so that a plain CommonMark renderer (the post's
  .ipynb download) still shows the image instead of its Markdown source.
- Citations: every ``[[Label]](#ref-id)`` resolves to an entry
  ``<a id="ref-id"></a>**[Label]**`` of the "Tài liệu tham khảo" list, with the same
  label; every entry is cited at least once; every entry names an arXiv id (with a
  matching link) or a venue and year, or links its code.
- Claims: nothing is published as unverified ("chưa kiểm chứng"); no number measured by
  our figure runs (assets/img/blog2/manifest.json) is retyped in the prose instead of
  written as a ``{{ figure... }}`` token.
- Exercises: each ``??? question "..."`` holds a collapsed ``??? success "Đáp án"``
  with text in it, so the answer stays folded until the reader opens it.

Each checker returns a list of problems; the last tests feed them small broken texts, so
a checker that stops finding problems fails here too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import REPO

POST = REPO / "posts" / "2024-02-02-blog-post-2.md"
RESTORED = REPO / "restoration" / "restored.txt"
MANIFEST = REPO / "assets" / "img" / "blog2" / "manifest.json"

REFERENCES_HEADING = "# Tài liệu tham khảo"
FIGURE_OPEN = '<figure markdown="span">'
FIGURE_CLOSE = "</figure>"

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>/assets/img/[^)\s]+)\)\s*$")
_CAPTION = re.compile(
    r'^<figcaption markdown="span"><em>Hình (?P<n>\d+): (?P<text>.+)</em></figcaption>$'
)
_FIGURE_MENTION = re.compile(r"\bHình (\d+)\b")
_CITATION = re.compile(r"\[\[(?P<label>[^\]]+)\]\]\(#(?P<id>[^)\s]+)\)")
_ANY_REF_LINK = re.compile(r"\]\(#(?P<id>ref-[^)\s]*)\)")
_ENTRY = re.compile(
    r'^- <a id="(?P<id>ref-[a-z0-9-]+)"></a>\*\*\[(?P<label>[^\]]+)\]\*\* (?P<text>.+)$'
)
_ARXIV = re.compile(
    r"\[arXiv:(?P<id>\d{4}\.\d{4,5})\]\(https://arxiv\.org/abs/(?P<url_id>[^)\s]+)\)"
)
_VENUE_YEAR = re.compile(
    r"\b(?:NeurIPS|ICML|ICLR|CVPR|ECCV|ICASSP|NAACL|ACL|EACL|EMNLP|Neural Networks|"
    r"Mathematics of Control|OpenAI)\b.*\b(?:19|20)\d\d\b"
)
_URL = re.compile(r"\]\(https://[^)\s]+\)")


# ---- reading the Markdown ------------------------------------------------------------


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    out, fence = [], None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        marker = stripped[:3]
        if fence is None and marker in ("```", "~~~"):
            fence = marker
            continue
        if fence is not None:
            if stripped.startswith(fence) and not stripped.strip("`~"):
                fence = None
            continue
        out.append((number, line))
    return out


def split_references(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(body lines, reference-section lines), both outside code."""
    lines = prose_lines(text)
    starts = [
        i for i, (_, line) in enumerate(lines) if line.strip() == REFERENCES_HEADING
    ]
    if not starts:
        return lines, []
    return lines[: starts[0]], lines[starts[0] + 1 :]


def _stem(src: str) -> str:
    return re.sub(r"[^a-z0-9]", "", Path(src).stem.lower())


# ---- checkers ------------------------------------------------------------------------


def figure_problems(text: str, original_lines: set[str] = frozenset()) -> list[str]:
    """Numbered captions right under every image, inside a figure; descriptive alt
    texts."""
    problems = []
    all_lines = text.split("\n")
    lines = [(n, line) for n, line in prose_lines(text) if line.strip()]
    expected = 1
    for k, (number, line) in enumerate(lines):
        image = _IMAGE.match(line)
        if not image:
            if "/assets/img/" in line and line.lstrip().startswith("!["):
                problems.append(
                    f"line {number}: image line not in the form ![alt](/assets/img/...)"
                )
            continue
        where = f"line {number} ({image['src']})"
        blank_around = (
            1 < number < len(all_lines)
            and not all_lines[number - 2].strip() + all_lines[number].strip()
        )
        if not blank_around:
            problems.append(
                f"{where}: needs a blank line before and after it inside the figure"
            )
        if k == 0 or lines[k - 1][1].strip() != FIGURE_OPEN:
            problems.append(f"{where}: not preceded by {FIGURE_OPEN}")
        caption = (
            _CAPTION.match(lines[k + 1][1].strip()) if k + 1 < len(lines) else None
        )
        if caption is None:
            problems.append(
                f"{where}: no "
                "'<figcaption markdown=\"span\"><em>Hình N: ...</em></figcaption>' "
                "under it"
            )
        else:
            if int(caption["n"]) != expected:
                problems.append(
                    f"{where}: caption says Hình {caption['n']}, "
                    f"expected Hình {expected}"
                )
            if len(caption["text"].split()) < 8:
                problems.append(
                    f"{where}: caption too short to say what to look at: "
                    f"{caption['text']!r}"
                )
            if k + 2 >= len(lines) or lines[k + 2][1].strip() != FIGURE_CLOSE:
                problems.append(f"{where}: caption not followed by {FIGURE_CLOSE}")
        expected += 1
        if line in original_lines:
            continue  # the original author's line stays verbatim, alt text included
        alt = image["alt"].strip()
        if not alt:
            problems.append(f"{where}: empty alt text")
        elif (
            re.sub(r"[^a-z0-9]", "", alt.lower()) == _stem(image["src"])
            or len(alt.split()) < 4
        ):
            problems.append(f"{where}: alt text {alt!r} does not describe the figure")
    n_figures = expected - 1
    for number, line in prose_lines(text):
        if _CAPTION.match(line.strip()):
            continue
        for mention in _FIGURE_MENTION.findall(line):
            if not 1 <= int(mention) <= n_figures:
                problems.append(
                    f"line {number}: mentions Hình {mention}, "
                    f"but there are {n_figures} figures"
                )
    return problems


def reference_entries(text: str) -> tuple[dict[str, str], list[str]]:
    """{id: label} of the reference list, and problems with the list itself."""
    _, refs = split_references(text)
    entries, problems = {}, []
    if not refs:
        return entries, [f"no '{REFERENCES_HEADING}' section"]
    for number, line in refs:
        if not line.startswith("- "):
            continue
        entry = _ENTRY.match(line)
        if entry is None:
            problems.append(
                f"line {number}: reference entry without "
                "'<a id=\"ref-...\"></a>**[Label]**'"
            )
            continue
        if entry["id"] in entries:
            problems.append(f"line {number}: duplicate reference id {entry['id']}")
        if entry["label"] in entries.values():
            problems.append(
                f"line {number}: duplicate reference label [{entry['label']}]"
            )
        entries[entry["id"]] = entry["label"]
        body = entry["text"]
        arxiv = _ARXIV.search(body)
        if arxiv and arxiv["id"] != arxiv["url_id"]:
            problems.append(
                f"line {number}: arXiv:{arxiv['id']} links to {arxiv['url_id']}"
            )
        if not (arxiv or _VENUE_YEAR.search(body) or _URL.search(body)):
            problems.append(
                f"line {number}: [{entry['label']}] "
                "names no arXiv id, venue and year, or link"
            )
    return entries, problems


def citation_problems(text: str) -> list[str]:
    """Every citation resolves, with the entry's label; every entry is cited."""
    entries, problems = reference_entries(text)
    body, _ = split_references(text)
    cited = set()
    for number, line in body:
        for match in _ANY_REF_LINK.finditer(line):
            if match["id"] not in entries:
                problems.append(
                    f"line {number}: link to #{match['id']}, "
                    "which no reference entry has"
                )
        for match in _CITATION.finditer(line):
            if not match["id"].startswith("ref-"):
                continue
            cited.add(match["id"])
            label = entries.get(match["id"])
            if label is not None and label != match["label"]:
                problems.append(
                    f"line {number}: [[{match['label']}]] "
                    f"points to the entry labelled [{label}]"
                )
    for ref_id, label in entries.items():
        if ref_id not in cited:
            problems.append(f"reference [{label}] (#{ref_id}) is never cited")
    return problems


UNVERIFIED = "chưa kiểm chứng"
_TOKEN = re.compile(r"\{\{.*?\}\}")
_QUESTION = re.compile(r'^\?\?\?(?P<open>\+?) question "(?P<title>[^"]+)"\s*$')
_ANSWER = re.compile(r'^    \?\?\?(?P<open>\+?) success "Đáp án"\s*$')
MIN_EXERCISES = 5


def unverified_problems(text: str) -> list[str]:
    """Lines that publish a claim as unverified."""
    return [
        f"line {number}: says {UNVERIFIED!r}: verify the claim and cite it, or cut it"
        for number, line in enumerate(text.split("\n"), 1)
        if UNVERIFIED in line.lower()
    ]


def _floats(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _floats(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _floats(item, (*path, str(i)))
    elif isinstance(value, float) and value not in (0.0, 1.0):
        yield path, value


def retyped_measure_problems(text: str, manifest: dict) -> list[str]:
    """Measured numbers of the manifest written out in the prose instead of a token.

    A measure is found as the build's formats would print it (3 or 4 decimals, as the
    manifest stores it) and, for shares and ratios, as a percentage; integers and the
    values 0 and 1 are left out (sizes and settings, not measurements), and so are
    shorter forms such as 0.01, which settings (learning rates) share with the prose."""
    lines = [(n, _TOKEN.sub(" ", line)) for n, line in prose_lines(text)]
    problems = []
    for figure, entry in manifest.get("figures", {}).items():
        for path, value in _floats(entry.get("measures", {}), (figure,)):
            shown = {f"{value:.3f}", f"{value:.4f}"}
            if any("share" in part or "ratio" in part for part in path):
                shown |= {f"{value:.0%}", f"{value:.1%}"}
            for form in sorted(shown):
                pattern = re.compile(
                    r"(?<![\d.,])" + re.escape(form) + r"(?![\d%]|[.,]\d)"
                )
                for number, line in lines:
                    if pattern.search(line):
                        key = ".".join(path)
                        problems.append(
                            f"line {number}: {form} is figure.{key} retyped; "
                            f"write {{{{ figure.{key} | ... }}}}"
                        )
    return problems


def exercise_problems(text: str, minimum: int = MIN_EXERCISES) -> list[str]:
    """Every exercise is a collapsed question holding a collapsed, non-empty answer."""
    lines = [line for _, line in prose_lines(text)]
    numbers = [n for n, _ in prose_lines(text)]
    problems, count = [], 0
    for k, line in enumerate(lines):
        question = _QUESTION.match(line)
        if question is None:
            continue
        count += 1
        where = f"line {numbers[k]} ({question['title']!r})"
        if question["open"]:
            problems.append(f"{where}: '???+' opens the exercise; use '???'")
        body = []
        for inner in lines[k + 1 :]:
            if inner.strip() and not inner.startswith("    "):
                break
            body.append(inner)
        answers = [i for i, inner in enumerate(body) if _ANSWER.match(inner)]
        if len(answers) != 1:
            problems.append(
                f"{where}: needs exactly one nested '    ??? success \"Đáp án\"', "
                f"found {len(answers)}"
            )
            continue
        if _ANSWER.match(body[answers[0]])["open"]:
            problems.append(f"{where}: the answer is shown open ('???+'); use '???'")
        answer_text = [
            inner for inner in body[answers[0] + 1 :] if inner.startswith("        ")
        ]
        if not any(inner.strip() for inner in answer_text):
            problems.append(f"{where}: the answer block is empty")
    if count < minimum:
        problems.append(f"{count} exercises ('??? question'), expected {minimum}")
    return problems


# ---- the post ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def post() -> str:
    return POST.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def original_lines() -> set[str]:
    return {
        line
        for line in RESTORED.read_text(encoding="utf-8").split("\n")
        if line.strip()
    }


def test_figures_are_numbered_captioned_and_described(post, original_lines):
    assert figure_problems(post, original_lines) == []


def test_every_image_of_the_post_is_a_figure(post):
    images = [line for _, line in prose_lines(post) if _IMAGE.match(line)]
    captions = [line for _, line in prose_lines(post) if _CAPTION.match(line.strip())]
    assert len(images) >= 9  # the author's 4 images and the 5 drawn for the explainer
    assert len(captions) == len(images)


def test_original_image_lines_are_kept_verbatim(post, original_lines):
    originals = [line for line in original_lines if _IMAGE.match(line)]
    assert len(originals) == 4
    post_lines = post.split("\n")
    for line in originals:
        assert line in post_lines


def test_citations_resolve_and_every_reference_is_cited(post):
    assert citation_problems(post) == []


def test_reference_list_covers_the_works_the_post_relies_on(post):
    entries, problems = reference_entries(post)
    assert problems == []
    arxiv_ids = set(
        re.findall(r"arXiv:(\d{4}\.\d{4,5})", post.split(REFERENCES_HEADING, 1)[1])
    )
    for needed in (
        "2105.08050",
        "1706.03762",
        "1810.04805",
        "2010.11929",
        "2012.12877",
        "1607.06450",
        "1606.08415",
        "1603.09382",
        "1612.08083",
        "2105.01601",
        "2105.03404",
        "2002.05202",
    ):
        assert needed in arxiv_ids, needed
    assert len(entries) >= 12


def test_images_render_without_md_in_html(post):
    """The .ipynb download renders the prose with plain CommonMark: every image must
    still be an image."""
    markdown_it = pytest.importorskip("markdown_it")
    body = "\n".join(line for _, line in prose_lines(post))
    html = markdown_it.MarkdownIt("commonmark").render(body)
    images = [line for _, line in prose_lines(post) if _IMAGE.match(line)]
    assert html.count("<img ") == len(images)
    assert "![" not in html


def test_no_claim_is_published_as_unverified(post):
    assert unverified_problems(post) == []


def test_measured_numbers_are_tokens_not_retyped(post):
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert list(_floats(manifest["figures"]["spatial_weights"]["measures"]))
    assert retyped_measure_problems(post, manifest) == []


def test_exercises_fold_their_answers(post):
    assert exercise_problems(post) == []


# ---- the checkers catch broken posts -------------------------------------------------

GOOD = (
    """\
Văn bản, xem Hình 2 và [[Liu 2021]](#ref-liu2021).

<figure markdown="span">

![swan](/assets/img/blog2/whitevsblack.png)

<figcaption markdown="span"><em>Hình 1: Một cái hồ toàn thiên nga trắng và """
    """một con thiên nga đen bên cạnh.</em></figcaption>
</figure>

<figure markdown="span">

![Hai bản đồ nhiệt trước và sau LayerNorm](/assets/img/blog2/layernorm.png)

<figcaption markdown="span"><em>Hình 2: Ma trận trước và sau LayerNorm, """
    """mỗi dòng được đưa về cùng thang đo.</em></figcaption>
</figure>

```python
print("[[Không phải trích dẫn]](#ref-nothere) ![x](/assets/img/blog2/x.png)")
```

# Tài liệu tham khảo

- <a id="ref-liu2021"></a>**[Liu 2021]** Hanxiao Liu và cộng sự. """
    """*Pay Attention to MLPs*. NeurIPS 2021. """
    """[arXiv:2105.08050](https://arxiv.org/abs/2105.08050)
"""
)
ORIGINAL = {"![swan](/assets/img/blog2/whitevsblack.png)"}
CAPTION_1 = next(line for line in GOOD.split("\n") if "<em>Hình 1:" in line)


def test_the_small_good_text_passes():
    assert figure_problems(GOOD, ORIGINAL) == []
    assert citation_problems(GOOD) == []


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "<em>Hình 2: Ma trận",
            "<em>Hình 3: Ma trận",
            "expected Hình 2",
        ),  # numbering skips
        (CAPTION_1 + "\n", "", "no '<figcaption"),  # caption missing
        (
            "(/assets/img/blog2/layernorm.png)\n",
            "(/assets/img/blog2/layernorm.png)\n\nMột đoạn chen vào.\n",
            "no '<figcaption",
        ),  # caption not right under the image
        (
            "<em>Hình 1: Một cái hồ",
            "*Hình 1: Một cái hồ",
            "no '<figcaption",
        ),  # other caption markup
        (
            "![Hai bản đồ nhiệt trước và sau LayerNorm]",
            "![layernorm]",
            "does not describe",
        ),  # alt = file name
        ("![Hai bản đồ nhiệt trước và sau LayerNorm]", "![]", "empty alt text"),
        ("xem Hình 2", "xem Hình 5", "mentions Hình 5"),  # a figure that does not exist
        (
            '<figure markdown="span">\n\n![Hai',
            "![Hai",
            "not preceded by",
        ),  # not a figure
        (
            '<figure markdown="span">\n\n![Hai',
            '<figure markdown="span">\n![Hai',
            "needs a blank line",
        ),
        (
            "Ma trận trước và sau LayerNorm, mỗi dòng được đưa về cùng thang đo.</em>",
            "Ma trận.</em>",
            "too short",
        ),
    ],
)
def test_figure_checker_catches(old, new, expected):
    assert GOOD.count(old) == 1
    problems = figure_problems(GOOD.replace(old, new), ORIGINAL)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "[[Liu 2021]](#ref-liu2021).",
            "[[Liu 2021]](#ref-liu21).",
            "no reference entry has",
        ),  # bad anchor
        (
            "[[Liu 2021]](#ref-liu2021).",
            "[[Liu 2020]](#ref-liu2021).",
            "points to the entry labelled",
        ),
        (
            "[[Liu 2021]](#ref-liu2021).",
            "bài báo.",
            "never cited",
        ),  # reference not cited
        (
            '<a id="ref-liu2021"></a>',
            "",
            "reference entry without",
        ),  # entry without anchor
        (
            "(https://arxiv.org/abs/2105.08050)",
            "(https://arxiv.org/abs/2105.08051)",
            "links to 2105.08051",
        ),
        (
            " NeurIPS 2021. [arXiv:2105.08050](https://arxiv.org/abs/2105.08050)",
            ".",
            "names no arXiv id",
        ),
        ("# Tài liệu tham khảo", "# Tham khảo", "no '# Tài liệu tham khảo' section"),
    ],
)
def test_citation_checker_catches(old, new, expected):
    assert GOOD.count(old) == 1
    problems = citation_problems(GOOD.replace(old, new))
    assert any(expected in p for p in problems), problems


def test_code_blocks_are_not_read_as_prose():
    """The fenced block of GOOD holds a dangling citation and an uncaptioned image: both
    ignored."""
    assert all(
        "nothere" not in p and "x.png" not in p
        for p in figure_problems(GOOD, ORIGINAL) + citation_problems(GOOD)
    )


# ---- claims and exercises ------------------------------------------------------------

MANIFEST_SMALL = {
    "figures": {
        "spatial_weights": {
            "measures": {"k": 4, "locality_share": [0.7722, 0.3956], "score": 1.0}
        },
        "tiny_lm": {"measures": {"final_eval_loss": 1.6704}},
    }
}
CLAIMS = """\
Ở khối đầu, {{ figure.spatial_weights.locality_share.0 | .0% }} nằm gần đường chéo,
loss {{ figure.tiny_lm.final_eval_loss | .3f }}, với k = 4 và 77 khối.

```python
print("77% 1.670")
```
"""
EXERCISE = """\
??? question "Bài 1: Một câu hỏi"

    Đề bài.

    ??? success "Đáp án"

        Lời giải.

Đoạn văn sau bài tập.
"""


def test_the_small_claims_and_exercise_pass():
    assert unverified_problems(CLAIMS) == []
    assert retyped_measure_problems(CLAIMS, MANIFEST_SMALL) == []
    assert exercise_problems(EXERCISE, minimum=1) == []


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "{{ figure.spatial_weights.locality_share.0 | .0% }}",
            "77%",
            "locality_share.0",
        ),
        ("{{ figure.spatial_weights.locality_share.0 | .0% }}", "77.2%", "retyped"),
        ("{{ figure.tiny_lm.final_eval_loss | .3f }}", "1.670", "final_eval_loss"),
        ("{{ figure.tiny_lm.final_eval_loss | .3f }}", "1.6704", "final_eval_loss"),
    ],
)
def test_retyped_measure_checker_catches(old, new, expected):
    assert CLAIMS.count(old) == 1
    problems = retyped_measure_problems(CLAIMS.replace(old, new), MANIFEST_SMALL)
    assert any(expected in p for p in problems), problems


def test_unverified_checker_catches():
    broken = CLAIMS + "\nĐoạn này mọi người coi như Chưa kiểm chứng nha.\n"
    problems = unverified_problems(broken)
    assert len(problems) == 1 and "chưa kiểm chứng" in problems[0], problems


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ('??? question "Bài 1', '???+ question "Bài 1', "opens the exercise"),
        ('    ??? success "Đáp án"', '    ???+ success "Đáp án"', "shown open"),
        ('    ??? success "Đáp án"', '    !!! success "Đáp án"', "found 0"),
        ('    ??? success "Đáp án"\n\n        Lời giải.\n', "", "found 0"),
        ("        Lời giải.\n", "", "empty"),
        (
            "    Đề bài.\n",
            '    Đề bài.\n\n    ??? success "Đáp án"\n\n        Hai lời giải.\n',
            "found 2",
        ),
    ],
)
def test_exercise_checker_catches(old, new, expected):
    assert EXERCISE.count(old) == 1
    problems = exercise_problems(EXERCISE.replace(old, new), minimum=1)
    assert any(expected in p for p in problems), problems


def test_exercise_checker_counts_the_exercises():
    assert any("expected 5" in p for p in exercise_problems(EXERCISE))
