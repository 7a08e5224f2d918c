"""Data sets as objects. `source(data, cache_dir)` chooses one from the `data` config once; a
stage asks it for examples and for what it supports, and no module outside `causalgear.data`
tests the data set's name.

What a source may support (`Capability`): shift splits (one phrasing element held out), concept
labels on the question (its phrasing is known), counterfactual pairs (cause/isolate and
activation patching), a validation split to choose on, and schema decoding.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import ClassVar

from causalgear.config import TINYSQL_SPLITS, ConfigError
from causalgear.data.examples import Example

# capability -> the work that needs it (without shift splits steering.split=auto steers
# data.eval_split; without question concepts features score the SQL's concepts alone)
CAPABILITIES = {
    "shift_splits": "shift-split steering",
    "question_concepts": "question concept labels",
    "counterfactual_pairs": "cause/isolate and activation patching",
    "validation_split": "concept steering",
}


class DataSource:
    """One data set. Subclasses say what they support and how their splits load."""

    name: ClassVar[str]
    supports: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, data, cache_dir: str | Path | None = None):
        self.data, self.cache_dir = data, cache_dir

    def load(self, split: str) -> list[Example]:
        raise NotImplementedError

    def check(self, key: str = "data") -> None:
        """The config's checks that need the disk (`key`: where the config sits, for the message)."""

    def check_split(self, key: str, split: str) -> None:
        """`split` names a split of this data set, else a ConfigError at `key`."""

    def unavailable(self) -> str | None:
        """Why this data set cannot be loaded here (a transfer target is then skipped), or None."""
        return None

    def check_databases(self) -> None:
        """The databases the configured split runs on are whole (the input check)."""

    def summary(self) -> dict:
        """What `causalgear data` writes."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.data.eval_split})"

    def identity(self) -> dict:
        """What the examples depend on, for cache keys (the evaluation split does not enter)."""
        from omegaconf import OmegaConf

        data = OmegaConf.to_container(self.data, resolve=True) if not isinstance(self.data, dict) else dict(self.data)
        data.pop("eval_split", None)
        return data

    @property
    def served_splits(self) -> tuple[str, ...]:
        """The splits whose databases the service scores on."""
        return (self.data.eval_split,)

    @property
    def spider_dir(self) -> str | None:
        """A Spider copy this config names (build-model measures the model on it), else None."""
        return None

    @property
    def schema_decoding(self) -> bool:
        """Whether predictions are decoded under the single-table grammar (`models/constrain.py`)."""
        decoding = str(self.data.get("decoding", "auto"))
        return self.schema_decoding_by_default if decoding == "auto" else decoding == "schema"

    schema_decoding_by_default: ClassVar[bool] = False

    def lacks(self) -> dict[str, str]:
        """Each capability this source lacks -> what is skipped for it."""
        return {c: what for c, what in CAPABILITIES.items() if c not in self.supports}


class TinySQL(DataSource):
    name = "tinysql"
    supports = frozenset(CAPABILITIES)

    def load(self, split: str) -> list[Example]:
        from causalgear.data import tinysql

        return tinysql.load_split(self.data, self.cache_dir, split)

    def check(self, key: str = "data") -> None:
        self.check_split(f"{key}.eval_split", self.data.eval_split)

    def check_split(self, key: str, split: str) -> None:
        if split not in TINYSQL_SPLITS:
            raise ConfigError(key, split, f"one of {', '.join(TINYSQL_SPLITS)}")

    def summary(self) -> dict:
        from causalgear.data import tinysql

        root = tinysql.ensure_dataset(self.data, self.cache_dir)
        return {"name": self.name, "path": str(root),
                "splits": {s: dict(Counter(e.group for e in self.load(s))) for s in tinysql.SPLITS}}

    def describe(self) -> str:
        return f"tinysql {'+'.join(self.data.command_sets)} ({self.data.eval_split})"

    @property
    def served_splits(self) -> tuple[str, ...]:
        return ("validation", "test", "test_ood")


def _expand(path) -> Path:
    return Path(os.path.expanduser(str(path)))


class Spider(DataSource):
    name = "spider"

    def load(self, split: str) -> list[Example]:
        from causalgear.data import spider

        data = self.data
        if split != data.split:
            data = data.copy()
            data.split = split
        return spider.load_examples(data)[0]

    @property
    def _local(self) -> bool:
        return self.data.source == "local"

    def check(self, key: str = "data") -> None:
        data = self.data
        if self._local or data.spider_dir is not None:
            spider_dir = _expand(data.spider_dir) if data.spider_dir else None
            if spider_dir is None or not spider_dir.is_dir():
                raise ConfigError(f"{key}.spider_dir", data.spider_dir, "an existing directory in Spider's layout")
            if not (spider_dir / "tables.json").is_file():
                raise ConfigError(f"{key}.spider_dir", data.spider_dir, "a directory that holds tables.json")
            self.check_split(f"{key}.split", data.split)

    def check_split(self, key: str, split: str) -> None:
        from causalgear.data.spider import split_file

        if self._local and self.data.spider_dir:
            spider_dir = _expand(self.data.spider_dir)
            if not split_file(spider_dir, split).is_file():
                raise ConfigError(key, split, f"a split whose file exists in {spider_dir} "
                                              f"({split_file(spider_dir, split).name} is missing)")

    def unavailable(self) -> str | None:
        spider_dir = self.data.spider_dir
        if self._local and (spider_dir is None or not (_expand(spider_dir) / "tables.json").is_file()):
            return (f"Spider not found (data.spider_dir={spider_dir!r}; set CAUSALGEAR_SPIDER or "
                    f"transfer.NAME.spider_dir)")
        return None

    def check_databases(self) -> None:
        if self._local and self.unavailable() is None:
            from causalgear.data import spider

            spider.check_databases(self.data)

    def summary(self) -> dict:
        from causalgear.data import spider

        examples, counts = spider.load_examples(self.data)
        return {"name": self.name, "path": str(self.data.spider_dir), **counts,
                "by_group": dict(Counter(e.group for e in examples))}

    @property
    def served_splits(self) -> tuple[str, ...]:
        return (self.data.split,)

    @property
    def spider_dir(self) -> str | None:
        return self.data.spider_dir

    @property
    def schema_decoding_by_default(self) -> bool:  # the single-table subset fits the grammar
        return str(self.data.subset) == "tinysql"


class Jsonl(DataSource):
    """The user's own JSONL (`causalgear.data.jsonl`), split by `data.test_fraction` into train and test."""

    name = "jsonl"

    def _rows(self) -> list[Example]:
        from causalgear.data import jsonl

        return jsonl.read_rows_once(self.data.path)

    def load(self, split: str) -> list[Example]:
        from causalgear.data import jsonl

        return jsonl.split_rows(self._rows(), split, self.data.test_fraction, self.data.seed)

    def check(self, key: str = "data") -> None:
        from causalgear.data import jsonl

        if self.data.path is None or not _expand(self.data.path).is_file():
            raise ConfigError(f"{key}.path", self.data.path,
                              f"a JSONL file whose rows hold {', '.join(jsonl.REQUIRED)} (and optionally group)")
        self.check_split(f"{key}.eval_split", self.data.eval_split)

    def check_split(self, key: str, split: str) -> None:
        from causalgear.data import jsonl

        if split not in jsonl.SPLITS:
            raise ConfigError(key, split, f"one of {', '.join(jsonl.SPLITS)} (a JSONL is split by data.test_fraction)")

    def check_databases(self) -> None:
        from causalgear.data import jsonl

        rows = self._rows()  # every row: its fields, its database, its gold SQL
        if repeated := jsonl.duplicates(rows):
            print(f"data.path={self.data.path}: {repeated} of {len(rows)} rows repeat an earlier row's question on the "
                  "same schema and database; repeats are kept on one side of the train/test split")

    def summary(self) -> dict:
        from causalgear.data import jsonl

        return {"name": self.name, "path": str(self.data.path),
                "duplicate_rows": jsonl.duplicates(self._rows()),
                "splits": {s: dict(Counter(e.group for e in self.load(s))) for s in ("train", "test")}}

    def identity(self) -> dict:
        from causalgear.data import jsonl

        return {**super().identity(), "sha256": jsonl.file_hash(self.data.path)}


SOURCES: dict[str, type[DataSource]] = {s.name: s for s in (TinySQL, Spider, Jsonl)}


def source(data, cache_dir: str | Path | None = None) -> DataSource:
    """The source the `data` config (or a transfer target's) names."""
    if data.name not in SOURCES:
        raise ConfigError("data.name", data.name, f"one of {', '.join(SOURCES)}")
    return SOURCES[data.name](data, cache_dir)


def of(cfg) -> DataSource:
    """The run's own data source (`cfg.data`, cached data under `cfg.paths.cache_dir`)."""
    return source(cfg.data, cfg.paths.cache_dir)
