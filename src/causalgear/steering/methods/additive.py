"""Additive steering: h + α · the latent's decoder contribution at its mean active value, for the
feature and the latents GrAInS' contrastive ranking puts first."""

from __future__ import annotations

from causalgear.interventions.specs import AddLatent
from causalgear.steering.methods.base import Point, SteeringMethod


class Additive(SteeringMethod):
    name = "additive"
    acts_through_sae = True

    def grid(self) -> list[Point]:
        return [(j, v) for j in self.ctx.latents for v in self.ctx.alphas]

    def intervention(self, arm, point: Point):
        j, v = point
        return self.ctx.make(arm, AddLatent(j, self.ctx.sign * v, self.ctx.positions(arm)))
