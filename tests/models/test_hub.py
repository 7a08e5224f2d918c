"""A model by its hub id, as users name one: its depth is read from the Hugging Face cache (in the
hub's own layout, offline), a layer past it and an id neither cached nor reachable are refused in
one line in seconds, and the whole pipeline runs on it through the command line."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import save_tiny_qwen2, write_user_jsonl
from tests.test_pipeline import SMALL

ID = "someorg/tiny-qwen2"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """A Hugging Face cache holding ID as `huggingface_hub` lays a download out."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    repo = cache / f"models--{ID.replace('/', '--')}"
    save_tiny_qwen2(repo / "snapshots" / COMMIT)  # 3 blocks
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache


def cli(*args, cwd: Path, hub: Path, timeout: int = 60):
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "CAUSALGEAR_CACHE": str(cwd / "cache")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.monotonic() - start


def test_a_layer_past_a_cached_hub_model_s_depth_is_refused_with_its_real_depth(hub_cache, tmp_path):
    proc, _ = cli("harvest", "model=hf", f"model.name_or_path={ID}", "model.layer=3", cwd=tmp_path,
                        hub=hub_cache)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "model.layer=3 is not allowed: 0..2 (hf has 3 layers)" in lines[0]
    assert not (tmp_path / "cache").exists()  # refused from the config, before any model or data work


def test_an_id_neither_cached_nor_reachable_is_refused_saying_how_to_fix_it(hub_cache, tmp_path):
    proc, _ = cli("harvest", "model=hf", "model.name_or_path=someorg/not-here", "model.layer=1", cwd=tmp_path,
                        hub=hub_cache)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "model.name_or_path='someorg/not-here'" in lines[0]
    assert "not cached here and the hub is unreachable" in lines[0]
    assert "give the path of a local copy" in lines[0]
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow  # a minute; the default suite's piped_jsonl runs the same stages on a local folder
def test_the_pipeline_runs_on_a_hub_id_from_the_cache_to_its_report(hub_cache, tmp_path):
    rows = write_user_jsonl(tmp_path / "mine")
    out = tmp_path / "run"
    proc, _ = cli("pipeline", *SMALL, f"model.name_or_path={ID}", "data=jsonl", f"data.path={rows}",
                  f"hydra.run.dir={out}", cwd=tmp_path, hub=hub_cache, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "report.html").is_file() and (out / "steer" / "steering.json").is_file()
