"""Controls and the verdict: an effect counts only if it beats a random coordinate and a random
direction of the same per-token norm, on prompts it was not chosen on."""

from __future__ import annotations

import numpy as np

from causalgear.interventions.statistics import Interval, paired_bootstrap
from causalgear.interventions.types import Intervention, ResidualEdit, SameNormDirection


def with_controls(runner, base: np.ndarray, patch: ResidualEdit, control: Intervention, n_boot: int, seed: int,
                  predictions: list | None = None) -> tuple[Interval, Interval, Interval]:
    """Intervals of the accuracy change on `runner`'s prompts for the patch, the control coordinate's
    patch, and a random direction of the patch's per-token norm (in that order). `predictions`, a
    list, receives the patch's SQL."""
    intervals = []
    for intervention in (patch, control, SameNormDirection(patch, seed)):
        treated, preds = runner.correct(intervention)
        if intervention is patch and predictions is not None:
            predictions.extend(preds)
        intervals.append(paired_bootstrap(base, treated, n_boot, seed))
    return tuple(intervals)


def judge(chosen: int, chosen_iv: Interval, ctrl_iv: Interval, dir_iv: Interval) -> tuple[dict, bool, str]:
    """A coordinate counts only if its test-split interval excludes zero and separates from
    both controls' intervals with a larger effect. The verdict names every check it fails."""

    def separates(iv) -> bool:
        return abs(chosen_iv.delta) > abs(iv.delta) and (iv.high < chosen_iv.low or chosen_iv.high < iv.low)

    checks = {"excludes_zero": chosen_iv.excludes_zero(), "beats_random_coordinate": separates(ctrl_iv),
              "beats_random_direction": separates(dir_iv)}
    why = {"excludes_zero": "its interval includes zero",
           "beats_random_coordinate": "it does not separate from the random coordinate",
           "beats_random_direction": "it does not separate from the random direction"}
    beats = all(checks.values())
    failed = [why[k] for k, ok in checks.items() if not ok]
    verdict = (f"coordinate {chosen} beats both controls on the test split" if beats else
               f"no coordinate beats its controls: on the test split, coordinate {chosen}: {'; '.join(failed)}")
    return checks, beats, verdict
