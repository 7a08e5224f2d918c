"""GrAInS: the input embeddings of the prompt tokens most attributed to the feature, pushed along
the gradient that raises it (`steering.grains`), at `steering.grains.scales`."""

from __future__ import annotations

from causalgear.interventions import specs
from causalgear.steering.methods.base import Point, SteeringMethod


class Grains(SteeringMethod):
    name = "grains"
    reports_completeness = True

    def grid(self) -> list[Point]:
        return [(self.ctx.feature, v) for v in self.ctx.s.grains.scales]

    def intervention(self, arm, point: Point):
        return arm.interventions.make(specs.Grains(*point))  # at its own attributed tokens
