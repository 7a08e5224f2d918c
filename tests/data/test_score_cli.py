"""`causalgear score` as a user runs it: hostile predictions stay inside time and memory bounds,
and bad files or flags are one line before any scoring."""

import json
import resource
import sqlite3
import subprocess
import sys
import time

import pytest

TIMEOUT = 0.5
HOSTILE = [
    "SELECT sum(length(randomblob(200000000))) FROM singer a, singer b",
    "SELECT length(zeroblob(2000000000)) FROM singer",
    "SELECT '" + "y" * 10_000_000 + "'",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT group_concat(x) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT randomblob(900000) UNION ALL SELECT randomblob(900000) FROM c) "
    "SELECT x FROM c ORDER BY x",
    "WITH RECURSIVE c(x) AS (SELECT randomblob(900000) UNION SELECT randomblob(900000) FROM c) SELECT count(*) FROM c",
    "SELECT a.name, b.name, c.name, d.name, e.name FROM singer a, singer b, singer c, singer d, singer e",
    "SELECT sum(length(randomblob(900000))) FROM singer a, singer b, singer c",
    "SELECT replace(hex(zeroblob(400000)), '0', 'abcdefgh') FROM singer",
]


@pytest.fixture
def spider_like(tmp_path):
    db = tmp_path / "database" / "concert" / "concert.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE singer (name TEXT, age INTEGER)")
    conn.executemany("INSERT INTO singer VALUES (?, ?)", [(f"s{i}", 20 + i) for i in range(40)])
    conn.commit()
    conn.close()
    return tmp_path


def score(root, *args):
    code = ("import resource, sys; from causalgear.data.score_cli import main; rc = main(sys.argv[1:]); "
            "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=root)


def test_ten_hostile_predictions_finish_in_time_and_in_memory(spider_like):
    (spider_like / "gold.sql").write_text("SELECT name FROM singer\tconcert\n" * len(HOSTILE))
    (spider_like / "pred.sql").write_text("\n".join(HOSTILE) + "\n")
    start = time.monotonic()
    proc = score(spider_like, "--gold", "gold.sql", "--pred", "pred.sql", "--db", "database", "--out", "out.json",
                 "--timeout", TIMEOUT)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    peak_mb = int(proc.stderr.split("MAXRSS_KB")[1].split()[0]) / 1024
    assert wall < len(HOSTILE) * TIMEOUT + 5, wall
    assert peak_mb < 1024, peak_mb
    report = json.loads((spider_like / "out.json").read_text())
    assert report["n_correct"] == 0
    assert all(e["kind"] in ("limit", "timeout") and e["bound"] for e in report["examples"]), report["examples"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_a_non_utf8_predictions_file_is_one_line(spider_like):
    (spider_like / "gold.sql").write_text("SELECT name FROM singer\tconcert\n")
    (spider_like / "pred.sql").write_bytes(b"SELECT name FROM singer WHERE name = '\xff\xfe'\n")
    proc = score(spider_like, "--gold", "gold.sql", "--pred", "pred.sql", "--db", "database")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--pred pred.sql: not UTF-8" in proc.stderr


def test_an_unwritable_out_is_refused_before_scoring(spider_like):
    (spider_like / "gold.sql").write_text("SELECT name FROM singer\tconcert\n")
    (spider_like / "pred.sql").write_text("SELECT name FROM singer\n")
    (spider_like / "locked").mkdir(mode=0o500)
    out = spider_like / "locked" / "sub" / "out.json"
    proc = score(spider_like, "--gold", "gold.sql", "--pred", "pred.sql", "--db", "database", "--out", out)
    if proc.returncode == 0:  # root writes anywhere: then the report must be there
        assert out.is_file()
        return
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--out" in proc.stderr and "execution accuracy" not in proc.stdout


def test_a_directory_as_out_is_refused_before_scoring(spider_like):
    (spider_like / "gold.sql").write_text("SELECT name FROM singer\tconcert\n")
    (spider_like / "pred.sql").write_text("SELECT name FROM singer\n")
    proc = score(spider_like, "--gold", "gold.sql", "--pred", "pred.sql", "--db", "database", "--out", "database")
    assert proc.returncode == 2 and "--out database: is a directory" in proc.stderr
    assert "execution accuracy" not in proc.stdout


@pytest.mark.parametrize("timeout", ["-1", "nan", "0", "inf"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(spider_like, timeout):
    (spider_like / "gold.sql").write_text("SELECT name FROM singer\tconcert\n")
    (spider_like / "pred.sql").write_text("SELECT name FROM singer\n")
    proc = score(spider_like, "--gold", "gold.sql", "--pred", "pred.sql", "--db", "database", "--timeout", timeout)
    assert proc.returncode == 2 and f"--timeout {float(timeout)}" in proc.stderr


@pytest.mark.parametrize("out", ["/proc/report.json", "{file}/report.json"])
def test_an_out_path_that_cannot_be_written_is_refused_before_scoring(tmp_path, out):
    gold, pred, db = tmp_path / "gold.txt", tmp_path / "pred.txt", tmp_path / "db"
    (db / "d").mkdir(parents=True)
    sqlite3.connect(db / "d" / "d.sqlite").executescript("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
    gold.write_text("SELECT a FROM t\td\n")
    pred.write_text("SELECT a FROM t\n")
    out = out.format(file=gold)
    proc = subprocess.run([sys.executable, "-m", "causalgear", "score", "--gold", str(gold), "--pred", str(pred),
                           "--db", str(db), "--out", out], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""  # no accuracy printed: nothing was scored
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and f"--out {out}" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_database_that_is_not_a_regular_file_is_refused_before_scoring(spider_like, kind):
    import os

    (spider_like / "gold.sql").write_text("SELECT name FROM singer\tconcert\n")
    (spider_like / "pred.sql").write_text("SELECT name FROM singer\n")
    db = spider_like / "database" / "concert" / "concert.sqlite"
    db.unlink()
    os.mkfifo(db) if kind == "fifo" else db.mkdir()
    start = time.monotonic()
    proc = score(spider_like, "--gold", "gold.sql", "--pred", "pred.sql", "--db", "database")
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("MAXRSS_KB")]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    named = "named pipe" if kind == "fifo" else "directory"
    assert f"--db: database database/concert/concert.sqlite is a {named}, not a regular file" in lines[0]
    assert time.monotonic() - start < 15
