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
    assert len(test) + len(train) == 60 and 15 <= len(test) < 30  # whole groups of repeated rows
    assert not {e.id for e in train} & {e.id for e in test}
    assert [e.id for e in split_rows(examples, "test", 0.25, seed=0)] == [e.id for e in test]
    assert [e.id for e in split_rows(examples, "test", 0.25, seed=1)] != [e.id for e in test]


def test_the_source_says_what_it_lacks_and_checks_its_config(tmp_path):
    path = write_user_jsonl(tmp_path)
    cfg = compose(["data=jsonl", f"data.path={path}"])
    data = source(cfg.data)
    assert set(data.lacks()) == {"shift_splits", "question_concepts", "counterfactual_pairs", "validation_split"}
    assert 30 <= len(data.load("test")) < 60 and data.load("train")[0].split == "train"  # whole groups of repeats
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


def test_a_row_whose_database_is_a_fifo_is_refused_without_waiting_on_it(tmp_path):
    import os
    import time

    path = write_user_jsonl(tmp_path)
    os.mkfifo(tmp_path / "pipe.sqlite")
    with_row(path, 3, {"db": "pipe.sqlite"})
    start = time.monotonic()
    with pytest.raises(CausalgearError, match="row 3: db 'pipe.sqlite' is a named pipe, not a regular file"):
        read_rows(path)
    assert time.monotonic() - start < 5


def test_a_row_whose_database_is_a_symlink_loop_is_named(tmp_path):
    path = write_user_jsonl(tmp_path)
    (tmp_path / "loop.sqlite").symlink_to(tmp_path / "loop.sqlite")
    with_row(path, 4, {"db": "loop.sqlite"})
    with pytest.raises(CausalgearError, match="row 4: db 'loop.sqlite' cannot be resolved"):
        read_rows(path)


def test_a_row_that_is_not_utf8_is_named_with_its_byte(tmp_path):
    path = write_user_jsonl(tmp_path)
    lines = path.read_bytes().splitlines()
    lines[5] = lines[5].replace(b"many", b"m\xe9\xffny", 1)
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(CausalgearError, match=r"row 6: not UTF-8 \(byte 0xe9 at column \d+\)"):
        read_rows(path)


def test_repeated_rows_are_counted_and_kept_on_one_side_of_the_split(tmp_path):
    from causalgear.data.jsonl import duplicate_key, duplicates

    examples = read_rows(write_user_jsonl(tmp_path))  # 60 rows over 11 distinct questions
    assert duplicates(examples) == 60 - 11
    train, test = (split_rows(examples, s, 0.25, seed=0) for s in ("train", "test"))
    assert not {duplicate_key(e) for e in train} & {duplicate_key(e) for e in test}
    assert len(train) + len(test) == 60 and len(test) >= 15


def test_without_repeats_the_split_is_a_shuffle_of_the_rows(tmp_path):
    import random

    examples = [e for e in read_rows(write_user_jsonl(tmp_path)) if e.id in
                {min(x.id for x in read_rows(tmp_path / "data.jsonl") if x.question == q) for q in
                 {x.question for x in read_rows(tmp_path / "data.jsonl")}}]
    order = list(range(len(examples)))
    random.Random(3).shuffle(order)
    n_test = round(0.25 * len(examples))
    assert [e.id for e in split_rows(examples, "test", 0.25, seed=3)] == [examples[i].id
                                                                          for i in sorted(order[:n_test])]


def hostile_row(tmp_path, kind: str):
    import os

    path = write_user_jsonl(tmp_path / "user")
    if kind == "fifo":
        os.mkfifo(tmp_path / "user" / "pipe.sqlite")
        with_row(path, 3, {"db": "pipe.sqlite"})
        return path, "row 3: db 'pipe.sqlite' is a named pipe, not a regular file"
    if kind == "symlink_loop":
        (tmp_path / "user" / "loop.sqlite").symlink_to(tmp_path / "user" / "loop.sqlite")
        with_row(path, 3, {"db": "loop.sqlite"})
        return path, "row 3: db 'loop.sqlite' cannot be resolved"
    lines = path.read_bytes().splitlines()
    lines[2] = lines[2].replace(b"items", b"it\xe9\xffms", 1)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, "row 3: not UTF-8 (byte 0xe9"


@pytest.mark.parametrize("stage", ["data", "pipeline"])
@pytest.mark.parametrize("kind", ["fifo", "symlink_loop", "not_utf8"])
def test_a_hostile_row_stops_the_command_line_in_one_line(tmp_path, monkeypatch, capsys, stage, kind):
    """`causalgear STAGE data=jsonl ...` as `main` runs it, in this process; the next test runs one
    through the shell."""
    from causalgear.cli import main

    path, named = hostile_row(tmp_path, kind)
    monkeypatch.setenv("CAUSALGEAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main([stage, "data=jsonl", f"data.path={path}", f"hydra.run.dir={tmp_path / 'out'}"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(lines) == 1, lines
    assert named in lines[0]
    assert not list((tmp_path / "out").rglob("*.json")) if (tmp_path / "out").exists() else True


def test_a_hostile_row_stops_the_shell_s_command_in_one_line_without_waiting_on_a_pipe(tmp_path):
    import subprocess
    import sys
    import time

    path, named = hostile_row(tmp_path, "fifo")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", "pipeline", "data=jsonl", f"data.path={path}",
                           f"hydra.run.dir={tmp_path / 'out'}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**__import__("os").environ, "CAUSALGEAR_CACHE": str(tmp_path / "cache")})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert named in lines[0]
    assert time.monotonic() - start < 15
    assert not list((tmp_path / "out").rglob("*.json")) if (tmp_path / "out").exists() else True


def test_a_question_longer_than_the_model_s_context_is_named_before_any_forward_pass(tmp_path):
    import os
    import subprocess
    import sys
    import time

    path = write_user_jsonl(tmp_path / "user")
    with_row(path, 5, {"question": "show the name and the price of items " * 28_000})  # about 1 MB
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", "harvest", "data=jsonl", f"data.path={path}",
                           f"hydra.run.dir={tmp_path / 'out'}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CAUSALGEAR_CACHE": str(tmp_path / "cache")})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "example row-00005 (its prompt and gold SQL) is " in lines[0]
    assert "longer than the model's context of 1024 tokens" in lines[0]
    assert time.monotonic() - start < 30


def test_a_wal_mode_database_leaves_its_folder_as_it_was_through_the_command_line(tmp_path):
    import hashlib
    import os
    import sqlite3
    import subprocess
    import sys

    path = write_user_jsonl(tmp_path / "user")
    conn = sqlite3.connect(tmp_path / "user" / "shop.sqlite")
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    conn.close()

    def state():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((tmp_path / "user").iterdir())}

    before = state()
    proc = subprocess.run([sys.executable, "-m", "causalgear", "data", "data=jsonl", f"data.path={path}",
                           f"hydra.run.dir={tmp_path / 'out'}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "CAUSALGEAR_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert state() == before  # every row's gold SQL ran on it: no -wal, -shm or journal beside it
