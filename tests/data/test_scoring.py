"""Execution accuracy follows the Spider test-suite evaluator on hand-made cases."""

import sqlite3

import pytest

from causalgear.data.scoring import prepare, results_match, score_sql, summarize


def test_column_permutation_is_equal():
    gold = ((1, "a"), (2, "b"))
    assert results_match(gold, (("a", 1), ("b", 2)), order_matters=False)
    assert results_match(gold, (("a", 1), ("b", 2)), order_matters=True)


def test_wide_results_match_under_a_column_permutation():
    gold = ((1, "a", 2.5, "x", 7), (2, "b", 3.5, "y", 8))
    pred = tuple((r[3], r[0], r[4], r[2], r[1]) for r in gold)
    assert results_match(gold, pred, order_matters=True)


def test_row_order_is_ignored_without_order_by_and_respected_with_it():
    gold = ((1,), (2,), (3,))
    shuffled = ((3,), (1,), (2,))
    assert results_match(gold, shuffled, order_matters=False)
    assert not results_match(gold, shuffled, order_matters=True)


def test_duplicates_count_as_a_multiset():
    assert not results_match(((1,), (1,), (2,)), ((1,), (2,), (2,)), order_matters=False)
    assert results_match(((1,), (1,), (2,)), ((2,), (1,), (1,)), order_matters=False)


def test_int_and_float_of_equal_value_are_equal_as_in_the_official_evaluator():
    assert results_match(((1,),), ((1.0,),), order_matters=False)
    assert not results_match(((1,),), ((1.5,),), order_matters=False)
    assert not results_match(((1,),), (("1",),), order_matters=False)


def test_shapes_must_agree():
    assert results_match((), (), order_matters=False)
    assert not results_match(((1,),), (), order_matters=False)
    assert not results_match(((1, 2),), ((1,),), order_matters=False)


def test_distinct_is_dropped_outside_quotes_and_cur_year_replaced():
    assert prepare("SELECT DISTINCT name FROM t WHERE x = 'distinct'") == "SELECT  name FROM t WHERE x = 'distinct'"
    assert prepare("SELECT DISTINCT name FROM t", keep_distinct=True) == "SELECT DISTINCT name FROM t"
    assert prepare("SELECT YEAR(CURDATE()) - age FROM t") == "SELECT 2020- age FROM t"


@pytest.fixture
def two_dbs(tmp_path):
    """One schema with two database variants: a prediction must match on both."""
    paths = []
    for i, rows in enumerate([[("a", 1), ("b", 2), ("c", 2)], [("a", 5), ("b", 2), ("c", 9)]]):
        path = tmp_path / f"db_{i}.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t (name TEXT, n INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
        conn.commit()
        conn.close()
        paths.append(path)
    return tuple(paths)


def test_a_prediction_must_match_on_every_database_of_its_schema(two_dbs):
    gold = "SELECT name FROM t WHERE n = 2"
    # same result on the first database only
    assert score_sql(gold, "SELECT name FROM t WHERE name != 'a'", two_dbs[:1]).correct
    verdict = score_sql(gold, "SELECT name FROM t WHERE name != 'a'", two_dbs)
    assert not verdict.correct and verdict.kind == "wrong"
    assert score_sql(gold, "SELECT name FROM t WHERE n < 3 AND n > 1", two_dbs).correct


def test_kinds_and_empty_gold_are_counted(two_dbs):
    verdicts = [
        score_sql("SELECT name FROM t", "SELECT name FROM t", two_dbs),
        score_sql("SELECT name FROM t", "SELECT nope FROM t", two_dbs),
        score_sql("SELECT name FROM t WHERE n > 100", "SELECT name FROM t WHERE n < 0", two_dbs),
        score_sql("SELECT name FROM t", "DELETE FROM t", two_dbs),
        score_sql("SELECT name FROM t", "SELECT name FROM t", ()),
    ]
    assert [v.kind for v in verdicts] == ["correct", "error", "correct", "refused", "skipped"]
    assert verdicts[2].empty_gold
    s = summarize(verdicts).as_dict()
    assert s["n_scored"] == 4 and s["n_correct"] == 2 and s["execution_accuracy"] == 0.5
    assert s["empty_gold"] == 1 and s["execution_accuracy_nonempty_gold"] == pytest.approx(1 / 3)
    assert s["counts"]["skipped"] == 1 and s["counts"]["refused"] == 1


@pytest.mark.parametrize(("pred", "correct", "dropped"), [
    ("SELECT name FROM t ORDER BY n; LIMIT 1", True, "LIMIT 1"),
    ("SELECT name FROM t ORDER BY n ; DROP TABLE t", True, "DROP TABLE t"),
    ("SELECT name FROM t WHERE name = 'a;b' ORDER BY n", False, None),  # a ';' in a string ends nothing
    ("SELECT name FROM t ORDER BY n;", True, None),
    ("DROP TABLE t; SELECT name FROM t ORDER BY n", False, "SELECT name FROM t ORDER BY n"),
])
def test_a_prediction_is_its_first_statement_as_in_the_official_evaluator(two_dbs, pred, correct, dropped):
    import hashlib

    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in two_dbs]
    v = score_sql("SELECT name FROM t ORDER BY n", pred, two_dbs)
    assert v.correct is correct and v.dropped == dropped
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in two_dbs] == before


def test_with_distinct_kept_the_text_runs_whole_and_a_second_statement_is_refused(two_dbs):
    """The official tool splits statements only inside its DISTINCT removal."""
    v = score_sql("SELECT name FROM t", "SELECT name FROM t; LIMIT 1", two_dbs, keep_distinct=True)
    assert v.kind == "refused" and v.dropped is None


def test_a_prediction_too_long_for_the_parser_is_a_named_limit_not_a_crash(two_dbs):
    """sqlparse refuses more than 10,000 tokens; the official tool would crash on it."""
    v = score_sql("SELECT name FROM t", "SELECT " + "1," * 20_000 + "1", two_dbs)
    assert v.kind == "limit" and v.bound == "sql_tokens" and "Maximum number of tokens" in v.error


def test_a_verdict_is_given_again_while_its_databases_are_unchanged_and_a_timeout_never(two_dbs, monkeypatch):
    from causalgear.data import scoring
    from causalgear.data.sqlexec import ExecBudget, Remembered

    monkeypatch.setattr(scoring, "VERDICTS", Remembered(2**20))
    scored = []
    real = scoring._score_sql
    monkeypatch.setattr(scoring, "_score_sql", lambda *a: scored.append(a[1]) or real(*a))
    gold, pred = "SELECT name FROM t WHERE n = 2", "SELECT name FROM t WHERE name != 'a'"
    assert not score_sql(gold, pred, two_dbs).correct and not score_sql(gold, pred, two_dbs).correct
    assert scored == [pred]
    conn = sqlite3.connect(two_dbs[1])  # the second database now agrees with the first
    conn.execute("UPDATE t SET n = 2 WHERE name = 'c'")
    conn.commit()
    conn.close()
    assert score_sql(gold, pred, two_dbs).correct and scored == [pred, pred]
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    quick = ExecBudget(timeout_s=0.05)
    assert [score_sql(gold, slow, two_dbs, quick).kind for _ in range(2)] == ["timeout", "timeout"]
    assert scored.count(slow) == 2
