"""TinySQL is deterministic, its splits are disjoint, and every gold query runs."""

import hashlib
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from causalgear.config import TinySQLDataConfig
from causalgear.data import tinysql
from causalgear.data import vocab as V
from causalgear.data.sqlexec import execute

SMALL = dict(n_train_per_set=120, n_validation_per_set=10, n_test_per_set=20, n_test_ood_per_set=15,
             n_schemas=40, n_databases=3, rows_per_table=12)


def small_cfg(**over):
    return OmegaConf.structured(TinySQLDataConfig(**{**SMALL, **over}))


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_splits_and_databases(tmp_path):
    a = tinysql.ensure_dataset(small_cfg(), tmp_path / "a")
    b = tinysql.ensure_dataset(small_cfg(), tmp_path / "b")
    digest_a = tree_digest(a)
    assert any(k.endswith(".sqlite") for k in digest_a) and "train.jsonl" in digest_a
    assert digest_a == tree_digest(b)
    c = tinysql.ensure_dataset(small_cfg(seed=1), tmp_path / "c")
    assert tree_digest(c)["train.jsonl"] != digest_a["train.jsonl"]


def test_splits_share_no_schema_question_pair(tmp_path):
    cfg = small_cfg()
    pairs = {s: {(e.db_id, e.question) for e in tinysql.load_split(cfg, tmp_path, s)} for s in tinysql.SPLITS}
    for i, s in enumerate(tinysql.SPLITS):
        assert len(pairs[s]) == len(tinysql.load_split(cfg, tmp_path, s))  # no duplicates within
        for t in tinysql.SPLITS[i + 1:]:
            assert not pairs[s] & pairs[t], (s, t)


def test_every_gold_query_executes_on_all_its_databases(tmp_path):
    cfg = small_cfg()
    for split in tinysql.SPLITS:
        for ex in tinysql.load_split(cfg, tmp_path, split):
            assert len(ex.db_paths) == cfg.n_databases
            for db in ex.db_paths:
                result = execute(db, ex.sql)
                assert result.ok, (ex.sql, result.error)


def test_command_sets_are_progressive(tmp_path):
    by_set = {}
    for ex in tinysql.load_split(small_cfg(), tmp_path, "train"):
        by_set.setdefault(ex.group, []).append(ex.sql)
    assert all(re.fullmatch(r"SELECT [\w, ]+ FROM \w+", q) for q in by_set["CS1"])
    assert all(" ORDER BY " in q and " WHERE " not in q for q in by_set["CS2"])
    assert all(re.search(r"(COUNT|SUM|AVG|MIN|MAX)\(\w+\) AS \w+", q) for q in by_set["CS3"])
    assert all(" WHERE " in q for q in by_set["CS4"])


def test_names_are_never_sql_keywords_and_there_are_hundreds():
    names = V.TABLE_NOUNS + V.TEXT_FIELDS + V.INT_FIELDS + V.REAL_FIELDS
    assert not set(names) & V.SQL_KEYWORDS
    assert len(V.TABLE_NOUNS) >= 200 and len(V.TEXT_FIELDS + V.INT_FIELDS + V.REAL_FIELDS) >= 200


def test_test_ood_uses_phrasings_that_training_never_sees(tmp_path):
    cfg = small_cfg()
    train_q = " ".join(e.question for e in tinysql.load_split(cfg, tmp_path, "train"))
    ood = tinysql.load_split(cfg, tmp_path, "test_ood")
    markers = ["i would like to see", "for each row of", "stored in", "please", "across", "tell me", "i need"]
    assert all(m not in train_q for m in markers)
    assert sum(any(m in e.question for m in markers) for e in ood) > len(ood) // 2


def test_prompt_is_one_line_in_the_documented_format(tmp_path):
    ex = tinysql.load_split(small_cfg(), tmp_path, "test")[0]
    assert ex.prompt == f"### Instruction: {ex.question} ### Context: {ex.context} ### Response: "
    assert "\n" not in ex.prompt and ex.context.startswith("CREATE TABLE ")


def test_an_interrupted_generation_leaves_no_dataset(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(tinysql, "write_database", boom)
    with pytest.raises(KeyboardInterrupt):
        tinysql.ensure_dataset(small_cfg(), tmp_path)
    monkeypatch.undo()
    root = tinysql.ensure_dataset(small_cfg(), tmp_path)  # rebuilt, not half-read
    assert (root / "info.json").is_file() and len(tinysql.load_split(small_cfg(), tmp_path, "train")) == 480


def _ood_patterns(element: str) -> list[re.Pattern]:
    """Regexes of an element's held-out phrasings (their {slots} match anything)."""
    table = {"verb": V.VERBS, "select": {s: V.SELECT_TEMPLATES[s] + V.AGG_TEMPLATES[s] for s in ("train", "ood")},
             "order": V.ORDER_PHRASES, "aggregate": V.AGG_PHRASES, "where": V.WHERE_TEMPLATES,
             "operator": V.OP_PHRASES}[element]["ood"]
    phrases = [p for v in table.values() for p in v] if isinstance(table, dict) else list(table)
    return [re.compile(r"\b" + ".*".join(map(re.escape, re.split(r"\{\w+\}", p))).strip() + r"\b") for p in phrases]


def test_each_graded_shift_split_shifts_exactly_its_one_element(tmp_path):
    cfg = small_cfg()
    base = {(e.db_id, e.question) for s in tinysql.SPLITS for e in tinysql.load_split(cfg, tmp_path, s)}
    drawn: set[tuple[str, str]] = set()
    for side, n in (("test", cfg.n_test_per_set), ("validation", cfg.n_validation_per_set)):
        schemas = {e.db_id for e in tinysql.load_split(cfg, tmp_path, side)}
        for element in tinysql.SHIFT_ELEMENTS:
            shifted = tinysql.load_split(cfg, tmp_path, f"{side}_shift.{element}")
            groups = [c for c in cfg.command_sets if c in tinysql.SHIFT_SETS[element]]
            assert [e.group for e in shifted] == [c for c in groups for _ in range(n)]
            assert {e.db_id for e in shifted} <= schemas  # the schemas of its twin split
            pairs = {(e.db_id, e.question) for e in shifted}
            assert not pairs & base and not pairs & drawn  # no question is in two splits
            drawn |= pairs
            ood = _ood_patterns(element)
            others = [p for other in tinysql.SHIFT_ELEMENTS if other not in (element, "verb")
                      for p in _ood_patterns(other)]
            for e in shifted:
                assert any(p.search(e.question) for p in ood), (element, e.question)  # its element is held out
                assert not any(p.search(e.question) for p in others), (element, e.question)  # the others are not
    # the base data set is unchanged by them
    assert tree_digest(tinysql.ensure_dataset(cfg, tmp_path / "fresh")) == tree_digest(
        tinysql.ensure_dataset(cfg, tmp_path))


def test_every_graded_shift_gold_query_executes(tmp_path):
    cfg = small_cfg()
    for split in tinysql.SHIFT_SPLITS + tinysql.VALIDATION_SHIFT_SPLITS:
        for e in tinysql.load_split(cfg, tmp_path, split):
            assert execute(Path(e.db_dir) / f"{e.db_id}.sqlite", e.sql).ok, e.sql
