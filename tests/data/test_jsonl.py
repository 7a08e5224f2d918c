"""data=jsonl: a user's own text-to-SQL rows, each checked when read, split by a seeded share."""

import json

import pytest

from causalgear.data.jsonl import read_rows, split_rows
from causalgear.data.sources import source
from causalgear.errors import CausalgearError
from causalgear.preflight import compose
from tests.conftest import write_user_jsonl


def with_row(path, n: int, change: dict, drop: str | None = None) -> None:
    """Replace row `n` (1-based) of the JSONL at `path` by itself with `change` applied."""
    lines = path.read_text().splitlines()
    row = {**json.loads(lines[n - 1]), **change}
    row.pop(drop, None)
    lines[n - 1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


def test_every_row_becomes_an_example_that_runs_on_its_database(tmp_path):
    examples = read_rows(write_user_jsonl(tmp_path))
    assert len(examples) == 60
    first = examples[0]
    assert (first.question, first.sql, first.group) == ("show the name of items", "SELECT name FROM items", "plain")
    assert first.db_paths == ((tmp_path / "shop.sqlite").resolve(),)
    assert first.prompt[slice(*first.question_span)] == first.question
    assert first.prompt[slice(*first.context_span)] == first.context


@pytest.mark.parametrize(("change", "drop", "message"), [
    ({}, "sql", "row 7: missing field 'sql'"),
    ({"question": "  "}, None, "row 7: missing field 'question'"),
    ({"sql": "SELECT colour FROM items"}, None, "row 7: its sql does not run on shop.sqlite .*no such column: colour"),
    ({"db": "../elsewhere.sqlite"}, None, "row 7: db '../elsewhere.sqlite' is outside"),
    ({"db": "missing.sqlite"}, None, "row 7: db 'missing.sqlite' cannot be read"),
])
def test_a_bad_row_is_refused_in_one_line_naming_its_number(tmp_path, change, drop, message):
    path = write_user_jsonl(tmp_path / "data")
    (tmp_path / "elsewhere.sqlite").write_bytes((tmp_path / "data" / "shop.sqlite").read_bytes())
    with_row(path, 7, change, drop)
    with pytest.raises(CausalgearError, match=message) as err:
        read_rows(path)
    assert "\n" not in str(err.value)


def test_a_line_that_is_not_json_is_named(tmp_path):
    path = write_user_jsonl(tmp_path)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(CausalgearError, match="row 61: not JSON"):
        read_rows(path)


def test_train_and_test_partition_the_rows_by_a_seeded_share(tmp_path):
    examples = read_rows(write_user_jsonl(tmp_path))
    train, test = (split_rows(examples, s, 0.25, seed=0) for s in ("train", "test"))
    assert len(test) == 15 and len(train) == 45
    assert not {e.id for e in train} & {e.id for e in test}
    assert [e.id for e in split_rows(examples, "test", 0.25, seed=0)] == [e.id for e in test]
    assert [e.id for e in split_rows(examples, "test", 0.25, seed=1)] != [e.id for e in test]


def test_the_source_says_what_it_lacks_and_checks_its_config(tmp_path):
    path = write_user_jsonl(tmp_path)
    cfg = compose(["data=jsonl", f"data.path={path}"])
    data = source(cfg.data)
    assert set(data.lacks()) == {"shift_splits", "question_concepts", "counterfactual_pairs", "validation_split"}
    assert len(data.load("test")) == 30 and data.load("train")[0].split == "train"
    with pytest.raises(Exception, match="data.path=None is not allowed: a JSONL file"):
        source(compose(["data=jsonl"]).data).check()
    with pytest.raises(Exception, match="data.eval_split='validation' is not allowed: one of all, train, test"):
        source(compose(["data=jsonl", f"data.path={path}", "data.eval_split=validation"]).data).check()


def test_the_cache_key_follows_the_rows(tmp_path):
    path = write_user_jsonl(tmp_path)
    data = source(compose(["data=jsonl", f"data.path={path}"]).data)
    before = data.identity()
    with_row(path, 1, {"question": "show every name of items"})
    assert data.identity()["sha256"] != before["sha256"]
