"""SAE latents chosen by their effect on the output, their amounts trained: the SAE's answer to the
trained steering vector. On the selection prompts, each latent's decoder direction d_j (unit norm)
is scored by how fast adding it lowers the gold SQL loss (-d_j . dL/dv at v = 0, the first-order
output effect, arXiv 2505.20063 in spirit); the `steering.methods.trained.latents` latents with the
largest |effect| are kept, each signed to lower the loss, and their amounts are trained on the same
objective, steps and positions as `trained_vector` (v = sum_j c_j d_j). Steered at multiples of v
like the trained vector; steering.json lists the latents (`moved_latents`) and their trained
amounts (signed: a negative amount turns the latent's direction down).

Its twin (`methods.base.twin`) is its control: the same choice and training on the decoder of the
SAE's frozen random-weight twin (`causal.random_sae`). Any few directions picked by their gradient
lower a loss; the SAE's latents count only where they do better than the twin's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from causalgear.data.examples import Example
from causalgear.seeds import seed_for
from causalgear.steering.methods.trained_vector import LR, TrainedVector, loss_gradient, train_vector

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


@torch.no_grad()
def latent_directions(sae, chunk: int = 256) -> torch.Tensor:
    """[d_sae, d_in]: what the decoder writes for z_j = 1 alone, less what it writes for z = 0, per
    latent (W_dec for a one-layer SAE; any decoder's). One-hot codes are decoded `chunk` at a time, so
    a dictionary of tens of thousands never holds its whole identity matrix."""
    device = next(sae.parameters()).device
    zero = sae.decode(torch.zeros(1, sae.d_sae, device=device))
    parts = []
    for start in range(0, sae.d_sae, chunk):
        codes = torch.zeros(min(chunk, sae.d_sae - start), sae.d_sae, device=device)
        codes[torch.arange(len(codes)), torch.arange(start, start + len(codes))] = 1.0
        parts.append(sae.decode(codes) - zero)
    return torch.cat(parts)


def trained_latents(bench: Workbench, sae, examples: Sequence[Example], positions: str, n: int, steps: int, lr: float,
                    seed: int, grad: torch.Tensor) -> tuple[list[int], list[float], torch.Tensor]:
    """(the `n` latents of `sae` with the largest |output effect| on `examples`' gold SQL loss, whose
    gradient in an added vector is `grad` (`loss_gradient`), their trained amounts, signed, and v = the
    sum of each latent's unit direction times its amount)."""
    dirs = latent_directions(sae).float()
    norms = dirs.norm(dim=-1)
    unit = dirs / norms.clamp_min(1e-12)[:, None]
    effect = -(unit @ grad.float()) * (norms > 0)  # a latent that writes nothing has no effect
    top = effect.abs().argsort(descending=True)[:n]
    sign = torch.sign(effect[top])
    basis = unit[top] * sign[:, None]
    amounts = train_vector(bench.model, bench.tokenizer, bench.site, examples, positions, steps, lr, seed, basis=basis)
    return [int(j) for j in top], [float(c * s) for c, s in zip(amounts, sign, strict=True)], amounts @ basis


class TrainedLatents(TrainedVector):
    name = "trained_latents"
    acts_through_sae = True

    def train(self) -> torch.Tensor:
        m, bench = self.ctx.s.methods, self.ctx.bench
        grad = self.ctx.shared("gold SQL loss gradient", lambda: loss_gradient(
            bench.model, bench.tokenizer, bench.site, self.examples, self.positions, bench.sae.d_in))
        # the twin draws under a label of its own, so that its training is not the SAE's draw again
        label = "random_sae_trained_latents" if self.ctx.on_twin else "trained_latents"
        self.latents, self.amounts, vector = trained_latents(
            bench, self.ctx.sae, self.examples, self.positions, m.trained.latents, m.trained.steps, LR,
            seed_for(self.ctx.seed, self.ctx.seed_label(label)), grad)
        return vector

    def described(self) -> dict:
        return {"moved_latents": self.latents, "trained_amounts": self.amounts, "trained_on": len(self.examples)}
