"""Numbers from our own runs, put into the prose at build time instead of being retyped.

``{{ figure.<figure>.<key>... | <format spec> }}`` is the value in the figure's entry of
the post's manifest (its own keys first, then its ``measures``). An unreadable manifest,
or a token reading an entry that fails its checksum, stops the build."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from explainer.engine import EngineError, Store, _shown

# {{ figure.gmlp_vs_transformer.gmlp.eval_loss_mean | .3f }}
TOKEN = re.compile(
    r"\{\{\s*(?P<source>figure)\.(?P<path>[A-Za-z0-9_.]+?)\s*"
    r"(?:\|\s*(?P<format>[^}]*?)\s*)?\}\}"
)


def lookup(entries: dict[str, Any], path: str) -> Any:
    """The value at `<figure>.<key>...` in the entries; KeyError names what exists."""
    name, _, rest = path.partition(".")
    if name in getattr(entries, "rejected", {}):
        raise KeyError(entries.rejected[name])
    if name not in entries:
        figures = ", ".join(sorted(entries))
        raise KeyError(f"no figure {name!r} in the manifest (figures: {figures})")
    entry, measures = entries[name], entries[name].get("measures") or {}
    for value in (entry, measures):
        try:
            for key in rest.split(".") if rest else []:
                list_index = isinstance(value, list) and key.isdigit()
                value = value[int(key) if list_index else key]
            return value
        except (KeyError, IndexError, TypeError):
            continue
    keys = ", ".join(sorted(set(entry) | set(measures)))
    raise KeyError(f"figure {name!r} has no {rest!r} (keys: {keys})")


def substitute(text: str, entries: dict[str, Any], where: Callable[[int], str]) -> str:
    """`text` with every token replaced; an unknown key or a bad format raises
    EngineError naming `where(offset of the token)`."""

    def replace(match: re.Match) -> str:
        try:
            return format(lookup(entries, match["path"]), match["format"] or "")
        except (KeyError, ValueError, TypeError) as error:
            message = error.args[0] if error.args else str(error)
            at = where(match.start())
            raise EngineError(f"{at}: {match[0]}: {message}") from None

    return TOKEN.sub(replace, text)


def provenance(entry: dict[str, Any]) -> str:
    """'vẽ trên CPU, profile quick, 600 bước huấn luyện' for a manifest entry."""
    device = entry.get("device") or entry.get("device_kind") or "?"
    device = "CPU" if device == "cpu" else device
    parts = [
        f"vẽ bằng <code>make figures</code> trên {device}",
        f"profile {entry.get('profile', '?')}",
    ]
    steps = (entry.get("measures") or {}).get("steps")
    if isinstance(steps, int):
        parts.append(f"{steps} bước huấn luyện")
    return ", ".join(parts)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class Entries(dict):
    """The manifest's usable entries; `rejected`: why each other one is not."""

    rejected: dict[str, str]


def read_entries(store: Store) -> Entries:
    """The figure entries of a manifest (figures.cache.manifest; {} when it is not
    there)."""
    from explainer.figures.cache import restore

    shown, fix = _shown(store.path), restore(store.path)
    if store.unreadable:
        raise EngineError(f"{shown} is unreadable ({store.unreadable}); {fix}")
    entries = Entries(store.entries)
    entries.rejected = {
        name: f"the entry of figure {name!r} in {shown} {why}; {fix}"
        for name, why in store.rejected.items()
    }
    return entries
