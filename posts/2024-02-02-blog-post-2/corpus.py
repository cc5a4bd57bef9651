"""A real text corpus that needs no download: the English documentation shipped with
every CPython (`pydoc_data.topics`, the text `help('topics')` prints), as bytes - a
byte-level vocabulary of 256."""

from __future__ import annotations

import torch

HELD_OUT_EVERY = 10  # every 10th documentation topic (in sorted order) is held out


def topics() -> dict[str, str]:
    from pydoc_data.topics import topics as pydoc_topics

    return dict(sorted(pydoc_topics.items()))


def split() -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) byte tensors (uint8): whole topics go to one side or the
    other."""
    train, held_out = [], []
    for i, text in enumerate(topics().values()):
        (held_out if i % HELD_OUT_EVERY == 0 else train).append(text)

    def as_tensor(texts: list[str]) -> torch.Tensor:
        data = "\n\n".join(texts).encode("utf-8")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()

    return as_tensor(train), as_tensor(held_out)


def windows(data: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """(b, length) int64 token ids: data[s : s + length] for each start s (on data's
    device)."""
    offsets = torch.arange(length, device=data.device)
    return data[starts.to(data.device).unsqueeze(1) + offsets].long()


def random_starts(
    data: torch.Tensor, count: int, length: int, generator: torch.Generator
) -> torch.Tensor:
    """Uniform window starts on the CPU generator (so CPU and GPU runs read the same
    windows)."""
    return torch.randint(0, data.numel() - length, (count,), generator=generator)
