"""`evaluate` end to end on a tiny model and SAE: every field, honest verdict, disjoint splits."""

import json

import pytest
import torch

from causalgear.interventions.evaluate import evaluate
from causalgear.preflight import compose
from causalgear.sae.io import save_sae
from causalgear.sae.relu import ReLUSAE


def run_evaluate(model_dir, tmp_path, d_sae: int, *extra: str) -> tuple[dict, dict]:
    """A firing one-layer SAE of d_sae codes on the tiny Qwen2, evaluated on a tiny TinySQL."""
    torch.manual_seed(0)
    sae = ReLUSAE(32, d_sae)
    with torch.no_grad():
        sae.b_enc.fill_(0.2)
    save_sae(sae, tmp_path / "train" / "sae", layer=1, site="resid", model_name="tiny")
    cfg = compose(["model=hf", f"model.name_or_path={model_dir}", "model.layer=1",
                   f"paths.cache_dir={tmp_path / 'cache'}", f"sae.path={tmp_path / 'train'}",
                   "data.n_train_per_set=20", "data.n_test_per_set=3", "data.n_validation_per_set=2",
                   "data.n_test_ood_per_set=2", "data.n_schemas=10", "harvest.max_examples=40",
                   "causal.n_select=6", "causal.n_test=6", "causal.n_boot=200", "causal.kl_examples=4",
                   "generation.max_new_tokens=8", *extra])
    out = tmp_path / "run"
    out.mkdir()
    result = evaluate(cfg, out)
    assert (out / "causal.png").is_file()
    return result, json.loads((out / "causal.json").read_text())


@pytest.mark.parametrize("mode", ["zero", "interchange", "clamp"])
def test_evaluate_writes_causal_json_and_plot(tiny_qwen2_dir, tmp_path, mode):
    result, saved = run_evaluate(tiny_qwen2_dir, tmp_path, 4, f"causal.mode={mode}")
    assert result["mode"] == mode and saved["chosen"] == result["chosen"]
    assert len(saved["coordinates"]) == 4 and saved["n_select"] == 6 and saved["n_test"] == 6
    base = saved["baseline"]
    assert base["test_accuracy"] * 6 == base["test_correct"]
    assert base["selection_accuracy"] * 6 == base["selection_correct"]
    assert saved["chosen_test"]["n"] == 6 and saved["controls"]["random_direction"]["n"] == 6
    assert 0 < len(saved["top_tokens"]) <= 20 and all(t["value"] > 0 for t in saved["top_tokens"])
    assert set(saved["checks"]) == {"excludes_zero", "beats_random_coordinate", "beats_random_direction"}
    assert saved["controls"]["random_coordinate"]["coordinate"] != saved["chosen"]
    for r in saved["coordinates"]:
        assert r["ci_low"] <= r["delta"] <= r["ci_high"]
        assert set(r["profile"]) == set(saved["components"])  # every component, measured from the same generations
        # precision: |Δ| of the most moved component minus the mean |Δ| of the others (0: nothing moved)
        moved = {c: abs(p["delta"]) for c, p in r["profile"].items() if p["delta"] is not None}
        target = max(moved, key=moved.get) if moved and max(moved.values()) > 0 else None
        others = [v for c, v in moved.items() if c != target]
        expected = 0.0 if target is None else moved[target] - (sum(others) / len(others) if others else 0.0)
        assert r["target_component"] == target and r["precision"] == pytest.approx(expected)
    # chosen by causal precision on the selection split (the default), reported on the test split
    best = max(saved["coordinates"], key=lambda r: (r["precision"], abs(r["delta"]), -r["coordinate"]))
    assert saved["select_by"] == "precision" and saved["chosen"] == best["coordinate"]
    t = saved["chosen_test_profile"]
    assert set(t["profile"]) == set(saved["components"]) and {"precision_ci_low", "precision_ci_high"} <= set(t)
    # the random twin's coordinate, chosen the same way, beside it: the control precision must clear
    twin = saved["random_sae_chosen"]
    assert 0 <= twin["coordinate"] < 4 and twin["n"] == 6
    assert twin["precision_ci_low"] <= twin["precision_ci_high"] and twin["ci_low"] <= twin["delta"] <= twin["ci_high"]
    assert saved["precision_beats_random_sae"] == (t["precision_ci_low"] > twin["precision_ci_high"])
    # a random tiny model writes no valid SQL: nothing can beat its controls, and it says so
    assert not saved["beats_controls"] and saved["verdict"].startswith("no coordinate beats its controls")
    # nor does it know any counterfactual pair, so cause/isolate says it measured none, per attribute
    assert set(saved["cause_isolate"]) == {"order_direction", "aggregate", "where_operator"}
    assert all(r["methods"] == {} and r["test_pairs"] == 0 and "skipped" in r for r in saved["cause_isolate"].values())
    # the chosen code fires (b_enc > 0): removing it or setting it to 5x its mean moves the next-token
    # distribution; interchange sets it to another prompt's similar mean code
    assert saved["kl_prompt_positions"] > (1e-6 if mode != "interchange" else 0)


