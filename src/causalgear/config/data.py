"""`data`: the data set's group, one dataclass per source (`causalgear.data.sources`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from causalgear.config.checks import ConfigError, _positive

CommandSet = StrEnum("CommandSet", [(v, v) for v in ("CS1", "CS2", "CS3", "CS4")])
COMMAND_SETS = tuple(CommandSet)
# TinySQL's phrasing elements: `test_shift.<element>` (and its twin `validation_shift.<element>`)
# shifts exactly that one to its held-out phrasing
SHIFT_ELEMENTS = ("verb", "select", "order", "aggregate", "where", "operator")
TINYSQL_SPLITS = ("train", "validation", "test", "test_ood", *(f"{s}_shift.{e}" for s in ("test", "validation")
                                                                 for e in SHIFT_ELEMENTS))

SpiderSource = StrEnum("SpiderSource", [(v, v) for v in ("local", "hub")])
SpiderSubset = StrEnum("SpiderSubset", [(v, v) for v in ("all", "tinysql")])
Difficulty = StrEnum("Difficulty", [(v, v) for v in ("easy", "medium", "hard", "extra")])
# how predictions are decoded: free, or schema (each one a single-table SELECT over its example's
# own schema: models/constrain.py); auto: schema for Spider's single-table subset, free elsewhere
Decoding = StrEnum("Decoding", [(v, v) for v in ("auto", "free", "schema")])


@dataclass
class TinySQLDataConfig:
    name: str = "tinysql"
    seed: int = 0
    command_sets: list[CommandSet] = field(default_factory=lambda: list(CommandSet))
    n_train_per_set: int = 8000
    n_validation_per_set: int = 100
    n_test_per_set: int = 200
    n_test_ood_per_set: int = 100
    n_schemas: int = 400
    n_databases: int = 3
    rows_per_table: int = 24
    # which split the evaluation stages read
    eval_split: str = "test"
    decoding: Decoding = Decoding.auto

    def __post_init__(self) -> None:
        if not self.command_sets:
            raise ConfigError("data.command_sets", [], f"a non-empty subset of {', '.join(COMMAND_SETS)}")
        _positive("data", self, "n_train_per_set", "n_validation_per_set", "n_test_per_set", "n_test_ood_per_set",
                  "n_schemas", "n_databases", "rows_per_table")
        if self.eval_split not in TINYSQL_SPLITS:
            raise ConfigError("data.eval_split", self.eval_split, f"one of {', '.join(TINYSQL_SPLITS)}")


@dataclass
class SpiderDataConfig:
    name: str = "spider"
    source: SpiderSource = SpiderSource.local  # a local directory in the official layout, or the hub's
    spider_dir: str | None = None
    hub_id: str = "xlangai/spider"
    split: str = "dev"
    max_examples: int = 500
    # tinysql: the single-table questions (one SELECT and table; no join, nesting, GROUP BY, set
    # operation or LIMIT), grouped by TinySQL command set instead of difficulty
    subset: SpiderSubset = SpiderSubset.all
    difficulty: list[Difficulty] = field(default_factory=lambda: list(Difficulty))
    seed: int = 0
    eval_split: str = "dev"
    decoding: Decoding = Decoding.auto

    def __post_init__(self) -> None:
        _positive("data", self, "max_examples")
        if self.decoding == Decoding.schema and self.subset != SpiderSubset.tinysql:
            raise ConfigError("data.decoding", self.decoding.value, "free or auto with data.subset=all: its questions "
                              "need joins and nesting, which the single-table grammar of schema decoding lacks")


@dataclass
class JsonlDataConfig:
    """The user's own text-to-SQL data: a JSONL of question, context, sql and db (and group)."""

    name: str = "jsonl"
    path: str | None = None
    # the share of rows evaluate and steer read (split `test`); harvest reads the rest (`train`)
    test_fraction: float = 0.5
    seed: int = 0
    eval_split: str = "test"
    decoding: Decoding = Decoding.auto

    def __post_init__(self) -> None:
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError("data.test_fraction", self.test_fraction, "a share strictly between 0 and 1")
