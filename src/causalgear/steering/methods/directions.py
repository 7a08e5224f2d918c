"""The residual directions a feature must beat, added at the site at the feature's additive
direction's norm and alphas: DiffMean (the selection prompts answered right minus those answered
wrong, AxBench's baseline with correctness as the concept) and a seeded random direction."""

from __future__ import annotations

import torch

from causalgear.interventions.specs import AddVector
from causalgear.steering.arms import SELECTION
from causalgear.steering.baselines import diffmean_direction, mean_prompt_activation, random_direction
from causalgear.steering.methods.base import MethodSkipped, Point, SteeringMethod


class Direction(SteeringMethod):
    """h + α · `along` (no latent)."""

    along: torch.Tensor

    def grid(self) -> list[Point]:
        return [(None, v) for v in self.ctx.alphas]

    def intervention(self, arm, point: Point):
        return arm.interventions.make(AddVector(self.along, point[1], self.ctx.positions(arm)))


class DiffMean(Direction):
    name = "diffmean"

    def __init__(self, ctx):
        super().__init__(ctx)
        sel = ctx.arms[SELECTION]
        acts = mean_prompt_activation(ctx.bench.tokenizer, [e.prompt for e in sel.examples], ctx.bench.site)
        along = diffmean_direction(acts, sel.base, float(ctx.direction.norm()))
        if along is None:
            raise MethodSkipped("the selection split has no right (or no wrong) answer to take a difference of")
        self.along = along.to(ctx.direction.device)  # towards the right answers


class RandomDirection(Direction):
    name = "random_direction"

    def __init__(self, ctx):
        super().__init__(ctx)
        d = ctx.direction
        self.along = random_direction(len(d), float(d.norm()), ctx.seed).to(d.device)
