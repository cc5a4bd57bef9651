#!/usr/bin/env python3
"""Restore the damaged text of the post "Paper Explained 2: Pay Attention to MLPs".

How the text was damaged
------------------------
The UTF-8 bytes of the post were decoded as Windows-1254 (cp1254) and the
resulting characters were saved again as UTF-8. cp1254 leaves the bytes
0x81 0x8D 0x8E 0x8F 0x90 0x9D 0x9E undefined, and the soft hyphen (0xAD)
vanished as well, so every one of those eight bytes was dropped.

How it is undone
----------------
1. Every character of ``seed.txt`` is mapped back to its cp1254 byte.
2. The bytes are walked as UTF-8. A sequence that lacks exactly one byte is
   a *gap*: one of the eight lost bytes used to be there.
3. The gap is filled from the decision table ``decisions.tsv`` (one row per
   lost byte, chosen by hand from Vietnamese spelling and the sentence).
4. The bytes are decoded as UTF-8 and the text is NFC-normalised.

The script stops with a ``RestorationError`` naming line, column and context
when it meets a gap without a decision, when a decision does not match the
seed any more, or when a decision is left unused.

Usage::

    python restoration/restore.py                 # restored text to stdout
    python restoration/restore.py --out FILE      # restored text to FILE
    python restoration/restore.py --check         # compare with the post

``--check`` exits non-zero unless the post keeps the front matter exactly and
every non-empty original line, in order, verbatim as a whole line (new lines
may be inserted between original lines).
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEED = HERE / "seed.txt"
DECISIONS = HERE / "decisions.tsv"
POST = REPO / "posts" / "2024-02-02-blog-post-2.md"

# Bytes that did not survive the cp1254 round trip: the undefined code points
# of cp1254 and the soft hyphen.
LOST_BYTES = frozenset({0x81, 0x8D, 0x8E, 0x8F, 0x90, 0x9D, 0x9E, 0xAD})

# Characters of the seed shown on each side of a gap in the "context" column.
CONTEXT_RADIUS = 4

DECISION_COLUMNS = ("line", "col", "context", "byte", "sequence", "word", "reason")


class RestorationError(Exception):
    """The seed and the decision table do not fit together."""


@dataclass(frozen=True)
class Gap:
    """A UTF-8 sequence of the seed that misses one byte."""

    line: int  # 1-based line number in the seed
    col: int  # 1-based column (in seed characters) of the sequence's lead
    present: tuple[int, ...]  # the bytes of the sequence that survived
    context: str  # seed characters around the sequence (unescaped)


@dataclass(frozen=True)
class Decision:
    line: int
    col: int
    context: str  # unescaped
    byte: int
    sequence: tuple[int, ...]  # the repaired sequence
    inserted_at: int  # index of the lost byte inside ``sequence``
    word: str
    reason: str


# ---------------------------------------------------------------------------
# Escaping of the context column (the seed contains invisible characters such
# as NO-BREAK SPACE, which must stay readable in the table).


def escape_context(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable() and ch != "\t":
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def unescape_context(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = text[i + 1 : i + 2]
        if kind == "\\":
            out.append("\\")
            i += 2
        elif kind in ("x", "u"):
            width = 2 if kind == "x" else 4
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width:
                raise ValueError(f"bad escape in context {text!r}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise ValueError(f"bad escape in context {text!r}")
    return "".join(out)


# ---------------------------------------------------------------------------
# Reading the seed


def seed_lines(seed_text: str) -> list[str]:
    """The seed's lines, without their LF terminators."""
    if "\r" in seed_text:
        raise RestorationError(
            "the seed contains CR characters; expected LF line endings"
        )
    lines = seed_text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final LF terminates the last line, it does not start one
    return lines


