"""The conditional variant: steer only where a detector says the model will misread the prompt.

The detector is a logistic-regression probe on the question's activations at the SAE's site (the
mean and the max over its tokens: the schema that follows says nothing of a misreading), fitted
on selection prompts only (the steering split's and, off the in-distribution split, the
in-distribution split's), with the unsteered answer being wrong as its label; its regularisation
is chosen by cross-validation on those same prompts. A gated method (`methods.base.Gated`) runs
its intervention on the prompts where the detector fires and keeps the unsteered answer
elsewhere, so its in-distribution cost is bounded by how often the detector fires there.
"""

from __future__ import annotations

import numpy as np

from causalgear.estimators import fit_probe
from causalgear.steering.methods.base import MethodSkipped
from causalgear.steering.methods.context import SteerContext

# the question probes' regularisation: chosen by cross-validation on the selection prompts where
# every class has 5 of them, else this C (few prompts: a strongly regularised probe)
PROBE_C, PROBE_CV_GRID = 0.1, (0.01, 0.1, 1.0)


def fit_question_probe(x: np.ndarray, y: list | np.ndarray, seed: int):
    """The probe the detector and probe-guided steering read the question with (`estimators.fit_probe`)."""
    return fit_probe(x, y, seed, c=PROBE_C, cv_grid=PROBE_CV_GRID)


class MisreadDetector:
    """P(the unsteered answer is wrong | the question's activations at the site) > 1/2."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, features: np.ndarray, wrong: np.ndarray) -> MisreadDetector:
        self.probe = fit_question_probe(features, wrong.astype(int), self.seed)
        return self

    def fires(self, features: np.ndarray) -> np.ndarray:
        return self.probe.predict(features) == 1


def fit_detector(ctx: SteerContext) -> MisreadDetector:
    """The detector fitted on the run's selection arms; MethodSkipped when a label is too rare."""
    fitting = ctx.fitting_arms()
    features = np.vstack([ctx.question_features(arm) for arm in fitting])
    wrong = np.concatenate([1 - arm.base for arm in fitting])
    if min(wrong.sum(), len(wrong) - wrong.sum()) < 5:
        raise MethodSkipped("the selection prompts hold fewer than 5 answers right or fewer than 5 wrong to fit a "
                            "detector on")
    return MisreadDetector(ctx.seed).fit(features, wrong)