def test_without_the_random_sae_control_there_is_no_twin_coordinate(tiny_qwen2_dir, tmp_path):
    result, _ = run_evaluate(tiny_qwen2_dir, tmp_path, 4, "causal.random_sae=false", "causal.pairs=0")
    assert result["random_sae_chosen"] is None and result["precision_beats_random_sae"] is None


def test_a_large_dictionary_is_ranked_by_attribution_and_confirmed(tiny_qwen2_dir, tmp_path):
    result, _ = run_evaluate(tiny_qwen2_dir, tmp_path, 12, "causal.exhaustive_max=4", "causal.confirm_top=3")
    assert result["method"] == "attribution" and result["confirmed"] == 3
    assert all("attribution" in r for r in result["coordinates"])
    assert sum(r["delta"] is not None for r in result["coordinates"]) == 3
    from scipy.stats import spearmanr

    measured = [r for r in result["coordinates"] if r["delta"] is not None]
    rho = spearmanr([r["attribution"] for r in measured], [r["delta"] for r in measured]).statistic
    got = result["spearman_attribution_vs_patching"]
    assert (got == pytest.approx(rho)) if rho == rho else got != got  # nan when a side is constant


def test_evaluate_without_an_sae_says_what_to_set(tmp_path):
    from causalgear.errors import CausalgearError

    with pytest.raises(CausalgearError, match="sae.path is not set"):
        evaluate(compose([f"paths.cache_dir={tmp_path}"]), tmp_path)


def test_transfer_measures_the_chosen_coordinate_on_another_data_set(tiny_qwen2_dir, tmp_path):
    """experiment=transfer: the coordinate chosen on CS1 is re-measured on CS2 with both controls;
    a data set that cannot be found is skipped with its reason, not dropped silently."""
    result, saved = run_evaluate(tiny_qwen2_dir, tmp_path, 4, "experiment=transfer", "data.command_sets=[CS1]",
                                 "data.n_test_per_set=12",
                                 "transfer.cs4.command_sets=[CS2]", "transfer.cs4.n_test_per_set=5",
                                 "transfer.cs4.n_schemas=10", "transfer.spider.spider_dir=/nonexistent")
    assert saved["source_data"] == "tinysql CS1 (test)"
    cs = saved["transfer"]["cs4"]
    assert cs["data"] == "tinysql CS2 (test)" and cs["n"] == 5
    for key in ("chosen", "random_coordinate", "random_direction"):
        assert cs[key]["ci_low"] <= cs[key]["delta"] <= cs[key]["ci_high"]
    assert cs["random_coordinate"]["coordinate"] == saved["controls"]["random_coordinate"]["coordinate"]
    assert "Spider not found" in saved["transfer"]["spider"]["skipped"]


