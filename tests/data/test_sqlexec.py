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
    if ";" in sql:  # scored as its first statement, as the official evaluator does; the rest never runs
        assert not verdict.correct and verdict.kind == "wrong" and verdict.dropped == "DROP TABLE items"
    else:
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
    result = execute(db, sql, ExecBudget(max_rows=100))
    assert result.kind == "limit" and result.bound == "rows"


def test_a_missing_database_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.sqlite"):
        execute(tmp_path / "nope.sqlite", "SELECT 1")


# One instruction can take seconds (a 200 MB randomblob) and one value can take gigabytes: the
# bounds must hold whatever a single instruction costs.
HOSTILE = [
    ("SELECT sum(length(randomblob(200000000))) FROM items a, items b", "value_length"),
    ("SELECT length(zeroblob(2000000000))", "value_length"),
    ("SELECT '" + "x" * 10_000_000 + "'", "sql_length"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT group_concat(x) FROM c",
     ("value_length", "steps", "wall_clock")),
    ("WITH RECURSIVE c(x) AS (SELECT randomblob(900000) UNION ALL SELECT randomblob(900000) FROM c) "
     "SELECT x FROM c ORDER BY x", ("memory", "wall_clock")),
    ("WITH RECURSIVE c(x) AS (SELECT randomblob(900000) UNION SELECT randomblob(900000) FROM c) "
     "SELECT count(*) FROM c", ("memory", "wall_clock")),
]


@pytest.mark.parametrize(("sql", "bound"), HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_a_hostile_query_is_stopped_by_a_named_bound(db, sql, bound):
    start = time.monotonic()
    result = execute(db, sql, ExecBudget(timeout_s=1.0, max_heap_bytes=64 * 2**20))
    assert time.monotonic() - start < 1.5
    assert result.kind in ("limit", "timeout") and result.bound in ((bound,) if isinstance(bound, str) else bound)
    assert result.error  # says which bound, in words


def test_the_clock_holds_when_each_instruction_is_slow(db):
    """The progress handler runs between instructions; a timer interrupts inside a slow one's loop."""
    sql = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) "
           "SELECT sum(length(randomblob(900000))) FROM c")
    start = time.monotonic()
    result = execute(db, sql, ExecBudget(timeout_s=0.3, max_steps=10**12))
    assert time.monotonic() - start < 0.8
    assert result.kind == "timeout" and result.bound == "wall_clock" and "0.3s" in result.error


def test_a_result_too_large_to_hold_is_a_named_limit(db):
    sql = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 200) "
           "SELECT randomblob(500000) FROM c")
    result = execute(db, sql, ExecBudget(max_result_bytes=10_000_000))
    assert result.kind == "limit" and result.bound == "result_bytes"


def test_a_bounded_query_leaves_the_executor_usable(db):
    execute(db, HOSTILE[4][0], ExecBudget(timeout_s=1.0, max_heap_bytes=64 * 2**20))
    assert execute(db, "SELECT count(*) FROM items").rows == ((2,),)


