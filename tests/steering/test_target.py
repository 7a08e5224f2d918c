"""`steering.target.split=auto` chooses the shift split with the most room from validation-side figures only."""

import json
import shutil

from causalgear.config import SHIFT_ELEMENTS
from causalgear.data.loading import load_split
from causalgear.models.embedded import CARD, embedded_dir
from causalgear.preflight import compose
from causalgear.steering.target import card_figures, choose_splits
from causalgear.workbench import Workbench


def _fits(cfg) -> list[str]:
    return [e for e in SHIFT_ELEMENTS if len(load_split(cfg, f"test_shift.{e}")) > cfg.causal.n_select]


def test_auto_takes_the_validation_twin_the_model_card_says_is_least_right(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    card = json.loads((embedded_dir(bench.cfg.model, bench.cfg.paths.cache_dir) / CARD).read_text())
    split, why = choose_splits(bench)[0]
    assert why["source"] == "model card"
    assert why["validation_accuracy"] == {e: card[f"validation_shift.{e}_accuracy_mean"] for e in SHIFT_ELEMENTS}
    fits = _fits(bench.cfg)
    assert why["candidates"] == fits
    assert split == "test_shift." + min(fits, key=lambda e: (why["validation_accuracy"][e], SHIFT_ELEMENTS.index(e)))


def test_without_a_card_auto_measures_the_validation_twins(smoke_sae, tmp_path):
    overrides, _ = smoke_sae
    smoke = compose(overrides)
    model_dir = tmp_path / "model"
    shutil.copytree(embedded_dir(smoke.model, smoke.paths.cache_dir), model_dir)
    (model_dir / CARD).unlink()
    cfg = compose([*overrides, "model=hf", f"model.name_or_path={model_dir}", "model.layer=1", "model.num_layers=2"],
                  stage="steer")
    bench = Workbench.load(cfg, "steer")
    assert bench.card == {} and card_figures(bench.card) == {}  # read from where the model was loaded
    split, why = choose_splits(bench)[0]
    assert why["source"].startswith("measured") and set(why["validation_accuracy"]) == set(SHIFT_ELEMENTS)
    assert all(0 <= v <= 1 for v in why["validation_accuracy"].values())
    assert split.removeprefix("test_shift.") in _fits(cfg)


def test_a_named_split_is_kept_and_a_split_too_small_to_halve_is_never_chosen(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose([*overrides, "steering.target.split=test_shift.verb"], stage="steer"), "steer")
    assert choose_splits(bench)[0] == ("test_shift.verb", {"rule": "steering.target.split"})
    # with n_select above every shift split's size, no shift split can hold a test half
    bench = Workbench.load(compose([*overrides, "causal.n_select=1000"], stage="steer"), "steer")
    split, why = choose_splits(bench)[0]
    assert split is None and "no shift split" in why["rule"]


def causal_with_handles(order: float | None, aggregate: float | None, operator: float | None) -> dict:
    """Evaluate's result as steer reads it: the full-residual cause on validation pairs per attribute."""
    figures = {"order_direction": order, "aggregate": aggregate, "where_operator": operator}
    return {"cause_isolate": {a: {"selection_full_residual": {"cause": {"rate": v}}} if v is not None else
                              {"skipped": "no pair"} for a, v in figures.items()}}


def test_a_split_with_room_but_no_handle_is_never_chosen(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    room_only, why = choose_splits(bench)[0]
    element = room_only.removeprefix("test_shift.")
    fits = _fits(bench.cfg)
    # plant: the split with the most room has no handle; another candidate has one
    other = next(e for e in ("order", "aggregate", "operator") if e != element and e in fits)
    planted = {"order": 0.9 if other == "order" else 0.0, "aggregate": 0.9 if other == "aggregate" else 0.0,
               "operator": 0.9 if other == "operator" else 0.0}
    if element in planted:
        planted[element] = 0.0
    handles = causal_with_handles(planted["order"], planted["aggregate"], planted["operator"])
    split, why = choose_splits(bench, handles)[0]
    assert split == f"test_shift.{other}" and "with a handle" in why["rule"]
    assert why["validation_full_residual_cause"][other] == 0.9 and why["min_handle"] == 0.5


def test_without_any_handle_at_or_above_the_floor_auto_steers_the_eval_split_or_an_unknown_one(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    split, why = choose_splits(bench, causal_with_handles(0.1, 0.2, 0.0))[0]
    fits = _fits(bench.cfg)
    unknown = [e for e in fits if e not in ("order", "aggregate", "operator")]
    if unknown:  # verb, select, where have no pairs: unknown handles come before the measured-low ones
        assert split.removeprefix("test_shift.") in unknown and "unknown" in why["rule"]
    else:
        assert split is None and "no shift split has a handle" in why["rule"]
    bench_all = Workbench.load(compose([*overrides, "steering.target.min_handle=0.0"], stage="steer"), "steer")
    split, _ = choose_splits(bench_all, causal_with_handles(0.1, 0.2, 0.0))[0]
    assert split.removeprefix("test_shift.") in ("order", "aggregate", "operator")  # every handle clears 0


def test_handles_steers_every_split_with_a_measured_handle_the_most_room_first(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose([*overrides, "steering.target.split=handles"], stage="steer"), "steer")
    fits = [e for e in _fits(bench.cfg) if e in ("order", "aggregate", "operator")]
    planted = {e: (0.9 if e in fits else 0.0) for e in ("order", "aggregate", "operator")}
    planted[fits[0]] = 0.1  # room, but no handle: left out
    chosen = choose_splits(bench, causal_with_handles(planted["order"], planted["aggregate"], planted["operator"]))
    splits = [split for split, _ in chosen]
    _, why = chosen[0]
    expect = sorted(fits[1:], key=lambda e: (why["validation_accuracy"][e], SHIFT_ELEMENTS.index(e)))
    assert splits == [f"test_shift.{e}" for e in expect] and why["rule"].startswith("handles:")
    # no measured handle: handles never guesses at an unknown one
    (split, why), = choose_splits(bench, causal_with_handles(0.0, None, 0.0))
    assert split is None and "no shift split has a measured handle" in why["rule"]


def test_reach_reads_the_held_out_phrasing_per_layer_from_validation_data_only(smoke_sae):
    from causalgear.steering.methods.concept_probe import reach

    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    r = reach(bench, "order", [0, 1], 20)
    assert r["component"] == "order_direction" and 0 < r["n_held_out"] <= 20 and 0 < r["chance"] <= 1
    for layer in (0, 1):
        assert set(r["layers"][layer]) == {"held_out_phrasing", "in_distribution"}
        assert all(0 <= v <= 1 for v in r["layers"][layer].values())
    assert reach(bench, "order", [1], 20)["layers"][1] == r["layers"][1]  # seeded: the same probe