def line_to_bytes(line: str, lineno: int) -> list[int]:
    """Undo the cp1254 decoding: one byte per seed character."""
    out = []
    for col, ch in enumerate(line, start=1):
        if ord(ch) < 0x80:
            out.append(ord(ch))
            continue
        try:
            encoded = ch.encode("cp1254")
        except UnicodeEncodeError:
            raise RestorationError(
                f"line {lineno}, column {col}: character {ch!r} (U+{ord(ch):04X}) "
                "has no cp1254 byte; "
                f"context {escape_context(line[max(0, col - 5) : col + 4])!r}"
            ) from None
        out.append(encoded[0])
    return out


def _sequence_length(lead: int) -> int:
    if lead < 0x80:
        return 1
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0  # a continuation byte or an invalid lead


def _context(line: str, start: int, end: int) -> str:
    """Seed characters around ``line[start:end]``."""
    return line[max(0, start - CONTEXT_RADIUS) : end + CONTEXT_RADIUS]


def split_sequences(
    line: str, lineno: int
) -> list[tuple[int, tuple[int, ...], Gap | None]]:
    """Cut a seed line into UTF-8 sequences.

    Returns ``(start, bytes, gap)`` triples; ``gap`` is set for a sequence
    that misses exactly one byte. Anything worse is an error.
    """
    data = line_to_bytes(line, lineno)
    pieces = []
    i = 0
    while i < len(data):
        need = _sequence_length(data[i])
        if need == 0:
            raise RestorationError(
                f"line {lineno}, column {i + 1}: "
                f"byte 0x{data[i]:02X} cannot start a UTF-8 "
                f"sequence; context {escape_context(_context(line, i, i + 1))!r}"
            )
        j = i + 1
        while j < len(data) and j - i < need and 0x80 <= data[j] <= 0xBF:
            j += 1
        present = tuple(data[i:j])
        gap = None
        if len(present) == need - 1:
            gap = Gap(lineno, i + 1, present, _context(line, i, j))
        elif len(present) < need - 1:
            raise RestorationError(
                f"line {lineno}, column {i + 1}: "
                f"UTF-8 sequence misses {need - len(present)} bytes, "
                "only one can have been lost; "
                f"context {escape_context(_context(line, i, j))!r}"
            )
        pieces.append((i, present, gap))
        i = j
    return pieces


def find_gaps(seed_text: str) -> list[Gap]:
    gaps = []
    for lineno, line in enumerate(seed_lines(seed_text), start=1):
        gaps.extend(
            gap for _, _, gap in split_sequences(line, lineno) if gap is not None
        )
    return gaps


# ---------------------------------------------------------------------------
# The decision table


def _parse_sequence(text: str, where: str) -> tuple[tuple[int, ...], int]:
    """Parse ``"E1 BB [81]"``: the repaired bytes and the index of the lost one."""
    values = []
    inserted = []
    for index, token in enumerate(text.split()):
        if token.startswith("[") and token.endswith("]"):
            inserted.append(index)
            token = token[1:-1]
        try:
            values.append(int(token, 16))
        except ValueError:
            raise RestorationError(
                f"{where}: bad byte {token!r} in sequence {text!r}"
            ) from None
    if len(inserted) != 1:
        raise RestorationError(
            f"{where}: sequence {text!r} must mark exactly one [lost] byte"
        )
    return tuple(values), inserted[0]


