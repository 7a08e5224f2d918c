"""`causalgear steer` on the embedded model's code path (the seconds-to-build recipe)."""

import json

import pytest

from causalgear.errors import CausalgearError
from causalgear.interventions.factory import Interventions
from causalgear.interventions.specs import Grains
from causalgear.models.generate import generate_sql
from causalgear.models.site import Site
from causalgear.preflight import compose
from causalgear.steering.run import Steerer, steer


@pytest.fixture(scope="module")
def steer_cfg(smoke_sae):
    cfg, root = smoke_sae
    return compose([*cfg, "steering.target.feature=2", "steering.grains.scales=[0.05,0.5]",
                    "steering.methods.alphas=[1.0,4.0]",
                    "steering.html_examples=3", *ONE_SPLIT]), root


# the feature alone on the eval split: what the extra latents, splits and methods add is tested on its own
ONE_SPLIT = ["steering.target.split=null", "steering.methods.candidates=0", "steering.methods.conditional=false",
             "steering.concepts.targets=[]",
             "steering.methods.extra=[]"]


@pytest.fixture(scope="module")
def steered(steer_cfg):
    """One steer run of the feature alone: (what it returned, steering.json, its run dir)."""
    cfg, root = steer_cfg
    out = root / "run"
    out.mkdir()
    result = steer(cfg, out)
    return result, json.loads((out / "steering.json").read_text()), out


GRIDS = (("grains", [0.05, 0.5]), ("additive", [1.0, 4.0]))


def test_steering_json_is_what_steer_returned_and_names_the_feature_s_source(steered):
    result, saved, _ = steered
    assert saved["methods"]["grains"]["test"] == json.loads(json.dumps(result["methods"]["grains"]["test"]))
    assert saved["feature"] == 2 and saved["feature_source"] == "steering.target.feature"


@pytest.mark.parametrize(("name", "grid"), GRIDS)
def test_each_method_chooses_a_scale_of_its_grid_on_the_selection_curve(steered, name, grid):
    m = steered[1]["methods"][name]
    assert m["method"] == name and m["scale"] in grid
    assert [c["scale"] for c in m["selection_curve"]] == [0.0, *grid]
    unsteered, *steered_accuracy = [c["accuracy"] for c in m["selection_curve"]]
    assert m["unsteered_best_on_selection"] == (unsteered > max(steered_accuracy))


@pytest.mark.parametrize(("name", "grid"), GRIDS)
def test_each_method_s_test_figures_add_up(steered, name, grid):
    t = steered[1]["methods"][name]["test"]
    assert t["steered_accuracy"] - t["baseline_accuracy"] == pytest.approx(t["delta"])
    assert 0 <= t["changed_share"] <= 1 and t["fixed"] - t["broken"] == round(t["delta"] * t["n"])
    assert t["ci_low"] <= t["delta"] <= t["ci_high"] and t["n"] == 8
    assert sum(g["n"] for g in t["per_group"].values()) == 8


@pytest.mark.parametrize(("name", "grid"), GRIDS)
def test_a_component_flips_only_where_the_output_changed(steered, name, grid):
    t = steered[1]["methods"][name]["test"]
    changed = round(t["changed_share"] * t["n"])
    assert all(f["fixed"] + f["broken"] <= changed for f in t["component_flips"].values())


def test_only_grains_reports_the_completeness_of_its_attributions(steered):
    methods = steered[1]["methods"]
    assert methods["additive"]["mean_completeness_error"] is None
    assert methods["grains"]["mean_completeness_error"] is not None
    assert (steered[2] / "steering.png").stat().st_size > 1000


def test_attributions_json_has_every_prompt_with_its_tokens_and_perturbed_positions(steered):
    att = json.loads((steered[2] / "attributions.json").read_text())
    assert "feature_definition" in att and len(att["examples"]) == 6 + 8
    for row in att["examples"]:
        assert len(row["tokens"]) == len(row["token_ids"]) == len(row["attributions"])
        assert (row["baseline"], row["n_steps"], row["layer"], row["coordinate"]) == ("pad", 32, 1, 2)
        assert len(row["perturbed_positions"]) == min(8, row["prompt_length"])  # steering.grains.perturbed_tokens


def test_integrated_gradients_are_complete_within_five_percent(steered):
    att = json.loads((steered[2] / "attributions.json").read_text())
    errors = [r["completeness_error"] for r in att["examples"] if r["completeness_error"] is not None]
    assert sum(errors) / len(errors) <= 0.05  # the default n_steps on the embedded model's architecture


