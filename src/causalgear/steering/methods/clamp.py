"""Clamp: the SAE code itself set to `steering.methods.clamps` × its mean active value, for the feature
and the latents tried beside it."""

from __future__ import annotations

from causalgear.interventions.specs import Clamp as ClampSpec
from causalgear.steering.methods.base import Point, SteeringMethod


class Clamp(SteeringMethod):
    name = "clamp"
    acts_through_sae = True

    def grid(self) -> list[Point]:
        return [(j, v) for j in self.ctx.latents for v in self.ctx.s.methods.clamps]

    def intervention(self, arm, point: Point):
        j, v = point
        return self.ctx.make(arm, ClampSpec(j, v, self.ctx.positions(arm)))
