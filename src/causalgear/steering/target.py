"""What steering turns and where: the feature (`steering.target.feature`, else evaluate's
choice), and the split (`steering.target.split`).

`steering.target.split=auto` steers where the model fails, chosen without looking at the test side.

The candidates are TinySQL's graded shift splits. Each is judged by its validation twin
(`validation_shift.<element>`, on the validation schemas): the model card's figure when the model
has one, else measured here on at most `causal.n_select` of its examples. The one with the most
room (the lowest validation accuracy) wins, among those large enough to hold a selection half
and a test half. Data sets without shift splits steer on `data.eval_split`.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from causalgear.config import SHIFT_ELEMENTS
from causalgear.errors import CausalgearError
from causalgear.io import read_json


def card_figures(model_dir: str | Path) -> dict[str, float]:
    """The validation-side shift accuracy by element that a model card records (empty: none)."""
    path = Path(model_dir) / "model_card.json"
    if not path.is_file():
        return {}
    card = read_json(path, f"delete {path.parent} to rebuild the model")
    return {e: float(card[f"validation_shift.{e}_accuracy_mean"]) for e in SHIFT_ELEMENTS
            if f"validation_shift.{e}_accuracy_mean" in card}


def choose_split(bench) -> tuple[str | None, dict]:
    """(the split to steer on, None for data.eval_split; how it was chosen)."""
    cfg = bench.cfg
    if cfg.steering.target.split != "auto":
        return cfg.steering.target.split, {"rule": "steering.target.split"}
    if "shift_splits" not in bench.source.supports:
        return None, {"rule": f"auto: data={cfg.data.name} has no shift splits, so data.eval_split"}
    from causalgear.data.loading import load_split
    from causalgear.models.loading import model_source

    figures, source = card_figures(model_source(cfg.model, cfg.paths.cache_dir)), "model card"
    if set(figures) != set(SHIFT_ELEMENTS):
        figures, source = {}, f"measured on at most causal.n_select={cfg.causal.n_select} examples each"
        for e in SHIFT_ELEMENTS:
            examples = load_split(cfg, f"validation_shift.{e}")[:cfg.causal.n_select]
            figures[e] = float(bench.runner(examples).correct()[0].mean())
    # only the sizes of the test side are read: a split must hold a selection half and a test half
    fits = [e for e in SHIFT_ELEMENTS if len(load_split(cfg, f"test_shift.{e}")) > cfg.causal.n_select]
    if not fits:
        return None, {"rule": f"auto: no shift split holds more than causal.n_select={cfg.causal.n_select} "
                              "examples, so data.eval_split", "validation_accuracy": figures}
    element = min(fits, key=lambda e: (figures[e], SHIFT_ELEMENTS.index(e)))
    return f"test_shift.{element}", {
        "rule": "auto: the shift split whose validation twin the model gets least right (most room)",
        "source": source, "validation_accuracy": figures, "candidates": fits}


def resolve_feature(s: DictConfig, d_sae: int, chosen: int | None = None) -> tuple[int, str]:
    """The coordinate to steer and where it came from: `feature` (of `steering.target`, as `s`), else evaluate's choice
    (`chosen`, handed over in memory by the pipeline, or the causal.json in its `causal_path`)."""
    if s.feature is not None:
        j, source = int(s.feature), "steering.target.feature"
    elif chosen is not None:
        j, source = chosen, "evaluate"
    elif s.causal_path is not None:
        path = causal_json_at(s.causal_path)
        if not path.is_file():
            raise CausalgearError(f"steering.target.causal_path={s.causal_path!r}: no causal.json there "
                                  f"(run `causalgear evaluate` first, or set steering.target.feature)")
        j, source = chosen_coordinate(path), str(path)
    else:
        raise CausalgearError("no feature to steer: set steering.target.feature=J, or steering.target.causal_path "
                              "to an evaluate run dir whose causal.json names the chosen coordinate")
    if not 0 <= j < d_sae:
        raise CausalgearError(f"steering.target.feature={j} is out of range: the SAE has {d_sae} coordinates "
                              f"(0..{d_sae - 1})")
    return j, source


def causal_json_at(causal_path: str | Path) -> Path:
    """`steering.target.causal_path`: an evaluate run dir, or its causal.json."""
    path = Path(causal_path)
    return path / "causal.json" if path.is_dir() else path


def chosen_coordinate(path: Path) -> int:
    """The coordinate an evaluate run chose, from its causal.json; one line when the file is not one."""
    causal = read_json(path, "rerun `causalgear evaluate`, or set steering.target.feature")
    chosen = causal.get("chosen") if isinstance(causal, dict) else None
    if isinstance(chosen, bool) or not isinstance(chosen, int):
        raise CausalgearError(f"steering.target.causal_path: {path} names no chosen coordinate (chosen={chosen!r}); "
                              f"rerun `causalgear evaluate`, or set steering.target.feature")
    return chosen
