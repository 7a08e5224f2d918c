"""What steering turns and where: the feature (`steering.target.feature`, else evaluate's
choice), and the split (`steering.target.split`).

`steering.target.split=auto` steers where the model fails and the site holds a handle, chosen on
validation data alone. The rule, written before any run:

- The candidates are TinySQL's graded shift splits large enough to hold a selection half and a
  test half.
- Room: each candidate's validation twin (`validation_shift.<element>`, on the validation
  schemas): the model card's figure when the model has one, else measured here on at most
  `causal.n_select` of its examples.
- Handle: evaluate's cause of the full-residual interchange on validation pairs of the attribute
  the shifted element names (order: ORDER BY direction, aggregate: the aggregate function,
  operator: the WHERE operator); elements without pairs, or a run without evaluate's figures,
  count as unknown.
- A candidate whose handle is known and at least `steering.target.min_handle` comes first, then
  those whose handle is unknown; one whose known handle is below it is never chosen. Within the
  first tier that has any, the most room (the lowest validation accuracy) wins.

`steering.target.split=handles` steers every split of the first tier (a known handle), the most
room first, and reports each. Data sets without shift splits steer on `data.eval_split`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from causalgear.config import SHIFT_ELEMENTS
from causalgear.errors import CausalgearError
from causalgear.io import read_json

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


def card_figures(card: dict) -> dict[str, float]:
    """The validation-side shift accuracy by element that a model card records (empty: none)."""
    return {e: float(card[f"validation_shift.{e}_accuracy_mean"]) for e in SHIFT_ELEMENTS
            if f"validation_shift.{e}_accuracy_mean" in card}


# a shift element -> the attribute whose counterfactual pairs say whether the site can move it
HANDLE_OF = {"order": "order_direction", "aggregate": "aggregate", "operator": "where_operator"}


def handles(causal: dict | None) -> dict[str, float | None]:
    """Per shift element, the cause of the full-residual interchange on validation pairs of its
    attribute, from evaluate's result (None: unknown)."""
    measured = (causal or {}).get("cause_isolate") or {}
    out: dict[str, float | None] = {}
    for e in SHIFT_ELEMENTS:
        r = (measured.get(HANDLE_OF.get(e, "")) or {}).get("selection_full_residual") or {}
        out[e] = r.get("cause", {}).get("rate")
    return out


def _evidence(bench: Workbench, causal: dict | None) -> tuple[list[str], dict, dict]:
    """(the shift elements whose test split fits, each one's tier, the figures the rule reads): tier
    0 a known handle >= min_handle, 1 unknown, None a known handle below it."""
    from causalgear.data.loading import load_split

    cfg = bench.cfg
    figures, source = card_figures(bench.card), "model card"
    if set(figures) != set(SHIFT_ELEMENTS):
        figures, source = {}, f"measured on at most causal.n_select={cfg.causal.n_select} examples each"
        for e in SHIFT_ELEMENTS:
            examples = load_split(cfg, f"validation_shift.{e}")[:cfg.causal.n_select]
            figures[e] = float(bench.runner(examples).correct()[0].mean())
    # only the sizes of the test side are read: a split must hold a selection half and a test half
    fits = [e for e in SHIFT_ELEMENTS if len(load_split(cfg, f"test_shift.{e}")) > cfg.causal.n_select]
    handle, floor = handles(causal), cfg.steering.target.min_handle
    tier = {e: 0 if handle[e] is not None and handle[e] >= floor else 1 if handle[e] is None else None for e in fits}
    evidence = {"source": source, "validation_accuracy": figures, "validation_full_residual_cause": handle,
                "min_handle": floor, "candidates": fits}
    return fits, tier, evidence


def choose_splits(bench: Workbench, causal: dict | None = None) -> list[tuple[str | None, dict]]:
    """The splits to steer on, each with how it was chosen (None: data.eval_split). One, except for
    `steering.target.split=handles`: every shift split with room and a measured handle, the most
    room first. `causal`: evaluate's result, for the handles."""
    cfg = bench.cfg
    mode = cfg.steering.target.split
    if mode not in ("auto", "handles"):
        return [(mode, {"rule": "steering.target.split"})]
    if "shift_splits" not in bench.source.supports:
        return [(None, {"rule": f"{mode}: data={cfg.data.name} has no shift splits, so data.eval_split"})]
    fits, tier, evidence = _evidence(bench, causal)
    floor, figures = evidence["min_handle"], evidence["validation_accuracy"]
    if not fits:
        return [(None, {"rule": f"{mode}: no shift split holds more than causal.n_select={cfg.causal.n_select} "
                                "examples, so data.eval_split", "validation_accuracy": figures})]
    room = sorted(fits, key=lambda e: (figures[e], SHIFT_ELEMENTS.index(e)))
    if mode == "handles":
        chosen = [e for e in room if tier[e] == 0]
        if not chosen:
            return [(None, {"rule": f"handles: no shift split has a measured handle (full-residual cause >= {floor} "
                                    "on validation pairs), so data.eval_split", **evidence})]
        rule = (f"handles: every shift split with a measured handle (full-residual cause >= {floor} on validation "
                "pairs), the most room (lowest validation accuracy) first")
        return [(f"test_shift.{e}", {"rule": rule, **evidence}) for e in chosen]
    allowed = [e for e in room if tier[e] is not None]
    if not allowed:
        return [(None, {"rule": f"auto: no shift split has a handle (full-residual cause >= {floor} on validation "
                                "pairs), so data.eval_split", **evidence})]
    element = min(allowed, key=lambda e: tier[e])  # stable: the most room within the first tier
    rule = (f"auto: of the shift splits with a handle (full-residual cause >= {floor} on validation pairs), the "
            "one whose validation twin the model gets least right (most room)") if tier[element] == 0 else (
            "auto: no shift split has a measured handle; of those whose handle is unknown, the one whose "
            "validation twin the model gets least right (most room)")
    return [(f"test_shift.{element}", {"rule": rule, **evidence})]


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