def load_decisions(path: Path) -> list[Decision]:
    rows = path.read_text(encoding="utf-8").split("\n")
    header = tuple(rows[0].split("\t")) if rows else ()
    if header != DECISION_COLUMNS:
        raise RestorationError(
            f"{path.name}: header must be {' / '.join(DECISION_COLUMNS)}, got {header}"
        )
    decisions = []
    for number, row in enumerate(rows[1:], start=2):
        if not row.strip() or row.startswith("#"):
            continue
        fields = row.split("\t")
        where = f"{path.name} row {number}"
        if len(fields) != len(DECISION_COLUMNS):
            raise RestorationError(
                f"{where}: expected {len(DECISION_COLUMNS)} tab-separated fields, "
                f"got {len(fields)}"
            )
        line, col, context, byte, sequence, word, reason = fields
        if not reason.strip():
            raise RestorationError(f"{where}: the reason is empty")
        try:
            byte_value = int(byte, 16)
            line_value, col_value = int(line), int(col)
        except ValueError:
            raise RestorationError(
                f"{where}: line/col/byte must be numbers: {line!r} {col!r} {byte!r}"
            ) from None
        if byte_value not in LOST_BYTES:
            raise RestorationError(
                f"{where}: byte {byte} is not one that the cp1254 round trip loses"
            )
        values, inserted_at = _parse_sequence(sequence, where)
        if values[inserted_at] != byte_value:
            raise RestorationError(
                f"{where}: byte column {byte} "
                f"differs from the marked byte in {sequence!r}"
            )
        decisions.append(
            Decision(
                line_value,
                col_value,
                unescape_context(context),
                byte_value,
                values,
                inserted_at,
                word,
                reason,
            )
        )
    seen = set()
    for decision in decisions:
        key = (decision.line, decision.col)
        if key in seen:
            raise RestorationError(
                f"{path.name}: two decisions for line {decision.line}, "
                f"column {decision.col}"
            )
        seen.add(key)
    return decisions


# ---------------------------------------------------------------------------
# Restoration


def word_at(text: str, index: int) -> str:
    """The run of letters (or the single non-letter character) at ``index``."""
    if not text[index].isalpha():
        return text[index]
    start = index
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    end = index + 1
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[start:end]


def _describe(gap: Gap) -> str:
    present = " ".join(f"{b:02X}" for b in gap.present)
    return (
        f"line {gap.line}, column {gap.col}: sequence {present} + one lost byte, "
        f"context {escape_context(gap.context)!r}"
    )


def restore_line(
    line: str, lineno: int, decisions: dict[tuple[int, int], Decision]
) -> tuple[str, list[tuple[Decision, str]]]:
    """Restore one seed line; also return each used decision with its resulting word."""
    out = bytearray()
    used = []  # (decision, index of the repaired character in the restored line)
    chars = 0
    for _start, present, gap in split_sequences(line, lineno):
        if gap is None:
            out.extend(present)
            chars += 1
            continue
        decision = decisions.get((lineno, gap.col))
        if decision is None:
            raise RestorationError(f"no decision for the lost byte at {_describe(gap)}")
        if decision.context != gap.context:
            raise RestorationError(
                f"decision for line {lineno}, column {gap.col} no longer matches: "
                "the table has context "
                f"{escape_context(decision.context)!r}, "
                f"the seed has {escape_context(gap.context)!r}"
            )
        survivors = (
            decision.sequence[: decision.inserted_at]
            + decision.sequence[decision.inserted_at + 1 :]
        )
        if survivors != present:
            raise RestorationError(
                f"decision for {_describe(gap)} no longer matches: its sequence "
                f"{' '.join(f'{b:02X}' for b in decision.sequence)} "
                "does not extend the surviving bytes"
            )
        try:
            repaired = bytes(decision.sequence).decode("utf-8")
        except UnicodeDecodeError:
            raise RestorationError(
                f"decision for {_describe(gap)} does not give valid UTF-8"
            ) from None
        if len(repaired) != 1:
            raise RestorationError(
                f"decision for {_describe(gap)} gives {len(repaired)} characters, "
                "not one"
            )
        out.extend(decision.sequence)
        used.append((decision, chars))
        chars += 1
    try:
        restored = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RestorationError(
            f"line {lineno}: restored bytes are not UTF-8 ({exc})"
        ) from None
    checked = []
    for decision, index in used:
        word = word_at(restored, index)
        if word != decision.word:
            raise RestorationError(
                f"decision for line {lineno}, column {decision.col} no longer matches: "
                "it gives the word "
                f"{word!r}, the table says {decision.word!r} "
                f"(context {escape_context(decision.context)!r})"
            )
        checked.append((decision, word))
    return unicodedata.normalize("NFC", restored), checked