def test_queries_in_several_threads_each_stop_at_their_own_deadline(db):
    """One watchdog serves every query: each is interrupted at its own deadline, no sooner."""
    import threading

    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    out: dict[float, tuple] = {}

    def run(timeout: float) -> None:
        start = time.monotonic()
        result = execute(db, sql, ExecBudget(timeout_s=timeout, max_steps=10**12))
        out[timeout] = (result, time.monotonic() - start)

    threads = [threading.Thread(target=run, args=(t,)) for t in (0.3, 1.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for timeout, (result, seconds) in out.items():
        assert result.kind == "timeout" and result.bound == "wall_clock"
        assert timeout <= seconds < timeout + 0.5, (timeout, seconds)
    assert execute(db, "SELECT count(*) FROM items").rows == ((2,),)  # nothing left armed


def test_an_outcome_is_given_again_while_the_file_is_unchanged_and_a_timeout_never(db, monkeypatch):
    import causalgear.data.sqlexec as sqlexec

    runs = []
    real = sqlexec._execute
    monkeypatch.setattr(sqlexec, "_execute", lambda *a: runs.append(a[1]) or real(*a))
    monkeypatch.setattr(sqlexec, "REMEMBERED", sqlexec.Remembered(2**20))
    first = execute(db, "SELECT name FROM items ORDER BY name")
    assert execute(db, "SELECT name FROM items ORDER BY name;") == first and len(runs) == 1
    assert execute(db, "SELECT name FROM items ORDER BY name", ExecBudget(max_rows=1)).bound == "rows"
    assert len(runs) == 2  # another budget is another outcome
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO items VALUES ('cap', 2.0, 1)")
    conn.commit()
    conn.close()
    assert execute(db, "SELECT name FROM items ORDER BY name").rows == (("cap",), ("ink",), ("pen",))
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
    quick = ExecBudget(timeout_s=0.05)
    assert execute(db, slow, quick).kind == "timeout" and execute(db, slow, quick).kind == "timeout"
    assert runs.count(slow) == 2


def test_remembered_outcomes_stay_within_their_bytes():
    from causalgear.data.sqlexec import ExecResult, Remembered

    kept = Remembered(max_bytes=2000)
    for i in range(20):  # 40 bytes of rows and 64 for the entry itself: 20 of them pass 2000
        kept.put(i, ExecResult("ok", rows=(("x" * 40,),)))
    assert kept.bytes <= 2000 and kept.get(0) is None and kept.get(19).rows == (("x" * 40,),)
    kept.put("big", ExecResult("ok", rows=(("y" * 500,),)))  # over a sixteenth of the bound: not kept
    assert kept.get("big") is None


def folder_state(folder):
    return {p.name: sha256(p) for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("read_only_folder", [False, True])
def test_a_wal_mode_database_is_read_right_and_nothing_is_written_beside_it(tmp_path, read_only_folder):
    import os

    folder = tmp_path / "wal"
    folder.mkdir()
    path = folder / "shop.sqlite"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.execute("CREATE TABLE items (name TEXT, price REAL)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0)])
    conn.commit()
    conn.close()  # the last connection checkpoints: the folder holds the database alone, still in WAL mode
    before = folder_state(folder)
    assert list(before) == ["shop.sqlite"]
    if read_only_folder:
        os.chmod(folder, 0o555)
    try:
        result = execute(path, "SELECT name FROM items ORDER BY price")
        verdict = score_sql("SELECT name FROM items ORDER BY price", "SELECT name FROM items ORDER BY price DESC",
                            (path,))
    finally:
        os.chmod(folder, 0o755)
    assert result.ok and result.rows == (("pen",), ("ink",))
    assert verdict.kind == "wrong"  # the order counts: the gold query has ORDER BY
    assert folder_state(folder) == before  # no -wal, -shm or journal file, the bytes unchanged


@pytest.mark.parametrize("kind", ["fifo", "directory", "empty", "text"])
def test_a_path_that_is_not_an_sqlite_file_is_named_before_any_connection(tmp_path, kind):
    import os

    from causalgear.data.sqlexec import database_problem

    path = tmp_path / "x.sqlite"
    {"fifo": lambda: os.mkfifo(path), "directory": path.mkdir, "empty": path.touch,
     "text": lambda: path.write_text("id,name\n1,pen\n")}[kind]()
    start = time.monotonic()
    expected = {"fifo": "is a named pipe, not a regular file", "directory": "is a directory, not a regular file",
                "empty": "is empty, not an SQLite database", "text": "is not an SQLite database (no SQLite header)"}
    assert database_problem(path) == expected[kind]
    with pytest.raises(FileNotFoundError, match=expected[kind].replace("(", r"\(").replace(")", r"\)")):
        execute(path, "SELECT 1")
    assert time.monotonic() - start < 2
