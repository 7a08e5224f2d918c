"""The data configs' checks that need the disk: Spider's files, and which splits exist."""

from __future__ import annotations

import os
from pathlib import Path

from causalgear.config import TINYSQL_SPLITS, ConfigError


def spider_file(split: str) -> str:
    return {"dev": "dev.json", "train": "train_spider.json"}.get(split, f"{split}.json")


def check_split(key: str, split: str, data) -> None:
    """`split` names a split of `data` (for a local Spider copy: one whose file exists)."""
    if data.name == "tinysql":
        if split not in TINYSQL_SPLITS:
            raise ConfigError(key, split, f"one of {', '.join(TINYSQL_SPLITS)}")
    elif data.source == "local" and data.spider_dir:
        spider_dir = Path(os.path.expanduser(str(data.spider_dir)))
        if not (spider_dir / spider_file(split)).is_file():
            raise ConfigError(key, split,
                              f"a split whose file exists in {spider_dir} ({spider_file(split)} is missing)")


def unavailable(data) -> str | None:
    """Why a data set cannot be loaded here (a transfer target is then skipped), or None."""
    if data.name == "spider" and data.source == "local":
        spider_dir = data.spider_dir
        if spider_dir is None or not (Path(os.path.expanduser(str(spider_dir))) / "tables.json").is_file():
            return (f"Spider not found (data.spider_dir={spider_dir!r}; set CAUSALGEAR_SPIDER or "
                    f"transfer.NAME.spider_dir)")
    return None


def check_data(data, key: str = "data") -> None:
    """One data config (`key`: where it sits, for the message)."""
    if data.name == "spider" and (data.source == "local" or data.spider_dir is not None):
        spider_dir = Path(os.path.expanduser(str(data.spider_dir))) if data.spider_dir else None
        if spider_dir is None or not spider_dir.is_dir():
            raise ConfigError(f"{key}.spider_dir", data.spider_dir, "an existing directory in Spider's layout")
        if not (spider_dir / "tables.json").is_file():
            raise ConfigError(f"{key}.spider_dir", data.spider_dir, "a directory that holds tables.json")
        check_split(f"{key}.split", data.split, data)
    if data.name == "tinysql":
        check_split(f"{key}.eval_split", data.eval_split, data)


def check_databases(data) -> None:
    """The databases of the configured Spider split (loading it checks them too: `spider.check_databases_of`).
    TinySQL's are generated and rebuilt from their cache key; a Spider copy that is not here is the
    config check's or the transfer's to report."""
    if data.name != "spider" or data.source != "local" or unavailable(data) is not None:
        return
    from causalgear.data import spider

    spider.check_databases(data)
