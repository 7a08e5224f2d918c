"""What every steering method is: a grid of (latent, scale) points and an intervention at each.

A method is built from the run's `SteerContext` (it may refuse with `MethodSkipped`, whose
message is recorded in steering.json's `skipped_methods`); the run then chooses its point on
the selection arm and reports it on the test arm (`steering.search`), the same way for every
method. `Gated` makes the gated twin of any method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from causalgear.interventions.specs import Positions, at_tokens
from causalgear.interventions.types import Intervention
from causalgear.steering.arms import (
    IN_DISTRIBUTION,
    IN_SELECTION,
    SELECTION,
    TEST,
    Arm,
    predict_each,
    question_features,
)

Point = tuple[int | None, float]  # (the latent, None for a direction that is no latent's; the scale)


class MethodSkipped(Exception):  # noqa: N818 - a reason, not a failure: the run goes on without the method
    """A method that cannot run on this split; the message says why."""


@dataclass
class SteerContext:
    """What the methods of one steering run share: the workbench, the feature and the latents tried
    beside it, the additive direction of the feature, and the arms by key."""

    bench: object
    feature: int
    latents: list[int]
    split: str
    arms: dict[str, Arm]
    _features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _shared: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def s(self):
        return self.bench.cfg.steering

    @property
    def seed(self) -> int:
        return self.bench.cfg.seed

    @property
    def sign(self) -> float:
        return 1.0 if self.s.target.direction == "raise" else -1.0

    @property
    def direction(self) -> torch.Tensor:
        """The feature's additive direction (the decoder's contribution of its mean active value)."""
        return self.arms[SELECTION].interventions.direction(self.feature)

    @property
    def alphas(self) -> list[float]:
        return list(self.s.methods.alphas)

    def fitting_arms(self) -> list[Arm]:
        """The arms a method may fit on: the selection halves."""
        return [self.arms[k] for k in (SELECTION, IN_SELECTION) if k in self.arms]

    def measured_arms(self) -> list[Arm]:
        """The arms a method is run on: selection, test and the in-distribution test half."""
        return [self.arms[k] for k in (SELECTION, TEST, IN_DISTRIBUTION) if k in self.arms]

    def shared(self, key: str, make):
        """What several methods need alike (the gold SQL loss gradient), made by the first to ask."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def question_features(self, arm: Arm) -> np.ndarray:
        """`arms.question_features` of an arm's prompts, computed once per whole arm."""
        if arm.key not in self._features:
            self._features[arm.key] = question_features(self.bench, list(self.arms[arm.key].examples))
        return self._features[arm.key][arm.rows]

    def positions(self, arm: Arm) -> Positions:
        """Where a residual method edits, as `steering.methods.positions` says: all, the prompt's, or each
        prompt's attributed tokens."""
        if self.s.methods.positions == "decision":
            return at_tokens([a.tokens for a in arm.attributed])
        return self.s.methods.positions


class SteeringMethod:
    """One method: its grid on selection, and its intervention at a point of it."""

    name: ClassVar[str]
    # None: no attributions are read; grains' completeness error is reported with it and its twin
    reports_completeness: ClassVar[bool] = False

    def __init__(self, ctx: SteerContext):
        self.ctx = ctx
        # (arm key, point) -> {row: (1/0, SQL)}: a prompt steered at a point is generated once, whoever
        # asks (successive halving's halves, the report, the gated twin's subset)
        self._answers: dict[tuple[str, Point], dict[int, tuple[float, str]]] = {}

    def grid(self) -> list[Point]:
        raise NotImplementedError

    def intervention(self, arm: Arm, point: Point) -> Intervention:
        raise NotImplementedError

    def described(self) -> dict:
        """What steering.json records of the method beside its point (e.g. `moved_latents`: the SAE
        latents it acts through, which make it an SAE-based method in the report)."""
        return {}

    def run(self, arm: Arm, point: Point) -> tuple[np.ndarray, list[str]]:
        """1/0 per prompt and the SQL written, steered at `point`; only the prompts not yet steered
        at `point` are generated."""
        return self.run_many(arm, [point])[point]

    def run_many(self, arm: Arm, points: list[Point]) -> dict[Point, tuple[np.ndarray, list[str]]]:
        """`run` at each of `points`, the prompts not yet steered at them generated together
        (`interventions.types.Stacked`) where their interventions stack, else point by point."""
        todo = []
        for point in points:
            done = self._answers.setdefault((arm.key, point), {})
            missing = [i for i, row in enumerate(arm.rows.tolist()) if row not in done]
            if missing:
                part = arm if len(missing) == len(arm.rows) else arm.subset(np.array(missing))
                todo.append((done, part, self.intervention(part, point)))
        written = predict_each(arm.maker.runner, [(part.examples, iv) for _, part, iv in todo])
        for (done, part, _), preds in zip(todo, written, strict=True):
            correct = part.runner.score(preds)
            done.update({int(part.rows[k]): (float(correct[k]), preds[k]) for k in range(len(preds))})
        out = {}
        for point in points:
            answers = [self._answers[(arm.key, point)][row] for row in arm.rows.tolist()]
            out[point] = np.array([c for c, _ in answers], dtype=np.float64), [p for _, p in answers]
        return out


class Gated(SteeringMethod):
    """`inner` on the prompts where the misread detector fires; the unsteered answers elsewhere
    (not generated again: they are the same by construction). Where `inner` has already steered a
    fired prompt at the point, its answer is read, not generated again."""

    def __init__(self, inner: SteeringMethod, fires: dict[str, np.ndarray]):
        super().__init__(inner.ctx)
        self.inner, self.fires = inner, fires
        self.name = f"gated_{inner.name}"
        self.reports_completeness = inner.reports_completeness

    def grid(self) -> list[Point]:
        return self.inner.grid()

    def described(self) -> dict:
        return self.inner.described()

    def run_many(self, arm: Arm, points: list[Point]) -> dict[Point, tuple[np.ndarray, list[str]]]:
        idx = np.flatnonzero(self.fires[arm.key][arm.rows])
        steered = self.inner.run_many(arm.subset(idx), points) if len(idx) else {}
        out = {}
        for point in points:
            correct, preds = arm.base.copy(), list(arm.preds)
            if len(idx):
                sub_correct, sub_preds = steered[point]
                correct[idx] = sub_correct
                for k, i in enumerate(idx):
                    preds[i] = sub_preds[k]
            out[point] = correct, preds
        return out