def test_attributions_html_marks_each_shown_sql_right_or_wrong(steered):
    page = (steered[2] / "attributions.html").read_text()
    assert page.count("class='ex'") == 3 and "rgba(" in page
    marks = page.count('<span class="ok">right</span>') + page.count('<span class="bad">wrong</span>')
    assert marks == 3 * (1 + len(steered[1]["methods"]))  # unsteered and under each method


def test_scale_zero_generates_the_unsteered_sql_and_the_embedding_matrix_never_moves(steer_cfg, smoke_model):
    cfg, _ = steer_cfg
    _, model, tokenizer = smoke_model
    from causalgear.data.loading import load_split
    from causalgear.sae.io import load_sae
    from causalgear.sae.paths import sae_dir

    sae, _ = load_sae(sae_dir(cfg.sae.path))
    prompts = [e.prompt for e in load_split(cfg)[:6]]
    before = model.get_input_embeddings().weight.detach().numpy().tobytes()
    plain = generate_sql(model, tokenizer, prompts, max_new_tokens=24, batch_size=4)
    site = Site(model, 1)
    steerer = Steerer(cfg.steering, tokenizer, sae, site, 2)
    attributed = [steerer.attribute(p, sql) for p, sql in zip(prompts, plain, strict=True)]
    made = Interventions(site, sae, {}, perturber=steerer.perturber(attributed))
    zero = generate_sql(model, tokenizer, prompts, max_new_tokens=24, batch_size=4,
                        intervention=made.make(Grains(2, 0.0)))
    assert zero == plain
    big = generate_sql(model, tokenizer, prompts, max_new_tokens=24, batch_size=4,
                       intervention=made.make(Grains(2, 5.0)))
    assert big != plain  # and a large push does change what is generated
    # the (tied) embedding matrix is byte-identical after attribution and steering
    assert model.get_input_embeddings().weight.detach().numpy().tobytes() == before


def test_steer_names_a_bad_feature_before_loading_the_model(steer_cfg):
    cfg, root = steer_cfg
    bad = compose([f"sae.path={cfg.sae.path}", "steering.target.feature=99"])
    with pytest.raises(CausalgearError, match="steering.target.feature=99 is out of range"):
        steer(bad, root)
    missing = compose([f"sae.path={cfg.sae.path}", f"steering.target.causal_path={root / 'nowhere'}"])
    with pytest.raises(CausalgearError, match="no causal.json"):
        steer(missing, root)


@pytest.mark.parametrize(("text", "named"), [('{"chosen": 3, "coordin', "causal.json is not whole JSON"),
                                              ('{"verdict": "none"}', "names no chosen coordinate"),
                                              ('{"chosen": null}', "names no chosen coordinate"),
                                              ('[1, 2]', "names no chosen coordinate")])
def test_a_truncated_or_chosenless_causal_json_is_one_line_before_loading_the_model(steer_cfg, tmp_path, text,
                                                                                    named):
    cfg, root = steer_cfg
    (tmp_path / "causal.json").write_text(text)
    bad = compose([f"sae.path={cfg.sae.path}", f"steering.target.causal_path={tmp_path}"])
    with pytest.raises(CausalgearError, match=named) as err:
        steer(bad, root)
    assert "\n" not in str(err.value)


def test_steering_on_a_shift_split_reports_fixes_breaks_and_the_in_distribution_check(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[4.0]",
                   "steering.html_examples=2", "steering.target.split=test_shift.order", "causal.n_select=3",
                   "causal.n_test=4", "steering.methods.candidates=0", "steering.methods.conditional=false",
                   "steering.concepts.targets=[]"])
    result = steer(cfg, tmp_path)
    assert result["data_split"] == "test_shift.order" and result["in_distribution_split"] == "test"
    for m in result["methods"].values():
        t, d = m["test"], m["in_distribution"]
        assert t["n"] == 4 and {e for e in t["per_group"]} <= {"CS2", "CS4"}  # the shift split's own test half
        assert d["n"] == 4 and d["per_group"].keys() <= {"CS1", "CS2", "CS3", "CS4"}
        for s in (t, d):
            assert s["fixed"] - s["broken"] == round(s["delta"] * s["n"])
            assert 0 <= s["mcnemar_p"] <= 1
    from causalgear.report.page import write_report

    (tmp_path / "run" / "steer").mkdir(parents=True)
    for f in ("steering.json", "steering.png"):
        (tmp_path / "run" / "steer" / f).write_bytes((tmp_path / f).read_bytes())
    page = write_report(tmp_path / "run", cfg).read_text()
    assert "of test_shift.order" in page and "Δ on test [95% CI]" in page and "fixed / broken" in page


