"""Multi-table TinySQL: real-schema styles, one table per question, gold SQL that runs."""

import random
import re
import sqlite3

import pytest

from causalgear.data import multitable, multitable_vocab, spider


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {s: multitable.load_split(0, 40, cache, s) for s in multitable.SPLITS}


def test_the_same_seed_gives_the_same_examples(tmp_path):
    a = multitable.load_split(3, 5, tmp_path / "a", "train")
    b = multitable.load_split(3, 5, tmp_path / "b", "train")
    assert [(e.db_id, e.question, e.sql, e.context) for e in a] == [(e.db_id, e.question, e.sql, e.context) for e in b]


def test_the_share_of_made_up_names_changes_the_training_databases_only(tmp_path):
    def nouns(share: float) -> set[str]:
        return {t.noun for i in range(30) for t in multitable.make_database(random.Random(i), "d", share).tables}

    assert nouns(0.0) <= set(multitable.NOUNS) and not nouns(1.0) & set(multitable.NOUNS)
    rows = {share: {s: multitable.load_split(0, 5, tmp_path / str(share), s, share) for s in ("train", "test")}
            for share in (0.0, multitable.MADE_UP)}
    assert [(e.question, e.sql, e.context) for e in rows[0.0]["test"]] == \
        [(e.question, e.sql, e.context) for e in rows[multitable.MADE_UP]["test"]]  # one benchmark
    assert [e.context for e in rows[0.0]["train"]] != [e.context for e in rows[multitable.MADE_UP]["train"]]
    with pytest.raises(ValueError, match="made_up=1.5"):
        multitable.load_split(0, 5, tmp_path, "train", made_up=1.5)


def test_every_gold_query_runs_on_its_database_and_reads_one_of_several_tables(splits):
    for e in splits["train"] + splits["test"]:
        tables = re.findall(r"CREATE TABLE (\w+)", e.context)
        assert len(tables) >= 2
        (read,) = re.findall(r"FROM (\w+)", e.sql)
        assert read in tables
        conn = sqlite3.connect(f"file:{e.db_paths[0]}?mode=ro", uri=True)
        try:
            conn.execute(e.sql).fetchall()
        finally:
            conn.close()


def test_the_group_is_the_command_set_spider_s_classifier_gives_the_gold_sql(splits):
    for e in splits["validation"]:
        assert spider.command_set(e.sql) == e.group, (e.sql, e.group)
    assert {e.group for e in splits["validation"]} == set(multitable.GROUPS)


def test_the_question_names_the_rows_it_reads():
    rng = random.Random(0)
    for i in range(50):
        db = multitable.make_database(rng, f"d{i}")
        question, sql = multitable.make_example(rng, db, rng.choice(multitable.GROUPS))
        (table,) = [t for t in db.tables if re.search(rf"FROM {t.name}\b", sql)]
        assert table.noun in question or table.one in question


def test_splits_use_disjoint_databases(splits):
    dbs = {s: {e.db_id for e in splits[s]} for s in multitable.SPLITS}
    assert not dbs["train"] & dbs["test"] and not dbs["train"] & dbs["validation"]


def test_identifiers_take_the_styles_real_schemas_use():
    rng = random.Random(1)
    contexts = " ".join(multitable.make_database(rng, f"d{i}").context for i in range(40))
    assert re.search(r"\b[a-z]+_id\b", contexts)  # snake_case
    assert re.search(r"\b[A-Z][a-z]+_ID\b", contexts)  # Singer_ID
    assert re.search(r"\b[A-Z][a-z]+[A-Z][a-z]+\b", contexts)  # CamelCase
    assert re.search(r"\b[A-Z]+_ID\b", contexts)  # upper case


def test_the_sql_uses_what_real_questions_need(splits):
    sql = " ".join(e.sql for e in splits["train"])
    for form in ("count(*)", "DISTINCT", " AND ", "BETWEEN", "avg(", ", max("):
        assert form in sql, form


@pytest.mark.parametrize(("words", "style", "spelled"), [
    (["singer", "id"], "snake", "singer_id"), (["singer", "id"], "capital_snake", "Singer_ID"),
    (["first", "name"], "camel", "FirstName"), (["singer", "id"], "upper", "SINGER_ID")])
def test_spell(words, style, spelled):
    assert multitable_vocab.spell(words, style) == spelled


@pytest.mark.parametrize(("one", "many"), [("city", "cities"), ("match", "matches"), ("singer", "singers"),
                                           ("box", "boxes"), ("day", "days")])
def test_singular_and_plural_invert(one, many):
    assert multitable_vocab.plural(one) == many and multitable_vocab.singular(many) == one