def test_a_bad_transfer_data_config_is_refused_before_any_work():
    from causalgear.cli import composition_message
    from causalgear.config import ConfigError
    from causalgear.preflight import validate

    with pytest.raises(Exception) as err:  # a closed vocabulary: refused while composing
        compose(["experiment=transfer", "transfer.cs4.command_sets=[CS9]"])
    assert composition_message(err.value) == ("transfer.cs4.command_sets[0]: Invalid value 'CS9', expected one of "
                                               "[CS1, CS2, CS3, CS4]")
    with pytest.raises(ConfigError, match=r"transfer.cs4.n_test_per_set=0 is not allowed: an integer > 0"):
        validate(compose(["experiment=transfer", "transfer.cs4.n_test_per_set=0"]))
    validate(compose(["experiment=transfer"]))  # Spider missing here: skipped later with its reason, not refused


def test_the_component_profile_of_a_planted_toy_case():
    """One prompt set, two interventions: one breaks only the ORDER BY direction (precise), one breaks
    every component (damage)."""
    import numpy as np

    from causalgear.data.components import COMPONENTS
    from causalgear.data.examples import Example
    from causalgear.interventions.profile import correctness, gold_has, profile

    golds = [f"SELECT name FROM pets ORDER BY age {d}" for d in ("ASC", "DESC")] * 5
    examples = [Example(id=str(i), split="test", group="CS2", db_id="d", question="q", context="c", sql=g, db_dir="")
                for i, g in enumerate(golds)]
    base = correctness(examples, golds)
    assert (base == 1.0).all()
    flipped = [g.replace("ASC", "X").replace("DESC", "ASC").replace("X", "DESC") for g in golds]
    precise = profile(base, correctness(examples, flipped), gold_has(examples), 200, 0)
    assert precise["target_component"] == "order_direction"
    assert precise["profile"]["order_direction"]["delta"] == -1.0 and precise["profile"]["select"]["delta"] == 0.0
    assert precise["precision"] == 1.0 and precise["selectivity"] == 1.0  # all of it on one component
    assert precise["profile"]["where_field"]["n"] == 0 and precise["profile"]["where_field"]["absent_delta"] == 0.0
    damage = profile(base, correctness(examples, ["SELECT"] * 10), gold_has(examples), 200, 0)
    moved = [damage["profile"][c]["delta"] for c in COMPONENTS if damage["profile"][c]["delta"] is not None]
    assert moved == [-1.0] * 4 and damage["precision"] == 0.0 and damage["selectivity"] == 0.25
    assert np.isclose(sum(abs(d) for d in moved), 4.0)


def test_the_recipe_rule_chooses_the_largest_accuracy_drop(tiny_qwen2_dir, tmp_path):
    _, saved = run_evaluate(tiny_qwen2_dir, tmp_path, 4, "causal.select_by=accuracy_drop")
    best = max(saved["coordinates"], key=lambda r: (abs(r["delta"]), -r["coordinate"]))
    assert saved["select_by"] == "accuracy_drop" and saved["chosen"] == best["coordinate"]


def test_the_precision_interval_of_a_precise_and_of_a_damaging_intervention():
    import numpy as np

    from causalgear.interventions.profile import precision_interval

    has = np.zeros((10, 8), dtype=bool)
    has[:, [0, 1, 3, 4]] = True  # select, table, order field and direction
    base = np.ones((10, 8))
    precise = base.copy()
    precise[:, 4] = 0.0  # only the direction breaks
    assert precision_interval(base, precise, has, 200, 0) == (1.0, 1.0)
    damage = np.zeros((10, 8))
    assert precision_interval(base, damage, has, 200, 0) == (0.0, 0.0)


def test_the_transfer_preset_runs_on_the_model_that_answers_spiders_single_table_questions():
    cfg = compose(["experiment=transfer"])
    assert cfg.model.name == "tinysql_multitable" and cfg.model.build.multitable_examples_per_set > 0
    assert cfg.transfer.spider.subset == "tinysql"
    assert compose(["experiment=transfer", "model=tinysql"]).model.name == "tinysql"  # the command line still wins