def test_a_steering_split_or_method_that_does_not_exist_is_refused():
    from causalgear.config import ConfigError
    from causalgear.preflight import validate

    with pytest.raises(ConfigError, match="steering.target.split='test_shift.colour'"):
        validate(compose(["steering.target.split=test_shift.colour"]))
    with pytest.raises(ConfigError) as err:  # the registered methods (causalgear.steering.methods)
        validate(compose(["steering.methods.extra=[clamp,prompting]"]))
    assert str(err.value) == ("steering.methods.extra[1]='prompting' is not allowed: one of clamp, diffmean, "
                              "random_direction, concept_probe, trained_vector, trained_latents, "
                              "patch (causalgear.steering.methods)")


def test_the_clamp_and_the_simple_baselines_steer_beside_the_feature(smoke_sae, tmp_path, capsys):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                   "steering.methods.alphas=[1.0,4.0]",
                   "steering.html_examples=2", *ONE_SPLIT, "steering.methods.extra=[clamp,diffmean,random_direction]",
                   "steering.methods.clamps=[3.0]"])
    result = steer(cfg, tmp_path)
    methods = set(result["methods"])
    assert {"grains", "additive", "clamp", "random_direction"} <= methods
    assert [c["scale"] for c in result["methods"]["clamp"]["selection_curve"]] == [0.0, 3.0]
    methods -= {"clamp"}
    # DiffMean needs right and wrong answers on selection; when there are none it says so
    assert ("diffmean" in methods) != ("diffmean" in result["skipped_methods"])
    printed = capsys.readouterr().out
    for name, why in result["skipped_methods"].items():  # a skipped method is said, not only written
        assert f"{name}: skipped ({why})" in printed
    for name in methods - {"grains"}:
        assert [c["scale"] for c in result["methods"][name]["selection_curve"]] == [0.0, 1.0, 4.0]


def test_diffmean_points_from_wrong_to_right_at_the_given_norm():
    import numpy as np
    import torch

    from causalgear.steering.methods.context import diffmean_direction
    from causalgear.steering.methods.directions import random_direction

    acts = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    d = diffmean_direction(acts, np.array([1, 1, 0, 0]), norm=5.0)
    assert torch.allclose(d, torch.tensor([2.0, -3.0]) * 5.0 / 13 ** 0.5)
    assert diffmean_direction(acts, np.array([1, 1, 1, 1]), norm=5.0) is None
    r = random_direction(8, 5.0, seed=0)
    assert torch.isclose(r.norm(), torch.tensor(5.0)) and torch.equal(r, random_direction(8, 5.0, seed=0))


def test_nothing_peeks_a_test_examples_gold_cannot_change_what_is_chosen(smoke_sae, tmp_path, monkeypatch):
    """Everything is chosen on selection examples only: with every test example's gold replaced by
    a query no output matches (concept steering: by one on another table, so the component it
    forces stays), the split, the candidate latents, each method's latent and scale, and concept
    steering's choices are the same (the trained vector's and trained latents' too: which latents,
    their amounts), and only the test figures move."""
    import dataclasses

    from causalgear import workbench
    from causalgear.steering.concepts import steer as concept

    overrides, _ = smoke_sae
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.05,0.5]",
                   "steering.methods.alphas=[1.0,4.0]",
                   "steering.html_examples=2", "steering.methods.clamps=[2.0,8.0]", "steering.methods.candidates=2",
                   "steering.concepts.targets=[order_direction:DESC]", "data.n_validation_per_set=4",
                   "steering.methods.trained.steps=10"])
    honest = steer(cfg, tmp_path / "a")
    real, real_load = workbench.held_out, concept.load_split

    def corrupted(*args):
        held = real(*args)
        bad = [dataclasses.replace(e, sql="SELECT 'no output is this' FROM " + e.sql.split(" FROM ")[1].split()[0])
               for e in held.test]
        return dataclasses.replace(held, test=bad)

    def corrupted_eval_split(c, split=None):
        examples = real_load(c, split)
        if split != c.data.eval_split:
            return examples
        return [dataclasses.replace(e, sql=e.sql.replace(" FROM ", " FROM elsewhere_", 1)) for e in examples]

    monkeypatch.setattr(workbench, "held_out", corrupted)
    monkeypatch.setattr(concept, "load_split", corrupted_eval_split)
    peeked = steer(cfg, tmp_path / "b")
    for key in ("data_split", "split_choice", "candidate_latents", "detector", "skipped_methods"):
        assert peeked[key] == honest[key], key
    assert {"trained_vector", "trained_latents"} <= set(honest["methods"]) and "twin" in honest["methods"][
        "trained_latents"]
    for name, m in honest["methods"].items():
        for entry, seen in ((m, peeked["methods"][name]), *(((m["twin"], peeked["methods"][name]["twin"]),)
                                                            if "twin" in m else ())):
            for key in ("latent", "scale", "selection_curve", "moved_latents", "trained_amounts"):
                assert seen.get(key) == entry.get(key), (name, key)
            assert seen["test"]["steered_accuracy"] == 0.0  # the test figures did see the change
    honest_c, peeked_c = (r["concept_steering"]["order_direction:DESC"] for r in (honest, peeked))
    assert peeked_c["candidate_latents"] == honest_c["candidate_latents"]
    for name, m in honest_c["methods"].items():
        for entry, seen in ((m, peeked_c["methods"][name]), *(((m["twin"], peeked_c["methods"][name]["twin"]),)
                                                              if "twin" in m else ())):
            for key in ("latent", "scale", "selection_curve"):
                assert seen.get(key) == entry.get(key), (name, key)
            assert seen["test"]["instruction"] == 0.0  # every gold now reads another table


