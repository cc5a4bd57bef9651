"""The restored post 'Paper Explained 2' and the script that restores it."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import REPO, load_module

RESTORATION = REPO / "restoration"
SCRIPT = RESTORATION / "restore.py"
SEED = RESTORATION / "seed.txt"
DECISIONS = RESTORATION / "decisions.tsv"
RESTORED = RESTORATION / "restored.txt"
POSTS = REPO / "posts"
POST = POSTS / "2024-02-02-blog-post-2.md"

ORIGINAL_BODY_LINES = 43  # non-empty lines after the front matter


def _load_restore():
    return load_module(SCRIPT, "restore")


restore = _load_restore()


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )


# ---------------------------------------------------------------------------
# Vietnamese letters, for the sanity check of the decision table

TONE_MARKS = {
    "\u0300",
    "\u0301",
    "\u0303",
    "\u0309",
    "\u0323",
}  # huyền, sắc, ngã, hỏi, nặng


def _vietnamese_letters() -> set[str]:
    letters = set("bcdđghklmnpqrstvx")
    for vowel in "aăâeêioôơuưy":
        letters.add(vowel)
        for mark in TONE_MARKS:
            letters.add(unicodedata.normalize("NFC", vowel + mark))
    return letters | {letter.upper() for letter in letters}


VIETNAMESE_LETTERS = _vietnamese_letters()


# ---------------------------------------------------------------------------
# (1) the script reproduces the committed restoration


def test_script_output_equals_committed_restoration(tmp_path):
    out = tmp_path / "restored.txt"
    result = run_script("--out", str(out))
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == RESTORED.read_bytes()


def test_script_stdout_equals_committed_restoration():
    result = run_script()
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == RESTORED.read_bytes()


def test_every_gap_has_exactly_one_decision():
    gaps = restore.find_gaps(SEED.read_text(encoding="utf-8"))
    decisions = restore.load_decisions(DECISIONS)
    assert len(gaps) == 125
    assert {(g.line, g.col) for g in gaps} == {(d.line, d.col) for d in decisions}
    assert len(decisions) == len(gaps)


def test_restoration_keeps_line_structure_of_seed():
    seed_lines = SEED.read_text(encoding="utf-8").split("\n")
    restored_lines = RESTORED.read_text(encoding="utf-8").split("\n")
    assert restored_lines[-1] == ""  # LF-terminated
    assert len(restored_lines) - 1 == len(seed_lines)
    for seed_line, restored_line in zip(seed_lines, restored_lines, strict=False):
        if seed_line.isascii():
            assert restored_line == seed_line


# ---------------------------------------------------------------------------
# (2) the post keeps every original line


def _original_lines() -> tuple[list[str], list[str]]:
    text = RESTORED.read_text(encoding="utf-8")
    front, _ = restore.split_front_matter(text.split("\n"))
    return front, restore.original_body_lines(text)


def test_restoration_has_43_original_body_lines_and_empty_headings():
    _, body = _original_lines()
    assert len(body) == ORIGINAL_BODY_LINES
    assert body[-4:] == [
        "# Ứng dụng",
        "# Phân tích ưu và nhược điểm",
        "# Kết luận",
        "# Thảo luận thêm",
    ]


def test_post_keeps_front_matter_and_original_lines_in_order():
    front, body = _original_lines()
    post_lines = POST.read_text(encoding="utf-8").split("\n")
    assert post_lines[: len(front)] == front
    position = len(front)
    for line in body:
        assert line in post_lines[position:], f"missing or out of order: {line!r}"
        position = post_lines.index(line, position) + 1


def test_check_mode_accepts_the_post():
    result = run_script("--check")
    assert result.returncode == 0, result.stderr.decode()


def test_check_mode_allows_inserted_lines(tmp_path):
    lines = RESTORED.read_text(encoding="utf-8").split("\n")
    lines.insert(13, "Một đoạn mới, thêm vào giữa các dòng gốc.")
    lines.insert(-1, "```python\nprint('new content at the end')\n```")
    post = tmp_path / "post.md"
    post.write_text("\n".join(lines), encoding="utf-8")
    result = run_script("--check", "--post", str(post))
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize(
    "change",
    ["edit word", "drop heading", "swap lines", "edit front matter", "trailing space"],
)
def test_check_mode_rejects_changed_original_lines(tmp_path, change):
    lines = RESTORED.read_text(encoding="utf-8").split("\n")
    if change == "edit word":
        index = next(
            i for i, line in enumerate(lines) if line.startswith("Vậy câu hỏi")
        )
        lines[index] = lines[index].replace("câu hỏi", "câu hoi", 1)
    elif change == "drop heading":
        lines.remove("# Kết luận")
    elif change == "swap lines":
        a = lines.index("# Ứng dụng")
        b = lines.index("# Kết luận")
        lines[a], lines[b] = lines[b], lines[a]
    elif change == "edit front matter":
        lines[1] = lines[1].replace("Paper Explained 2", "Paper Explained two")
    elif change == "trailing space":
        index = lines.index("Và spoil trước, nó hiệu quả.")
        lines[index] += " "
    post = tmp_path / "post.md"
    post.write_text("\n".join(lines), encoding="utf-8")
    result = run_script("--check", "--post", str(post))
    assert result.returncode == 1
    assert b"post.md" in result.stderr


# ---------------------------------------------------------------------------
# (3) no mojibake left in posts/, NFC, LF

MOJIBAKE_MARKERS = ["Ã", "Ä‘", "á»", "áº", "Æ°", "ğŸ", "Â\u00a0", "\ufffd"]


def _post_files() -> list[Path]:
    files = sorted(
        p
        for p in POSTS.rglob("*")
        if p.is_file() and p.suffix in {".md", ".markdown", ".ipynb"}
    )
    assert POST in files
    return files


@pytest.mark.parametrize("marker", MOJIBAKE_MARKERS)
def test_no_mojibake_markers_in_posts(marker):
    for path in _post_files():
        text = path.read_text(encoding="utf-8")
        assert marker not in text, f"{path.name} still contains {marker!r}"


def test_posts_are_nfc_with_lf_endings():
    for path in _post_files():
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path.name
        assert "\r" not in text, path.name


def test_restored_text_has_no_mojibake_and_is_nfc():
    text = RESTORED.read_text(encoding="utf-8")
    for marker in MOJIBAKE_MARKERS:
        assert marker not in text
    assert unicodedata.is_normalized("NFC", text)


# ---------------------------------------------------------------------------
# (4) the front matter


def test_front_matter_parses_as_yaml():
    import yaml

    front, _ = restore.split_front_matter(POST.read_text(encoding="utf-8").split("\n"))
    meta = yaml.safe_load("\n".join(front[1:-1]))
    assert set(meta) >= {"title", "date", "permalink", "tags", "published"}
    assert meta["title"] == "Paper Explained 2: Pay Attention to MLPs"
    assert str(meta["date"]) == "2024-02-02"
    assert meta["permalink"] == "/posts/2024/02/blog-post-2/"
    assert meta["tags"] == ["Paper explained", "Deep Learning"]
    assert meta["published"] is True


def test_front_matter_is_byte_identical_to_seed():
    seed_front, _ = restore.split_front_matter(
        SEED.read_text(encoding="utf-8").split("\n")
    )
    post_front, _ = restore.split_front_matter(
        POST.read_text(encoding="utf-8").split("\n")
    )
    assert post_front == seed_front


# ---------------------------------------------------------------------------
# (5) a stale or missing decision is an error


def _seed_lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").split("\n")


def _write_seed(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "seed.txt"
    path.write_bytes("\n".join(lines).encode("utf-8"))
    return path


def test_changed_context_is_rejected(tmp_path):
    lines = _seed_lines()
    # line 11: "quÃ¡ nhiá»u attention" - the lost byte after "nhiá»" is decided
    # with the context " nhiá»u at"; change a character inside that context.
    assert "nhiá»u attention" in lines[10]
    lines[10] = lines[10].replace("nhiá»u attention", "nhiá»u Attention", 1)
    seed = _write_seed(tmp_path, lines)
    with pytest.raises(
        restore.RestorationError, match=r"line 11, column 75 no longer matches"
    ):
        restore.restore_files(seed, DECISIONS)
    result = run_script("--seed", str(seed))
    assert result.returncode != 0
    assert b"line 11, column 75" in result.stderr
    assert result.stdout == b""


def test_undecided_gap_is_rejected(tmp_path):
    lines = _seed_lines()
    # append a new damaged word ("tÃnh", i.e. "tính" without its 0xAD) at the
    # end of line 16, where no decision exists
    lines[15] = lines[15] + " tÃnh"
    column = len(lines[15]) - 2
    seed = _write_seed(tmp_path, lines)
    with pytest.raises(
        restore.RestorationError,
        match=rf"no decision for the lost byte at line 16, column {column}:.*tÃnh",
    ):
        restore.restore_files(seed, DECISIONS)
    result = run_script("--seed", str(seed))
    assert result.returncode != 0
    assert f"line 16, column {column}".encode() in result.stderr


def test_decision_without_gap_is_rejected(tmp_path):
    lines = _seed_lines()
    # line 70 has one gap ("chiá»u", chiều); turn it into a complete sequence
    # ("chiá»…u" = "chiễu") so that its decision matches nothing
    assert lines[69].count("chiá»u") == 1
    lines[69] = lines[69].replace("chiá»u", "chiá»…u")
    seed = _write_seed(tmp_path, lines)
    with pytest.raises(
        restore.RestorationError, match=r"match no lost byte; first: line 70, column 62"
    ):
        restore.restore_files(seed, DECISIONS)


def _rewrite_decision(tmp_path: Path, line: int, col: int, **fields: str) -> Path:
    rows = DECISIONS.read_text(encoding="utf-8").split("\n")
    header = rows[0].split("\t")
    changed = 0
    for index, row in enumerate(rows[1:], start=1):
        cells = row.split("\t")
        if cells[:2] == [str(line), str(col)]:
            for name, value in fields.items():
                cells[header.index(name)] = value
            rows[index] = "\t".join(cells)
            changed += 1
    assert changed == 1
    path = tmp_path / "decisions.tsv"
    path.write_text("\n".join(rows), encoding="utf-8")
    return path


def test_decision_giving_another_word_is_rejected(tmp_path):
    # line 11, column 75 is "nhiều"; byte 0x8D would make "nhiọu"
    decisions = _rewrite_decision(tmp_path, 11, 75, byte="8D", sequence="E1 BB [8D]")
    with pytest.raises(
        restore.RestorationError,
        match=r"gives the word 'nhiọu', the table says 'nhiều'",
    ):
        restore.restore_files(SEED, decisions)
    result = run_script("--decisions", str(decisions))
    assert result.returncode != 0
    assert "nhiọu".encode() in result.stderr


def test_decision_with_byte_that_was_not_lost_is_rejected(tmp_path):
    decisions = _rewrite_decision(tmp_path, 11, 75, byte="80", sequence="E1 BB [80]")
    with pytest.raises(
        restore.RestorationError, match=r"not one that the cp1254 round trip loses"
    ):
        restore.restore_files(SEED, decisions)


def test_removed_decision_is_rejected(tmp_path):
    rows = DECISIONS.read_text(encoding="utf-8").split("\n")
    kept = [row for row in rows if not row.startswith("44\t33\t")]
    assert len(kept) == len(rows) - 1
    decisions = tmp_path / "decisions.tsv"
    decisions.write_text("\n".join(kept), encoding="utf-8")
    with pytest.raises(
        restore.RestorationError,
        match=r"no decision for the lost byte at line 44, column 33",
    ):
        restore.restore_files(SEED, decisions)


# ---------------------------------------------------------------------------
# (6) the decided words are Vietnamese


def test_decided_words_are_made_of_vietnamese_letters():
    decisions = restore.load_decisions(DECISIONS)
    restored_lines = RESTORED.read_text(encoding="utf-8").split("\n")
    emoji = 0
    for d in decisions:
        char = bytes(d.sequence).decode("utf-8")
        where = f"line {d.line}, column {d.col} ({d.word!r})"
        assert char in d.word, where
        assert d.reason.strip(), where
        # the word occurs as a whole word in the restored line
        assert d.word in restored_lines[d.line - 1], where
        if unicodedata.category(char) == "So":  # the two emoji
            emoji += 1
            assert d.word == char, where
            continue
        assert set(d.word) <= VIETNAMESE_LETTERS, where
        assert d.word[1:] == d.word[1:].lower(), (
            f"capital letter inside a word at {where}"
        )
        tones = sum(1 for c in unicodedata.normalize("NFD", d.word) if c in TONE_MARKS)
        assert tones <= 1, f"more than one tone mark at {where}"
    assert emoji == 2


def test_vietnamese_letter_check_catches_wrong_candidates():
    # the candidates the table rejects must fail the same checks
    for wrong in ["nhiỎu", "tÍnh", "ĐiỞu", "thĭch"]:
        assert not (set(wrong) <= VIETNAMESE_LETTERS and wrong[1:] == wrong[1:].lower())
