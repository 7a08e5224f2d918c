"""Every reader of a run's files (summarize, the findings, compare) reads them through one checked
reader: a damaged file, or one of the wrong shape, is one line naming it with exit 2, and every
`--out` is probed before the work. Through the command line, as a user runs it."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

FILES = ["steer/steering.json", "evaluate/causal.json", "train/metrics.json", "features/concepts.json",
         "model/model_card.json"]


def cli(*args, cwd: Path):
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    return proc, time.monotonic() - start


def assert_one_line(proc, seconds, *named):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(n in lines[0] for n in named), lines[0]
    assert seconds < 15


def damage(path: Path, how: str) -> None:
    text = path.read_text()
    path.write_bytes({"half": text[:len(text) // 2].encode(), "random": os.urandom(512), "string": b'"x"',
                      "list": b"[]", "null": b"null"}[how])


@pytest.mark.parametrize("how", ["half", "random", "string", "list", "null"])
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_or_wrong_shaped_run_file_is_named_by_summarize(run, tmp_path, name, how):
    damage(run / name, how)
    proc, seconds = cli("summarize", run, "--markdown", cwd=tmp_path)
    assert_one_line(proc, seconds, str(run / name), "rerun the stage that wrote it")


@pytest.mark.parametrize("name", ["steer/steering.json", "evaluate/causal.json", "train/metrics.json"])
def test_an_object_without_its_stage_s_fields_is_named_not_skipped(run, tmp_path, name):
    (run / name).write_text("{}")
    proc, seconds = cli("summarize", run, cwd=tmp_path)
    assert_one_line(proc, seconds, str(run / name), "is not the shape its stage writes")


def unwritable(tmp_path: Path) -> list[Path]:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    return [Path("/proc/nope/x.md"), tmp_path / "a_dir", tmp_path / "a_file" / "x.md", Path("/sys/kernel/x.md")]


def test_an_unwritable_summarize_out_is_refused_before_the_work(run, tmp_path):
    for out in unwritable(tmp_path):
        proc, seconds = cli("summarize", run, "--markdown", "--out", out, cwd=tmp_path)
        assert_one_line(proc, seconds, f"--out {out}")


def test_an_unwritable_compare_out_is_refused_before_the_work(run, tmp_path):
    proc, seconds = cli("compare", run, "--out", "/proc/nope", cwd=tmp_path)
    assert_one_line(proc, seconds, "--out /proc/nope")
    (tmp_path / "a_file").write_text("x")
    proc, seconds = cli("compare", run, "--out", tmp_path / "a_file", cwd=tmp_path)
    assert_one_line(proc, seconds, "is not a directory")


def test_summarize_out_without_markdown_writes_the_plain_text_it_would_print(run, tmp_path):
    printed, _ = cli("summarize", run, cwd=tmp_path)
    proc, _ = cli("summarize", run, "--out", tmp_path / "plain.txt", cwd=tmp_path)
    assert proc.returncode == 0 and (tmp_path / "plain.txt").read_text() == printed.stdout
    assert printed.stdout.startswith("Scoreboard\n") and "\n- Model: " in printed.stdout