def test_component_flips_say_which_part_of_the_sql_steering_fixed_and_broke():
    import numpy as np

    from causalgear.data.examples import Example
    from causalgear.steering.measure import steered_summary

    gold = ["SELECT name FROM pets ORDER BY age ASC", "SELECT AVG(age) AS avg_age FROM pets"]
    examples = [Example(f"t-{i}", "test", "CS2", "db", "q", "c", sql, "/nowhere") for i, sql in enumerate(gold)]
    before = ["SELECT name FROM pets ORDER BY age DESC", "SELECT AVG(age) AS avg_age FROM pets"]
    after = ["SELECT name FROM pets ORDER BY age ASC", "SELECT MAX(age) AS max_age FROM pets"]
    s = steered_summary(examples, np.array([0.0, 1.0]), np.array([1.0, 0.0]), before, after, 100, 0)
    assert s.component_flips["order_direction"] == {"fixed": 1, "broken": 0}
    assert s.component_flips["aggregate"] == {"fixed": 0, "broken": 1}
    assert s.component_flips["select"] == {"fixed": 0, "broken": 0} and s.fixed == s.broken == 1


def test_the_residual_methods_steer_at_the_positions_the_config_names(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    runs = {}
    for where in ("all", "decision"):
        cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.5]",
                       "steering.methods.alphas=[8.0]",
                       "steering.html_examples=2", *ONE_SPLIT, "steering.methods.extra=[random_direction]",
                       f"steering.methods.positions={where}", "steering.grains.perturbed_tokens=1"])
        runs[where] = steer(cfg, tmp_path / where)
        assert runs[where]["positions"] == where
    # one prompt token edited changes no more outputs than every position, generation included
    for name in ("additive", "random_direction"):
        assert runs["decision"]["methods"][name]["test"]["changed_share"] <= \
            runs["all"]["methods"][name]["test"]["changed_share"], name
    # grains perturbs its own attributed tokens either way
    assert runs["decision"]["methods"]["grains"]["test"] == runs["all"]["methods"]["grains"]["test"]


def test_handles_steers_each_split_with_a_handle_in_its_own_dir_sharing_the_in_distribution_arms(smoke_sae, tmp_path):
    from causalgear.steering.run import steer_on
    from causalgear.workbench import Workbench
    from tests.steering.test_target import _fits, causal_with_handles

    overrides, _ = smoke_sae
    one = [o for o in ONE_SPLIT if not o.startswith("steering.target.split")]
    cfg = compose([*overrides, "steering.target.feature=2", "steering.grains.scales=[0.05,0.5]",
                   "steering.methods.alphas=[1.0,4.0]", "steering.html_examples=3", *one,
                   "steering.target.split=handles"], stage="steer")
    two = [e for e in _fits(cfg) if e in ("order", "aggregate", "operator")][:2]
    handle = {e: (0.9 if e in two else 0.0) for e in ("order", "aggregate", "operator")}
    result = steer_on(Workbench.load(cfg, "steer"), tmp_path,
                      causal=causal_with_handles(handle["order"], handle["aggregate"], handle["operator"]))
    splits = [result["data_split"], *result["other_splits"]]
    assert sorted(splits) == sorted(f"test_shift.{e}" for e in two)
    other = result["other_splits"][splits[1]]
    assert json.loads((tmp_path / splits[1] / "steering.json").read_text())["data_split"] == splits[1]
    assert (tmp_path / splits[1] / "attributions.html").is_file()
    assert set(json.loads((tmp_path / "steering.json").read_text())["other_splits"]) == {splits[1]}
    # one in-distribution arm for both splits: the same unsteered answers
    assert other["methods"]["grains"]["in_distribution"]["baseline_accuracy"] == \
        result["methods"]["grains"]["in_distribution"]["baseline_accuracy"]