def restore_text(seed_text: str, decisions: list[Decision]) -> str:
    """The restored text, every line terminated by LF."""
    table = {(d.line, d.col): d for d in decisions}
    used = set()
    lines = []
    for lineno, line in enumerate(seed_lines(seed_text), start=1):
        restored, checked = restore_line(line, lineno, table)
        used.update((d.line, d.col) for d, _ in checked)
        lines.append(restored)
    unused = [d for key, d in table.items() if key not in used]
    if unused:
        d = unused[0]
        raise RestorationError(
            f"{len(unused)} decision(s) match no lost byte; "
            f"first: line {d.line}, column {d.col}, "
            f"context {escape_context(d.context)!r} "
            "(the seed no longer has a gap there)"
        )
    return unicodedata.normalize("NFC", "".join(line + "\n" for line in lines))


def restore_files(seed: Path = SEED, decisions: Path = DECISIONS) -> str:
    return restore_text(seed.read_text(encoding="utf-8"), load_decisions(decisions))


# ---------------------------------------------------------------------------
# Comparing with the post


def split_front_matter(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split off the YAML front matter (``---`` ... ``---``) at the top."""
    if not lines or lines[0] != "---":
        raise RestorationError("the text does not start with a '---' front matter line")
    for index in range(1, len(lines)):
        if lines[index] == "---":
            return lines[: index + 1], lines[index + 1 :]
    raise RestorationError("the front matter is not closed by a '---' line")


def original_body_lines(restored: str) -> list[str]:
    """The non-empty lines after the front matter of the pure restoration."""
    _, body = split_front_matter(restored.split("\n"))
    return [line for line in body if line.strip()]


def compare_with_post(restored: str, post_text: str) -> list[str]:
    """Problems found when checking the post against the restoration (empty: fine)."""
    problems = []
    if "\r" in post_text:
        problems.append("the post contains CR characters; expected LF line endings")
    if unicodedata.normalize("NFC", post_text) != post_text:
        problems.append("the post is not NFC-normalised")
    post_lines = post_text.split("\n")
    front, _ = split_front_matter(restored.split("\n"))
    if post_lines[: len(front)] != front:
        for index, expected in enumerate(front):
            actual = post_lines[index] if index < len(post_lines) else None
            if actual != expected:
                problems.append(
                    f"front matter line {index + 1} differs: "
                    f"expected {expected!r}, found {actual!r}"
                )
                break
        return problems
    position = len(front)
    for expected in original_body_lines(restored):
        while position < len(post_lines) and post_lines[position] != expected:
            position += 1
        if position == len(post_lines):
            problems.append(
                f"original line missing or out of order (as a whole line): {expected!r}"
            )
            return problems
        position += 1
    return problems


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the restoration with the post; exit 1 on a difference",
    )
    parser.add_argument(
        "--out", type=Path, help="write the restored text here instead of stdout"
    )
    parser.add_argument(
        "--seed",
        type=Path,
        default=SEED,
        help="damaged text (default: restoration/seed.txt)",
    )
    parser.add_argument(
        "--decisions",
        type=Path,
        default=DECISIONS,
        help="decision table (default: restoration/decisions.tsv)",
    )
    parser.add_argument(
        "--post", type=Path, default=POST, help="post checked by --check"
    )
    args = parser.parse_args(argv)

    try:
        restored = restore_files(args.seed, args.decisions)
    except RestorationError as exc:
        print(f"restore.py: error: {exc}", file=sys.stderr)
        return 2

    if args.check:
        problems = compare_with_post(restored, args.post.read_text(encoding="utf-8"))
        for problem in problems:
            print(f"restore.py: {args.post.name}: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(
            f"{args.post.name}: front matter and "
            f"{len(original_body_lines(restored))} original lines intact"
        )
        return 0

    data = restored.encode("utf-8")
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
