"""One entry point from the `data` config to examples, whatever the data set."""

from __future__ import annotations

from causalgear.data.examples import Example


def load_split(cfg, split: str | None = None) -> list[Example]:
    """Examples of a split of the configured data set (default: `data.eval_split`)."""
    from causalgear.data.sources import of

    return of(cfg).load(split or cfg.data.eval_split)
