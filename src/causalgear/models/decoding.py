"""Which rows of a generation batch are still decoding: `models.generate` drops the rows that have
ended, and `models.site` applies an edit made for the whole batch to the rows that remain, where
they were in it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import torch

# the rows of a generation batch still decoding, and the batch's size (`models.generate` drops the
# rows that finished): an edit made for the whole batch is applied to its rows where they were
_DECODING: ContextVar[tuple[torch.Tensor, int] | None] = ContextVar("decoding_rows", default=None)


@contextlib.contextmanager
def decoding_rows(rows: torch.Tensor, size: int) -> Iterator[None]:
    """Inside: the forward passes run only the batch's `rows` (of `size`)."""
    token = _DECODING.set((rows, size))
    try:
        yield
    finally:
        _DECODING.reset(token)


def on_batch(fn: Callable[[torch.Tensor], torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """fn(h), with h's rows placed where they are in the whole batch while some have left it."""
    live = _DECODING.get()
    if live is None or len(live[0]) == live[1] or h.shape[0] != len(live[0]):
        return fn(h)
    rows = live[0].to(h.device)
    whole = h.new_zeros((live[1], *h.shape[1:]))
    whole[rows] = h
    return fn(whole)[rows]
