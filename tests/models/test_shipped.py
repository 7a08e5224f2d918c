"""The default model ships with causalgear: every stage reads the shipped copy, verified by the
sha256 sums recorded beside it, and builds nothing; a damaged or missing shipped file stops a stage
in one line; a build from the recipe says how its card compares with the shipped one."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from causalgear.data import tinysql
from causalgear.io import sha256_file
from causalgear.models import shipped
from causalgear.models.embedded import CARD, ensure_embedded
from causalgear.models.recipe import training_data_cfg
from causalgear.models.shipped import card_differences, describe_differences, read_sums, shipped_dir, verify
from causalgear.models.stages import build_model
from causalgear.preflight import compose

HF_FILES = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            CARD}


@pytest.mark.parametrize("model", ["tinysql_multitable", "tinysql"])
def test_the_recipe_s_model_ships_and_every_file_has_the_sha256_recorded_beside_it(model):
    directory = shipped_dir(compose([f"model={model}"]).model)
    assert directory is not None and directory.parent == Path(shipped.__file__).with_name("weights")
    sums = read_sums(directory)
    assert set(sums) == HF_FILES == {p.name for p in directory.iterdir()}  # nothing shipped unrecorded
    assert all(sha256_file(directory / name) == digest for name, digest in sums.items())
    assert verify(directory) == directory


def test_every_stage_reads_the_shipped_copy_and_builds_nothing(tmp_path):
    cache = tmp_path / "cache"
    assert ensure_embedded(compose([]).model, cache) == shipped_dir(compose([]).model)
    assert not cache.exists()  # no build, no cache entry


def test_use_shipped_false_and_a_changed_recipe_read_the_cache():
    assert shipped_dir(compose(["model.use_shipped=false"]).model) is None
    assert shipped_dir(compose(["model.build.seed=1"]).model) is None  # a new key: built as before
    assert shipped_dir(compose(["model=tinysql_smoke"]).model) is None


# indices into TinySQL's test split (200 a command set, CS1 first): three of each set and four the
# shipped model gets wrong, so a verdict that moved either way fails
HANDFUL = {0: True, 1: True, 2: True, 200: True, 201: True, 202: True, 400: True, 401: True, 402: True,
           481: False, 548: False, 600: True, 601: True, 602: True, 606: False, 626: False}


def test_the_shipped_model_gives_its_card_s_verdicts_on_a_fixed_handful_of_test_prompts(tmp_path):
    from causalgear.models.accuracy import evaluate_model
    from causalgear.models.loading import load_model

    cfg = compose([])
    model, tokenizer = load_model(cfg.model, tmp_path)
    test = tinysql.load_split(training_data_cfg(cfg.model.build), tmp_path, "test")
    card = json.loads((shipped_dir(cfg.model) / CARD).read_text())
    assert card["test_accuracy"]["CS1"] == card["test_accuracy"]["CS2"] == 1.0 > card["test_accuracy"]["CS4"]
    report = evaluate_model(model, tokenizer, [test[i] for i in HANDFUL], max_new_tokens=64, batch_size=128)
    assert [e["correct"] for e in report["examples"]] == list(HANDFUL.values())


def plant(tmp_path: Path, source: Path) -> Path:
    """A folder of shipped models holding a copy of `source` and its sums, as the package ships them."""
    copy = tmp_path / "shipped" / source.name
    shutil.copytree(source, copy)
    record_sums(copy)
    return copy


def record_sums(directory: Path) -> None:
    lines = [f"{sha256_file(p)}  {p.name}" for p in sorted(directory.iterdir())]
    directory.with_name(f"{directory.name}.sha256").write_text("\n".join(lines) + "\n")


def run_cli(*args, cwd: Path, shipped_root: Path):
    env = {"CAUSALGEAR_CACHE": str(cwd / "cache"), "CAUSALGEAR_SHIPPED_MODELS": str(shipped_root),
           "PATH": os.environ["PATH"], "HOME": str(cwd)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    return proc, time.monotonic() - start


@pytest.mark.parametrize("stage", ["harvest", "pipeline"])
def test_a_flipped_byte_in_the_shipped_weights_stops_a_stage_in_one_line(tmp_path, stage):
    copy = plant(tmp_path, shipped_dir(compose([]).model))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    proc, seconds = run_cli(stage, f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path, shipped_root=copy.parent)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert f"shipped model file {weights} is damaged" in lines[0] and "build-model model.use_shipped=false" in lines[0]
    assert seconds < 15 and not (tmp_path / "cache" / "models").exists()


def test_a_missing_shipped_tokenizer_file_stops_a_stage_in_one_line(tmp_path):
    copy = plant(tmp_path, shipped_dir(compose([]).model))
    (copy / "tokenizer.json").unlink()
    proc, seconds = run_cli("train", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path, shipped_root=copy.parent)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert f"shipped model file {copy / 'tokenizer.json'} is missing" in lines[0]
    assert "Traceback" not in proc.stderr and seconds < 15


def test_a_damaged_sums_file_is_refused_by_name(tmp_path):
    copy = plant(tmp_path, shipped_dir(compose([]).model))
    copy.with_name(f"{copy.name}.sha256").write_text("not a sum\n")
    with pytest.raises(shipped.ModelLoadError, match=r"\.sha256, are damaged"):
        verify(copy)


def test_card_differences_name_each_figure_that_moved_and_by_how_much():
    shipped_card = {"test_accuracy": {"CS1": 1.0, "CS2": 0.9}, "test_accuracy_mean": 0.95,
                    "test_ood_accuracy": {"CS1": 0.1}, "test_ood_accuracy_mean": 0.1}
    built = {**shipped_card, "test_accuracy": {"CS1": 1.0, "CS2": 0.8}, "test_accuracy_mean": 0.9,
             "multitable_test_accuracy": {"CS1": 0.5}}
    figures = card_differences(built, shipped_card)
    assert [(f.split, f.group) for f in figures if f.shipped != f.built] == [
        ("test", "CS2"), ("test", "mean"), ("multitable_test", "CS1")]
    assert describe_differences(figures) == [
        "  test: CS2 0.900 -> 0.800 (-0.100), mean 0.950 -> 0.900 (-0.050)",
        "  test_ood: equal (2 figures)",
        "  multitable_test: CS1 absent -> 0.500"]


def test_a_build_from_the_recipe_prints_how_its_card_compares_with_the_shipped_one(smoke_model, tmp_path,
                                                                                  monkeypatch, capsys):
    """The tiny recipe built once (the smoke model) stands for the default: a planted "shipped"
    copy of it with one card figure moved, and build-model with use_shipped=false names that figure."""
    from causalgear.models.recipe import embedded_dir

    cfg, _, _ = smoke_model
    built = embedded_dir(cfg.model, cfg.paths.cache_dir)
    copy = plant(tmp_path, built)
    card = json.loads((copy / CARD).read_text())
    card["test_accuracy"]["CS1"] = round(card["test_accuracy"]["CS1"] - 0.125, 3)
    (copy / CARD).write_text(json.dumps(card))
    record_sums(copy)
    monkeypatch.setenv(shipped.ROOT_ENV, str(copy.parent))
    with_cache = compose(["model=tinysql_smoke", f"paths.cache_dir={cfg.paths.cache_dir}", "model.use_shipped=false"])
    build_model(with_cache, tmp_path / "out")
    out = capsys.readouterr().out
    assert "(the same recipe, built on " in out and "identical weights; 1 of" in out
    comparison = json.loads((tmp_path / "out" / "card_comparison.json").read_text())
    moved = [(f["split"], f["group"]) for f in comparison["figures"] if f["shipped"] != f["built"]]
    assert moved == [("test", "CS1")] and comparison["identical_weights"] and comparison["same_recipe"]
    assert "  test: CS1 " in out and "(+0.125)" in out and "  test_ood: equal" in out
