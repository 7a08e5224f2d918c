"""The residual directions a method of the SAE must beat, added at the site at multiples
(`steering.methods.alphas`): DiffMean (the target's difference of means: on a split, the selection
prompts answered right minus those answered wrong, at the feature's additive direction's norm,
AxBench's baseline with correctness as the concept; on a concept, the examples with the value minus
those without) and a seeded random direction at the target's reference norm.

Both are residual directions added at the SAE's site; the split's difference of means is
`context.SteerContext.diffmean` (`diffmean_direction`), the random one `random_direction`.
"""

from __future__ import annotations

import torch

from causalgear.interventions.specs import AddVector
from causalgear.steering.methods.base import Point, SteeringMethod


def random_direction(d_in: int, norm: float, seed: int) -> torch.Tensor:
    """A seeded Gaussian direction of the given norm: the control every direction must beat."""
    d = torch.randn(d_in, generator=torch.Generator().manual_seed(seed))
    return d * (norm / d.norm())


class Direction(SteeringMethod):
    """h + α · `along` (no latent)."""

    along: torch.Tensor

    def grid(self) -> list[Point]:
        return [(None, v) for v in self.ctx.alphas]

    def intervention(self, arm, point: Point):
        return self.ctx.make(arm, AddVector(self.along, point[1], self.ctx.positions(arm)))


class DiffMean(Direction):
    name = "diffmean"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.along = ctx.diffmean()


class RandomDirection(Direction):
    name = "random_direction"

    def __init__(self, ctx):
        super().__init__(ctx)
        bench = ctx.bench
        device = next(bench.model.parameters()).device
        self.along = random_direction(bench.sae.d_in, ctx.reference_norm(), ctx.seed).to(device)
