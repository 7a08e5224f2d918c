"""Every file a stage reads that another stage or the user wrote is checked before the stage's first
heavy step: each one damaged in turn stops its stage in one line naming it, with exit 2, no
traceback, in seconds, and nothing written that a later stage could take for a result.

The stages run on the embedded default (`model=tinysql_multitable`, which ships) with an empty
cache: a check that came too late would load the model and start the stage's work."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from causalgear.sae.io import save_sae
from causalgear.sae.relu import ReLUSAE

HOSTILE_BYTES = bytes(range(256)) * 8


def run_cli(*args, cwd: Path, cache: Path, timeout: int = 60):
    env = {"CAUSALGEAR_CACHE": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.monotonic() - start


def assert_refused(proc, seconds: float, named: str, run_dir: Path | None = None) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and named in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert seconds < 15  # the check, not the work: interpreter, torch import and Hydra start
    if run_dir is not None and run_dir.exists():  # nothing a later stage could read as this stage's result
        assert not list(run_dir.rglob("*.json")), list(run_dir.rglob("*.json"))


@pytest.fixture
def pipeline_run(tmp_path) -> Path:
    """A run dir as `causalgear pipeline` leaves it: train/sae (a small SAE for the default model's
    width, hash recorded) and evaluate/causal.json naming a chosen coordinate."""
    torch.manual_seed(0)
    run = tmp_path / "run"
    save_sae(ReLUSAE(128, 16), run / "train" / "sae", layer=1, site="resid", model_name="tinysql_multitable")
    (run / "evaluate").mkdir(parents=True)
    (run / "evaluate" / "causal.json").write_text(json.dumps({"chosen": 3, "coordinates": []}))
    return run


def stage_args(run: Path, out: Path) -> list[str]:
    return [f"sae.path={run / 'train'}", f"hydra.run.dir={out}"]


# every stage that loads an SAE checks it the same way (Workbench.load): evaluate's case in the
# default suite, the others with -m slow
@pytest.mark.parametrize("stage", ["evaluate", pytest.param("features", marks=pytest.mark.slow),
                                   pytest.param("steer", marks=pytest.mark.slow)])
def test_damaged_sae_weights_stop_the_stage_that_loads_them(pipeline_run, tmp_path, stage):
    weights = pipeline_run / "train" / "sae" / "sae_weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    out = tmp_path / f"out-{stage}"
    proc, seconds = run_cli(stage, *stage_args(pipeline_run, out), "steering.target.feature=1", cwd=tmp_path,
                            cache=tmp_path / "cache")
    assert_refused(proc, seconds, "does not match the sha256", out)
    assert not (tmp_path / "cache" / "models").exists()  # refused before the model was built


def test_a_truncated_sae_cfg_is_named_before_hydra_starts(pipeline_run, tmp_path):
    cfg = pipeline_run / "train" / "sae" / "cfg.json"
    cfg.write_text(cfg.read_text()[:40])
    proc, seconds = run_cli("features", *stage_args(pipeline_run, tmp_path / "out"), cwd=tmp_path,
                            cache=tmp_path / "cache")
    assert_refused(proc, seconds, f"{cfg} is not whole JSON", tmp_path / "out")


@pytest.mark.parametrize("damage", [b'{"chosen": 3, "coordina', HOSTILE_BYTES], ids=["truncated", "random"])
def test_features_reads_evaluates_causal_json_before_its_work(pipeline_run, tmp_path, damage):
    causal = pipeline_run / "evaluate" / "causal.json"
    causal.write_bytes(damage)
    out = tmp_path / "out"
    proc, seconds = run_cli("features", *stage_args(pipeline_run, out), cwd=tmp_path, cache=tmp_path / "cache")
    assert_refused(proc, seconds, f"{causal} is not whole JSON", out)
    assert "causalgear evaluate" in proc.stderr  # what rewrites it
    assert not (tmp_path / "cache" / "models").exists()


def test_steer_reads_the_causal_json_it_is_pointed_at_before_its_work(pipeline_run, tmp_path):
    causal = pipeline_run / "evaluate" / "causal.json"
    causal.write_bytes(HOSTILE_BYTES)
    out = tmp_path / "out"
    proc, seconds = run_cli("steer", *stage_args(pipeline_run, out), f"steering.target.causal_path={causal.parent}",
                            cwd=tmp_path, cache=tmp_path / "cache")
    assert_refused(proc, seconds, f"{causal} is not whole JSON", out)


def test_a_damaged_model_card_is_named_before_the_model_is_used(smoke_model, tmp_path):
    cfg, _, _ = smoke_model
    cache = tmp_path / "cache"
    shutil.copytree(cfg.paths.cache_dir, cache)  # the session's smoke model stays whole
    card = next((cache / "models").glob("tinysql_smoke-*/model_card.json"))
    card.write_text(card.read_text()[:100])
    out = tmp_path / "out"
    proc, seconds = run_cli("build-model", "model=tinysql_smoke", f"paths.cache_dir={cache}", f"hydra.run.dir={out}",
                            cwd=tmp_path, cache=cache)
    assert_refused(proc, seconds, f"{card} is not whole JSON", out)
    assert "rebuild" in proc.stderr


def test_a_damaged_model_card_stops_steer_before_its_work(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    cache_dir = Path(next(o for o in overrides if o.startswith("paths.cache_dir=")).split("=", 1)[1])
    cache = tmp_path / "cache"
    shutil.copytree(cache_dir, cache)
    card = next((cache / "models").glob("tinysql_smoke-*/model_card.json"))
    card.write_bytes(HOSTILE_BYTES)
    ours = [o for o in overrides if not o.startswith("paths.cache_dir=")]
    proc, seconds = run_cli("steer", *ours, f"paths.cache_dir={cache}", "steering.target.feature=1",
                            f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path, cache=cache)
    assert_refused(proc, seconds, f"{card} is not whole JSON", tmp_path / "out")


@pytest.fixture
def damaged_spider(spider_dir, tmp_path) -> tuple[Path, Path]:
    """A copy of Spider's dev split whose concert_singer database is random bytes after SQLite's header."""
    copy = tmp_path / "spider"
    shutil.copytree(spider_dir, copy)
    db = copy / "database" / "concert_singer" / "concert_singer.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(db.stat().st_size - 16))
    return copy, db


@pytest.mark.parametrize("stage", ["data", "accuracy"])
def test_a_damaged_spider_database_is_named_when_its_split_loads(damaged_spider, tmp_path, stage):
    copy, db = damaged_spider
    out = tmp_path / "out"
    proc, seconds = run_cli(stage, "data=spider", f"data.spider_dir={copy}", "data.subset=tinysql",
                            f"hydra.run.dir={out}", cwd=tmp_path, cache=tmp_path / "cache")
    assert_refused(proc, seconds, f"database {db} is damaged", out)
    assert "is not a database" in proc.stderr or "malformed" in proc.stderr
    assert not (tmp_path / "cache" / "models").exists()


@pytest.mark.parametrize("stage", ["data", "accuracy"])
def test_a_spider_database_that_is_a_fifo_is_refused_without_waiting_on_it(spider_dir, tmp_path, stage):
    copy = tmp_path / "spider"
    shutil.copytree(spider_dir, copy)
    db = copy / "database" / "concert_singer" / "concert_singer.sqlite"
    db.unlink()
    os.mkfifo(db)
    out = tmp_path / "out"
    proc, seconds = run_cli(stage, "data=spider", f"data.spider_dir={copy}", "data.subset=tinysql",
                            f"hydra.run.dir={out}", cwd=tmp_path, cache=tmp_path / "cache", timeout=30)
    assert_refused(proc, seconds, f"database {db} is a named pipe, not a regular file", out)


def test_compare_names_a_damaged_concepts_json_in_one_line(pipeline_run, tmp_path):
    (pipeline_run / "train" / "metrics.json").write_text(json.dumps({"arch": "relu", "d_sae": 16}))
    (pipeline_run / "evaluate" / "causal.json").unlink()
    concepts = pipeline_run / "features" / "concepts.json"
    concepts.parent.mkdir()
    for damage in (b'{"coverage": 0.5, "linear', HOSTILE_BYTES):
        concepts.write_bytes(damage)
        proc, seconds = run_cli("compare", str(pipeline_run), cwd=tmp_path, cache=tmp_path / "cache")
        assert_refused(proc, seconds, f"{concepts} is not whole JSON")
        assert not (pipeline_run / "comparison.csv").exists()


@pytest.mark.parametrize(("override", "named"), [("sae.d_sae=32", "sae.d_sae=32"), ("sae.arch=topk", "sae.arch='topk'"),
                                                 ("sae=topk", "sae.arch='topk'"), ("sae.k=4", "sae.k=4")])
def test_a_shape_override_that_contradicts_the_saes_own_is_refused_naming_it(pipeline_run, tmp_path, monkeypatch,
                                                                              capsys, override, named):
    """`causalgear features ... OVERRIDE` as `main` runs it, in this process: refused before Hydra
    starts (the shell's run of the same check: the next test)."""
    from causalgear.cli import main

    monkeypatch.setenv("CAUSALGEAR_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["features", *stage_args(pipeline_run, tmp_path / "out"), override])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(lines) == 1 and named in lines[0], lines
    assert "the value of the SAE at sae.path" in lines[0] and not (tmp_path / "out").exists()


def test_a_shape_override_is_refused_by_the_shell_s_command_in_one_line(pipeline_run, tmp_path):
    proc, seconds = run_cli("features", *stage_args(pipeline_run, tmp_path / "out"), "sae.d_sae=32", cwd=tmp_path,
                            cache=tmp_path / "cache")
    assert_refused(proc, seconds, "sae.d_sae=32")
    assert "the value of the SAE at sae.path" in proc.stderr and not (tmp_path / "out").exists()


def test_an_override_that_agrees_with_the_saes_shape_and_a_preset_pass_the_check(pipeline_run):
    from causalgear.preflight import compose, validate

    path = f"sae.path={pipeline_run / 'train'}"
    for overrides in (["sae=relu", "sae.d_sae=16"], ["sae.arch=relu"], ["experiment=seed_recipe"], []):
        validate(compose([path, *overrides], stage="features"), [path, *overrides])


def test_an_sae_without_a_hash_loads_with_one_warning_and_is_recorded_unverified(smoke_sae, tmp_path, capsys):
    from causalgear.sae.io import load_sae, verified
    from causalgear.serve.app import create_app
    from causalgear.serve.engine import Engine
    from tests.serve.test_app import call

    overrides, root = smoke_sae
    sae = tmp_path / "train" / "sae"
    shutil.copytree(root / "train" / "sae", sae)
    cfg = json.loads((sae / "cfg.json").read_text())
    del cfg["causalgear"]["weights_sha256"]  # as an SAE saved by SAELens
    (sae / "cfg.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    _, loaded = load_sae(sae)
    warned = capsys.readouterr().err.strip().splitlines()
    assert len(warned) == 1 and "records no weights_sha256" in warned[0] and not verified(loaded)
    from causalgear.preflight import compose

    ours = [o for o in overrides if not o.startswith("sae.path=")]
    engine = Engine(compose([*ours, f"sae.path={tmp_path / 'train'}", "serve.feature=1"]), tmp_path / "serve")
    (health,) = call(create_app(engine, engine.s), ("GET", "/healthz", {}))
    assert health.json()["sae_verified"] is False
