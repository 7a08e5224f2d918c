"""Probe-guided steering: a probe on the question reads the value the shifted element names, and
the residual is pushed along that value's DiffMean at its writing position
(`causalgear.steering.concept_probe`), at α × that direction."""

from __future__ import annotations

import numpy as np

from causalgear.interventions.specs import PerExample
from causalgear.steering.concept_probe import COMPONENT_OF, ConceptProbe
from causalgear.steering.methods.base import MethodSkipped, Point, SteeringMethod


class ConceptProbeSteering(SteeringMethod):
    name = "concept_probe"

    def __init__(self, ctx):
        super().__init__(ctx)
        split = ctx.split
        element = split.removeprefix("test_shift.") if split.startswith("test_shift.") else None
        if element not in COMPONENT_OF:
            raise MethodSkipped(f"split {split!r} shifts no element with one categorical SQL component "
                                f"(the shift splits of {', '.join(COMPONENT_OF)})")
        fitting = ctx.fitting_arms()
        try:
            probe = ConceptProbe(ctx.bench, [e for arm in fitting for e in arm.examples],
                                 np.vstack([ctx.question_features(arm) for arm in fitting]), COMPONENT_OF[element],
                                 ctx.seed)
        except ValueError as err:
            raise MethodSkipped(str(err)) from None
        # each measured prompt's vector: that of the value the probe reads in its question
        self.vectors = {arm.key: probe.vectors(ctx.question_features(arm)) for arm in ctx.measured_arms()}

    def grid(self) -> list[Point]:
        return [(None, v) for v in self.ctx.alphas]

    def intervention(self, arm, point: Point):
        return arm.interventions.make(PerExample(self.vectors[arm.key][arm.rows], point[1], self.ctx.positions(arm)))
