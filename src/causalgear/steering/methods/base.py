"""What every steering method is: a grid of (latent, scale) points and an intervention at each.

A method is built from a context (`MethodContext`: what its target gives it to read: the SAE's
latents worth trying, the direction a difference of means points along, where to edit) and may
refuse with `MethodSkipped`, whose message the target records. Two targets run the same methods:
the split's execution accuracy (`SteerContext`, `steering.run`) and forcing a value at the words
that say it (`steering.concepts`). Each chooses a method's point on its selection prompts and
reports it on its test prompts (`steering.search`), the same way for every method.

The framework, not the caller, makes the two variants of a method: `twin` (the method rebuilt on the
SAE's frozen random-weight twin, for a method that `acts_through_sae`) and `Gated` (the method where
a misread detector fires).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from causalgear.interventions.types import Intervention
from causalgear.results import twin_label
from causalgear.steering.arms import Arm, predict_each
from causalgear.steering.methods.context import MethodContext, MethodSkipped
from causalgear.steering.search import Point

__all__ = ["Gated", "MethodContext", "MethodSkipped", "Point", "SteeringMethod", "twin"]


class SteeringMethod:
    """One method: its grid on selection, and its intervention at a point of it."""

    name: ClassVar[str]
    # its edit is made of the SAE's latents: the framework measures its twin on the random-weight SAE
    acts_through_sae: ClassVar[bool] = False
    # grains' completeness error is reported with it and its gated variant
    reports_completeness: ClassVar[bool] = False

    def __init__(self, ctx: MethodContext):
        self.ctx = ctx
        # (arm key, point) -> {row: (judgement, SQL)}: a prompt steered at a point is generated once,
        # whoever asks (successive halving's halves, the report, the gated variant's subset)
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
        """The arm's judgement per prompt (a split's: 1/0) and the SQL written, steered at `point`; only
        the prompts not yet steered at `point` are generated."""
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
        written = predict_each(arm.runner_for, [(part.examples, iv) for _, part, iv in todo])
        for (done, part, _), preds in zip(todo, written, strict=True):
            judged = part.judge(preds)
            done.update({int(part.rows[k]): (judged[k], preds[k]) for k in range(len(preds))})
        out = {}
        for point in points:
            answers = [self._answers[(arm.key, point)][row] for row in arm.rows.tolist()]
            out[point] = np.array([c for c, _ in answers], dtype=np.float64), [p for _, p in answers]
        return out


def twin(method: SteeringMethod) -> SteeringMethod | None:
    """`method` rebuilt on the SAE's random-weight twin (`causal.random_sae`): the control its figures
    stand beside; None for a method that does not act through the SAE, or with the control off.
    MethodSkipped where the twin cannot run (e.g. no latent of the twin differs for a patch)."""
    ctx = method.ctx
    if not method.acts_through_sae or ctx.on_twin or not ctx.bench.cfg.causal.random_sae:
        return None
    return type(method)(ctx.twin())


def twin_or_why(method: SteeringMethod, skipped: dict[str, str], label: str) -> SteeringMethod | None:
    """`twin(method)`; where the twin cannot run, None, and why in `skipped` as `<label> (random SAE)`."""
    try:
        return twin(method)
    except MethodSkipped as why:
        skipped[twin_label(label)] = str(why)
        return None


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
