"""Patch: the SAE's codes moved toward their mean where the target's value holds, by shares of the
way (`steering.concepts.patch`; 1: set to it), for every latent whose mean there differs by at least
`steering.concepts.patch_share` of the largest difference, so that a value's latents turn on and the
other values' turn off, as the interchange's best latents do. A concept target reads those means
(`MethodContext.moved`); a split has no value to move toward."""

from __future__ import annotations

from causalgear.interventions.specs import MoveCodes
from causalgear.steering.methods.base import Point, SteeringMethod


class Patch(SteeringMethod):
    name = "patch"
    acts_through_sae = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self.latents, self.values = ctx.moved()

    def grid(self) -> list[Point]:
        return [(None, a) for a in self.ctx.s.concepts.patch]

    def intervention(self, arm, point: Point):
        return self.ctx.make(arm, MoveCodes(tuple(self.latents), self.values, point[1], self.ctx.positions(arm)))

    def described(self) -> dict:
        return {"moved_latents": self.latents}
