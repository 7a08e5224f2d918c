"""One entry point from the `data` config to examples, whatever the data set."""

from __future__ import annotations

from causalgear.data.examples import Example


def load_split(cfg, split: str | None = None) -> list[Example]:
    """Examples of a split of the configured data set (default: `data.eval_split`)."""
    split = split or cfg.data.eval_split
    if cfg.data.name == "tinysql":
        from causalgear.data import tinysql

        return tinysql.load_split(cfg.data, cfg.paths.cache_dir, split)
    from causalgear.data import spider

    if split != cfg.data.split:
        data = cfg.data.copy()
        data.split = split
        return spider.load_examples(data)[0]
    return spider.load_examples(cfg.data)[0]
