"""The executor runs untrusted SQL: it must never change a database and never hang."""

import hashlib
import sqlite3
import time

import pytest

from causalgear.data.scoring import score_sql
from causalgear.data.sqlexec import ExecBudget, execute


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "shop" / "shop.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (name TEXT, price REAL, stock INTEGER)")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [("pen", 1.5, 10), ("ink", 4.0, 3)])
    conn.commit()
    conn.close()
    return path


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


WRITES = [
    "DROP TABLE items",
    "DELETE FROM items",
    "UPDATE items SET price = 0",
    "INSERT INTO items VALUES ('x', 1, 1)",
    "ATTACH DATABASE 'evil.sqlite' AS evil",
    "PRAGMA writable_schema=ON",
    "VACUUM INTO 'copy.sqlite'",
    "SELECT 1; DROP TABLE items",
    "CREATE TABLE t (x)",
]


@pytest.mark.parametrize("sql", WRITES)
def test_a_write_is_refused_and_the_database_is_unchanged(db, sql, monkeypatch):
    monkeypatch.chdir(db.parent)  # where ATTACH / VACUUM INTO would create their files
    before, files_before = sha256(db), sorted(p.name for p in db.parent.iterdir())
    result = execute(db, sql)
    assert result.kind == "refused", result
    assert sha256(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == files_before
    verdict = score_sql("SELECT name FROM items", sql, (db,))
    assert not verdict.correct and verdict.kind == "refused"
    assert sha256(db) == before


def test_a_runaway_recursive_query_times_out_within_the_limit(db):
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    start = time.monotonic()
    result = execute(db, sql, ExecBudget(timeout_s=0.5, max_steps=10**12))
    assert result.kind == "timeout"
    assert time.monotonic() - start < 1.5


def test_the_default_limit_is_at_most_two_seconds(db):
    assert ExecBudget().timeout_s <= 2.0
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    start = time.monotonic()
    assert execute(db, sql).kind == "timeout"
    assert time.monotonic() - start < 3.0


def test_the_step_budget_stops_a_query_before_the_clock_does(db):
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    result = execute(db, sql, ExecBudget(timeout_s=60, max_steps=100_000))
    assert result.kind == "timeout" and "step budget" in result.error


def test_a_read_returns_rows_and_bad_sql_is_an_error(db):
    assert execute(db, "SELECT name FROM items ORDER BY price").rows == (("pen",), ("ink",))
    assert execute(db, "SELECT nope FROM items").kind == "error"
    assert execute(db, "SELECT name FROM items;").kind == "ok"  # a trailing ';' is fine


def test_too_many_rows_is_an_error_not_a_memory_blowup(db):
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) SELECT x FROM c"
    assert execute(db, sql, ExecBudget(max_rows=100)).kind == "error"


def test_a_missing_database_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        execute(tmp_path / "nope.sqlite", "SELECT 1")
