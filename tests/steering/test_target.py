"""`steering.target.split=auto` chooses the shift split with the most room from validation-side figures only."""

import json
import shutil

from causalgear.config import SHIFT_ELEMENTS
from causalgear.data.loading import load_split
from causalgear.models.embedded import CARD, embedded_dir
from causalgear.preflight import compose
from causalgear.steering.target import card_figures, choose_split
from causalgear.workbench import Workbench


def _fits(cfg) -> list[str]:
    return [e for e in SHIFT_ELEMENTS if len(load_split(cfg, f"test_shift.{e}")) > cfg.causal.n_select]


def test_auto_takes_the_validation_twin_the_model_card_says_is_least_right(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    card = json.loads((embedded_dir(bench.cfg.model, bench.cfg.paths.cache_dir) / CARD).read_text())
    split, why = choose_split(bench)
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
    assert card_figures(model_dir) == {}
    cfg = compose([*overrides, "model=hf", f"model.name_or_path={model_dir}", "model.layer=1", "model.num_layers=2"],
                  stage="steer")
    split, why = choose_split(Workbench.load(cfg, "steer"))
    assert why["source"].startswith("measured") and set(why["validation_accuracy"]) == set(SHIFT_ELEMENTS)
    assert all(0 <= v <= 1 for v in why["validation_accuracy"].values())
    assert split.removeprefix("test_shift.") in _fits(cfg)


def test_a_named_split_is_kept_and_a_split_too_small_to_halve_is_never_chosen(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose([*overrides, "steering.target.split=test_shift.verb"], stage="steer"), "steer")
    assert choose_split(bench) == ("test_shift.verb", {"rule": "steering.target.split"})
    # with n_select above every shift split's size, no shift split can hold a test half
    bench = Workbench.load(compose([*overrides, "causal.n_select=1000"], stage="steer"), "steer")
    split, why = choose_split(bench)
    assert split is None and "no shift split" in why["rule"]
