"""The embedded model's card reports every split the project measures, also for a card built earlier."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from causalgear.config.checks import ConfigError
from causalgear.data.tinysql import SHIFT_SETS, SHIFT_SPLITS, VALIDATION_SHIFT_SPLITS
from causalgear.models.embedded import CARD, CARD_SPLITS, build_embedded, embedded_dir, embedded_key, training_rows
from causalgear.models.stages import build_model
from causalgear.preflight import compose, validate


def test_the_card_has_each_graded_shift_split_by_command_set(smoke_model):
    cfg, _, _ = smoke_model
    card = json.loads((embedded_dir(cfg.model, cfg.paths.cache_dir) / CARD).read_text())
    for split in CARD_SPLITS:
        by_set = card[f"{split}_accuracy"]
        assert all(0 <= v <= 1 for v in by_set.values())
        assert card[f"{split}_accuracy_mean"] == sum(by_set.values()) / len(by_set)
    for split in SHIFT_SPLITS + VALIDATION_SHIFT_SPLITS:  # each covers the command sets its element occurs in
        assert set(card[f"{split}_accuracy"]) == set(SHIFT_SETS[split.split(".")[1]])
    assert f"torch {torch.__version__}" in card["built_on"]  # one recipe builds one model per machine, not per recipe


def test_build_model_completes_a_card_from_an_earlier_build(smoke_model, tmp_path, capsys):
    cfg, _, _ = smoke_model
    path = embedded_dir(cfg.model, cfg.paths.cache_dir) / CARD
    full = json.loads(path.read_text())
    older = {k: v for k, v in full.items() if not k.startswith(("test_shift.", "validation_shift."))}
    path.write_text(json.dumps(older))
    card = build_model(cfg, tmp_path)
    assert card == full  # the same model and splits give the same figures
    assert json.loads(path.read_text()) == full and json.loads((tmp_path / CARD).read_text()) == full
    assert "graded shift" in capsys.readouterr().out


def test_build_model_adds_spider_single_table_accuracy_by_group_and_database(smoke_model, spider_dir, tmp_path,
                                                                            monkeypatch, capsys):
    cfg, _, _ = smoke_model
    monkeypatch.setenv("CAUSALGEAR_SPIDER", str(spider_dir))
    spider = build_model(cfg, tmp_path)["spider_tinysql"]
    assert spider["n"] == sum(r["n"] for r in spider["by_database"].values()) == 347
    assert set(spider["by_group"]) == {"CS1", "CS2", "CS3", "CS4"}
    correct = sum(r["accuracy"] * r["n"] for r in spider["by_group"].values())
    assert abs(correct - spider["accuracy"] * spider["n"]) < 1e-6
    assert spider["decoding"] == "schema" and spider["free_decoding"]["n"] == 347  # and free, beside it
    assert "Spider single-table dev questions, schema decoding" in capsys.readouterr().out


def test_a_recipe_with_multitable_examples_trains_on_them_and_scores_their_test_split(tmp_path):
    cfg = compose(["model=tinysql_smoke", f"paths.cache_dir={tmp_path}", "model.build.steps=2",
                   "model.build.eval_every=2", "model.build.test_examples_per_set=2", "model.build.max_seq_len=384",
                   "model.build.multitable_examples_per_set=10", "model.build.tinysql_final_steps=1"])
    card = build_embedded(cfg.model, tmp_path, tmp_path / "model")
    assert card["train_examples"] > 4 * cfg.model.build.train_examples_per_set  # TinySQL's rows and more
    assert set(card["multitable_test_accuracy"]) == set(card["multitable_test_schema_accuracy"]) == {
        "CS1", "CS2", "CS3", "CS4"}


@pytest.mark.parametrize("field,value", [("multitable_examples_per_set", 10), ("tinysql_final_steps", 100)])
def test_a_field_added_later_keeps_the_cache_key_of_a_recipe_without_it_until_it_is_set(field, value):
    cfg = compose(["model=tinysql"])
    older = OmegaConf.create({"build": {k: v for k, v in OmegaConf.to_container(cfg.model.build).items()
                                        if k != field}})
    assert embedded_key(older) == embedded_key(cfg.model)
    on = compose(["model=tinysql", f"model.build.{field}={value}"])
    assert embedded_key(on.model) != embedded_key(cfg.model)


def test_the_curriculum_s_last_phase_takes_tinysql_rows_alone_in_the_same_length_order():
    tinysql_rows = [([1] * n, 1) for n in (5, 3, 8, 3)]
    multitable_rows = [([2] * n, 1) for n in (4, 9, 3)]
    rows, final_rows = training_rows(tinysql_rows, multitable_rows, torch.Generator().manual_seed(0))
    assert sorted(rows) == sorted(tinysql_rows + multitable_rows)
    assert [len(ids) for ids, _ in rows] == sorted(len(ids) for ids, _ in rows)
    assert final_rows == [r for r in rows if r[0][0] == 1]


def test_the_curriculum_leaves_at_least_one_step_to_the_mix():
    validate(compose(["model=tinysql_multitable", "model.build.tinysql_final_steps=400"]))
    with pytest.raises(ConfigError, match="tinysql_final_steps=1900.*from 0 to model.build.steps - 1"):
        validate(compose(["model=tinysql_multitable", "model.build.steps=1900",
                          "model.build.tinysql_final_steps=1900"]))


def test_a_new_multitable_generator_is_a_new_model_and_leaves_a_recipe_without_it_alone(monkeypatch):
    from causalgear.data import multitable
    default, mixed = compose(["model=tinysql"]).model, compose(["model=tinysql_multitable"]).model
    before = embedded_key(default), embedded_key(mixed)
    monkeypatch.setattr(multitable, "VERSION", multitable.VERSION + 1)
    assert embedded_key(default) == before[0]
    assert embedded_key(mixed) != before[1]


def test_the_default_model_trains_on_multitable_data_and_ends_on_tinysql_alone():
    build = compose([]).model.build
    assert compose([]).model.name == "tinysql_multitable"
    assert build.multitable_examples_per_set > 0 and 0 < build.tinysql_final_steps < build.steps
    assert compose(["model=tinysql"]).model.build.multitable_examples_per_set == 0  # the TinySQL-only recipe
