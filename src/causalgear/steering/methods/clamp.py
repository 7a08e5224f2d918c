"""Clamp: the SAE code itself set to `steering.clamps` × its mean active value, for the feature
and the latents tried beside it."""

from __future__ import annotations

from causalgear.steering.methods.base import Point, SteeringMethod


class Clamp(SteeringMethod):
    name = "clamp"

    def grid(self) -> list[Point]:
        return [(j, v) for j in self.ctx.latents for v in self.ctx.s.clamps]

    def intervention(self, arm, point: Point):
        j, v = point
        return self.ctx.placed(arm.interventions.make("inject", j, v), arm)
