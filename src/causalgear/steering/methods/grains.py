"""GrAInS: the input embeddings of the prompt tokens most attributed to the feature, pushed along
the gradient that raises it (`steering.grains`), at `steering.scales`."""

from __future__ import annotations

from causalgear.interventions import specs
from causalgear.steering.methods.base import Point, SteeringMethod


class Grains(SteeringMethod):
    name = "grains"
    reports_completeness = True

    def grid(self) -> list[Point]:
        s = self.ctx.s
        return [(self.ctx.feature, v) for v in list(s.scales) or [s.scale]]

    def intervention(self, arm, point: Point):
        return arm.interventions.make(specs.Grains(*point))  # at its own attributed tokens
