"""A steering vector trained by gradient descent: the strongest baseline a steering method must
beat (ReFT-r1 and RePS in spirit). One vector v (rank 1: its direction and its norm) is added at the
site, h -> h + v, at the positions the residual methods edit, and trained to raise the
log-likelihood of the selection prompts' gold SQL under teacher forcing (the objective: mean
cross-entropy of the gold SQL tokens, Adam from v = 0, the model frozen). With a `basis`, v is a
combination of its rows (`trained_latents`: a few SAE latents' decoder directions). Only selection
prompts and their gold SQL are read; the test side never is.

The method (`TrainedVector`) adds h + m · v at its target's positions, v trained on the target's
selection prompts' gold SQL (a concept's with its value forced in), m a multiple of it chosen on
selection like every other method's scale.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from causalgear.data.examples import Example
from causalgear.interventions.specs import AddVector
from causalgear.models.site import Site
from causalgear.models.teacher_forcing import prompt_sql_batch, sql_cross_entropy
from causalgear.seeds import seed_for
from causalgear.steering.methods.base import MethodSkipped, Point, SteeringMethod

# Adam's step as a share of the site's median activation norm: the same for every trained method
LR = 0.01


def _prompt_mask(tokenizer, examples: Sequence[Example], ids: torch.Tensor) -> torch.Tensor:
    """[batch, seq]: each row's prompt positions (the batch is right-padded, prompt first)."""
    lengths = [len(p) for p in tokenizer([e.prompt for e in examples], add_special_tokens=False).input_ids]
    return torch.arange(ids.shape[1], device=ids.device)[None, :] < torch.tensor(lengths, device=ids.device)[:, None]


def gold_sql_loss(model, tokenizer, site: Site, examples: Sequence[Example], positions: str,
                  v: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of `examples`' gold SQL tokens with h + v at `positions` ("all": every
    position of prompt and SQL, as in generation; "prompt": the prompt's alone); differentiable in v."""
    device = next(model.parameters()).device
    ids, mask, labels = prompt_sql_batch(tokenizer, examples, device)
    where = "all" if positions == "all" else _prompt_mask(tokenizer, examples, ids) & mask.bool()
    with site.edit(lambda x: x + v.to(x.dtype), where):
        return sql_cross_entropy(model, ids, mask, labels)


def loss_gradient(model, tokenizer, site: Site, examples: Sequence[Example], positions: str, d_in: int,
                  batch_size: int = 16) -> torch.Tensor:
    """dL/dv at v = 0 ([d_in], the site's width): the gold SQL loss's gradient in the added vector, over
    every example (each batch weighted by its size)."""
    examples = list(examples)
    v = torch.zeros(d_in, device=next(model.parameters()).device, requires_grad=True)
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        (gold_sql_loss(model, tokenizer, site, batch, positions, v) * len(batch) / len(examples)).backward()
    return v.grad.detach()


def train_vector(model, tokenizer, site: Site, examples: Sequence[Example], positions: str, steps: int,
                 lr: float, seed: int, batch_size: int = 16, basis: torch.Tensor | None = None) -> torch.Tensor:
    """v after `steps` Adam steps on `gold_sql_loss` of `examples` at `positions`. `lr`: the step, as a
    share of the site's median activation norm on these prompts. With `basis` ([m, d], unit rows), v =
    c @ basis and the m coefficients c are trained (and returned) instead of v's every entry."""
    device = next(model.parameters()).device
    examples = list(examples)
    rng = random.Random(seed)
    with torch.no_grad():
        ids, mask, _ = prompt_sql_batch(tokenizer, examples[:batch_size], device)
        h = site.run(ids, mask)
        scale = float(h[mask.bool()].float().norm(dim=-1).median())
    basis = basis.to(device) if basis is not None else None
    c = torch.zeros(h.shape[-1] if basis is None else basis.shape[0], device=device, requires_grad=True)
    opt = torch.optim.Adam([c], lr=lr * scale)
    for _ in range(steps):
        v = c if basis is None else c @ basis
        loss = gold_sql_loss(model, tokenizer, site, rng.sample(examples, min(batch_size, len(examples))), positions, v)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return c.detach()


MULTIPLES = (0.5, 1.0, 2.0)  # of the trained vector; the search extends past an edge that wins


class TrainedVector(SteeringMethod):
    name = "trained_vector"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.examples, self.positions = ctx.training()
        if not self.examples:
            raise MethodSkipped("no selection prompt to train on")
        self.vector = self.train()

    def train(self) -> torch.Tensor:
        """The vector added at multiples of itself, trained on `self.examples` at `self.positions`."""
        m, bench = self.ctx.s.methods, self.ctx.bench
        return train_vector(bench.model, bench.tokenizer, bench.site, self.examples, self.positions, m.trained.steps,
                            LR, seed_for(self.ctx.seed, self.ctx.seed_label("trained steering vector")))

    def grid(self) -> list[Point]:
        return [(None, v) for v in MULTIPLES]

    def intervention(self, arm, point: Point):
        return self.ctx.make(arm, AddVector(self.vector, point[1], self.ctx.positions(arm)))

    def described(self) -> dict:
        return {"trained_on": len(self.examples)}
