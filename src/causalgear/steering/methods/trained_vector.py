"""The trained steering vector (`causalgear.steering.trained_vector`): h + m · v at the residual
methods' positions, v trained on the selection prompts' gold SQL, m a multiple of it chosen on
selection like every other method's scale."""

from __future__ import annotations

import torch

from causalgear.interventions.specs import AddVector
from causalgear.seeds import seed_for
from causalgear.steering.methods.base import MethodSkipped, Point, SteeringMethod
from causalgear.steering.trained_vector import train_vector

MULTIPLES = (0.5, 1.0, 2.0)  # of the trained vector; the search extends past an edge that wins


def training_positions(positions: str) -> str:
    """Where a trained vector is added while it trains, for `steering.methods.positions`: "decision"
    tokens are chosen per prompt by attribution, so training pushes the whole prompt there."""
    return "all" if positions == "all" else "prompt"


class TrainedVector(SteeringMethod):
    name = "trained_vector"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.examples = [e for arm in ctx.fitting_arms() for e in arm.examples]
        if not self.examples:
            raise MethodSkipped("no selection prompt to train on")
        self.positions = training_positions(ctx.s.methods.positions)
        self.vector = self.train()

    def train(self) -> torch.Tensor:
        """The vector added at multiples of itself, trained on `self.examples` at `self.positions`."""
        m, bench = self.ctx.s.methods, self.ctx.bench
        return train_vector(bench.model, bench.tokenizer, bench.site, self.examples, self.positions, m.trained_steps,
                            m.trained_lr, seed_for(self.ctx.seed, "trained steering vector"))

    def grid(self) -> list[Point]:
        return [(None, v) for v in MULTIPLES]

    def intervention(self, arm, point: Point):
        return arm.interventions.make(AddVector(self.vector, point[1], self.ctx.positions(arm)))
