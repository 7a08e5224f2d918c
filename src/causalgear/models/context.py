"""A prompt that does not fit the model's context is refused before any forward pass: past its
position table a model fails deep inside attention, or allocates a mask quadratic in the prompt's
length (a 1 MB question asked for tens of gigabytes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from causalgear.errors import CausalgearError


def context_length(model) -> int | None:
    """The longest input a stage runs through `model`: `model.max_context` where loading set it from
    the config (`model.max_context`), else its config's `max_position_embeddings` (None: no limit)."""
    return getattr(model, "max_context", None) or getattr(model.config.get_text_config(),
                                                          "max_position_embeddings", None)


def check_fits(model, ids: Sequence[Sequence[int]], name: Callable[[int], str], room: int = 0) -> None:
    """Raise one CausalgearError naming the longest of `ids` (`name(i)`, its token count and the
    limit) where it and `room` more tokens (those generation would add) exceed the model's context."""
    limit = context_length(model)
    if limit is None or not ids:
        return
    worst = max(range(len(ids)), key=lambda i: len(ids[i]))
    if len(ids[worst]) + room > limit:
        more = f" plus {room} to generate" if room else ""
        raise CausalgearError(f"{name(worst)} is {len(ids[worst])} tokens{more}, longer than the model's "
                              f"context of {limit} tokens: shorten it, or leave it out of the data")
