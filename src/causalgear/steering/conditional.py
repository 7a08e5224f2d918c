"""Steering arms, and the conditional variant: steer only where a detector says the model will
misread the prompt.

An `Arm` is one prompt list with its unsteered answers and the interventions built for it. The
detector is a logistic-regression probe on the question's activations at the SAE's site (the
mean and the max over its tokens: the schema that follows says nothing of a misreading),
fitted on selection prompts only (the steering split's and, off the in-distribution split, the
in-distribution split's), with the unsteered answer being wrong as its label; its regularisation
is chosen by cross-validation on those same prompts. A gated method runs its intervention on the
prompts where the detector fires and keeps the unsteered answer elsewhere, so its in-distribution
cost is bounded by how often the detector fires there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from causalgear.interventions.factory import Interventions
from causalgear.models.accuracy import Runner


@dataclass
class Arm:
    """A prompt list, its unsteered answers (`base` 1/0, `preds`), and what runs it."""

    examples: list
    runner: Runner
    interventions: Interventions
    base: np.ndarray
    preds: list[str]
    attributed: list | None = None  # each prompt's attribution (grains), when made
    fires: np.ndarray | None = None  # the detector's verdict per prompt, once it is fitted
    vectors: torch.Tensor | None = None  # probe-guided steering's direction per prompt, once read
    features: np.ndarray | None = None  # the question's activations, once computed

    def activations(self, bench) -> np.ndarray:
        """`question_features` of the arm's prompts, computed once for the detector and the probe."""
        if self.features is None:
            self.features = question_features(bench, self.examples)
        return self.features


Run = Callable[[Arm, tuple], tuple[np.ndarray, list[str]]]  # (latent, scale) -> (1/0 each, SQL)


def question_features(bench, examples) -> np.ndarray:
    """[n, 2d]: the mean and the max of the site's activation over each prompt's question tokens."""
    out = []
    with torch.no_grad():
        for e in examples:
            enc = bench.tokenizer(e.prompt, return_offsets_mapping=True)
            end = e.prompt.index(" ### Context")
            n = max(1, sum(1 for start, _ in enc.offset_mapping if start < end))
            h = bench.site.run(torch.tensor([enc.input_ids], device=bench.model.device))[0, :n].float()
            out.append(torch.cat([h.mean(0), h.max(0).values]).cpu().numpy())
    return np.array(out)


def fit_probe(x: np.ndarray, y: list | np.ndarray, seed: int):
    """Standardised logistic regression fitted to (x, y), its regularisation chosen by 5-fold
    cross-validation when every class has 5 examples (else C = 0.1)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=0.1, random_state=seed))
    if min(np.unique(np.asarray(y), return_counts=True)[1]) < 5:
        return probe.fit(x, y)
    search = GridSearchCV(probe, {"logisticregression__C": [0.01, 0.1, 1.0]}, cv=5, scoring="neg_log_loss")
    return search.fit(x, y)


class MisreadDetector:
    """P(the unsteered answer is wrong | the question's activations at the site) > 1/2."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, features: np.ndarray, wrong: np.ndarray) -> MisreadDetector:
        self.probe = fit_probe(features, wrong.astype(int), self.seed)
        return self

    def fires(self, features: np.ndarray) -> np.ndarray:
        return self.probe.predict(features) == 1


def fit_detector(bench, selection: list[Arm], seed: int) -> MisreadDetector | str:
    """The detector fitted on the selection arms, or why it cannot be (a label never occurs)."""
    features = np.vstack([arm.activations(bench) for arm in selection])
    wrong = np.concatenate([1 - arm.base for arm in selection])
    if min(wrong.sum(), len(wrong) - wrong.sum()) < 5:
        return "the selection prompts hold fewer than 5 answers right or fewer than 5 wrong to fit a detector on"
    return MisreadDetector(seed).fit(features, wrong)


def gated(run: Run, subset: Callable[[Arm, np.ndarray], Arm]) -> Run:
    """`run` on the prompts where the arm's detector fires; the unsteered answers elsewhere (not
    generated again: they are the same by construction)."""

    def go(arm: Arm, v: tuple) -> tuple[np.ndarray, list[str]]:
        correct, preds = arm.base.copy(), list(arm.preds)
        idx = np.flatnonzero(arm.fires)
        if len(idx):
            sub_correct, sub_preds = run(subset(arm, idx), v)
            correct[idx] = sub_correct
            for k, i in enumerate(idx):
                preds[i] = sub_preds[k]
        return correct, preds

    return go
