"""GrAInS-style steering: push the input embeddings of the most attributed prompt tokens in
the direction that raises (or lowers) the feature.

For each chosen token t: e_t <- e_t + sign * scale * ||e_t|| * g_t / ||g_t||, g = dF/de, in
`steps` equal steps (the gradient is re-taken after each). Only a copy of the embeddings moves:
the embedding matrix is never touched (Qwen ties it to the output head).

The method (`Grains`) steers at `steering.grains.scales`, at each prompt's own attributed tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from causalgear.errors import CausalgearError
from causalgear.interventions import specs
from causalgear.models.site import Site
from causalgear.steering.feature import FeatureReadout, readout_mask
from causalgear.steering.integrated_gradients import integrated_gradients_many
from causalgear.steering.methods.base import Point, SteeringMethod

# gradient steps of GrAInS' perturbation: one keeps it linear in the scale, so each prompt's is
# computed once for every scale of the grid; `perturbation` takes more (recomputed per scale)
GRAD_STEPS = 1

def chosen_tokens(attributions: torch.Tensor, prompt_len: int, perturbed_tokens: int | None) -> torch.Tensor:
    """Indices of the prompt tokens to perturb: the `perturbed_tokens` largest |attribution| (all: None)."""
    scores = attributions[:prompt_len].abs()
    if perturbed_tokens is None or perturbed_tokens >= prompt_len:
        return torch.arange(prompt_len)
    return scores.topk(perturbed_tokens).indices.sort().values


def perturbation(f: Callable[[torch.Tensor], torch.Tensor], embeds: torch.Tensor, tokens: torch.Tensor,
                 scale: float, steps: int = 1, sign: float = 1.0) -> torch.Tensor:
    """The change to `embeds` [T, d] (zero outside `tokens`): `steps` normalised-gradient steps of
    total size scale * ||e_t|| per token."""
    base = embeds.detach()
    cur = base.clone()
    if scale == 0 or len(tokens) == 0:
        return torch.zeros_like(base)
    for _ in range(steps):
        point = cur.unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(f(point).sum(), point)
        cur += step(base, grad[0], tokens, sign * scale / steps)
    return cur - base


def step(embeds: torch.Tensor, grad: torch.Tensor, tokens: torch.Tensor, size: float) -> torch.Tensor:
    """size * ||e_t|| * g_t / ||g_t|| at `tokens`, zero elsewhere ([T, d])."""
    out = torch.zeros_like(embeds)
    g = grad[tokens].to(embeds.dtype)
    out[tokens] = size * embeds[tokens].norm(dim=-1, keepdim=True) * g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return out


def baseline_embedding(kind: str, embedding: torch.nn.Embedding, pad_id: int | None) -> torch.Tensor:
    """The IG baseline x' for one token: zero, the pad token's embedding, or the mean embedding."""
    w = embedding.weight.detach()
    if kind == "zero":
        return torch.zeros(w.shape[1], dtype=w.dtype, device=w.device)
    if kind == "pad":
        if pad_id is None:
            raise CausalgearError("steering.grains.baseline=pad: the tokenizer has no pad token; use zero or mean")
        return w[pad_id].clone()
    return w.mean(0)


@dataclass
class Attributed:
    """One example's attribution and its unit GrAInS perturbation (scale 1)."""

    prompt_ids: list[int]
    response_ids: list[int]
    attributions: torch.Tensor
    f_input: float
    f_baseline: float
    completeness_error: float | None
    tokens: torch.Tensor  # the perturbed prompt positions
    unit_delta: torch.Tensor | None  # [prompt_len, d]; None when grad_steps > 1 (recomputed per scale)


class Steerer:
    """Attributes each example once, then gives its GrAInS perturbation at any scale.
    `s`: the `steering` config group (its `grains` and the target's direction)."""

    def __init__(self, s: DictConfig, tokenizer, sae, site: Site, coordinate: int):
        self.s, self.tokenizer, self.latent = s.grains, tokenizer, coordinate
        self.embedding = site.model.get_input_embeddings()
        self.readout = FeatureReadout(site, sae, coordinate)
        self.baseline = baseline_embedding(self.s.baseline, self.embedding, tokenizer.pad_token_id)
        self.sign = 1.0 if s.target.direction == "raise" else -1.0

    def _embeds(self, ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return self.embedding(torch.tensor(ids, device=self.embedding.weight.device))

    def _input_and_f(self, prompt_ids: list[int], response_ids: list[int]):
        """The sequence's embeddings x [T, d] and F as a function of them."""
        x = self._embeds(prompt_ids + response_ids)
        return x, self.readout.function(readout_mask(len(prompt_ids), len(x), self.s.readout))

    def _ids(self, prompt: str, response: str) -> tuple[list[int], list[int]]:
        prompt_ids = self.tokenizer(prompt).input_ids
        response_ids = self.tokenizer(response, add_special_tokens=False).input_ids \
            if self.s.readout == "response" and response else []
        return prompt_ids, response_ids

    def attribute(self, prompt: str, response: str) -> Attributed:
        return self.attribute_many([prompt], [response], progress=False)[0]  # one prompt: no bar (the service)

    def attribute_many(self, prompts: list[str], responses: list[str], progress: bool = True,
                       desc: str = "attribute") -> list[Attributed]:
        """Each prompt attributed against its response, the IG points of several prompts sharing a
        pass (`grains.internal_batch_size` rows each), with its unit perturbation where it is linear
        in the scale (one gradient step: dF/dx at x, which the IG passes give)."""
        ids = [self._ids(p, r) for p, r in zip(prompts, responses, strict=True)]
        xs = [self._embeds(p + r) for p, r in ids]
        masks = [readout_mask(len(p), len(x), self.s.readout) for (p, _), x in zip(ids, xs, strict=True)]

        def f(points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            mask = torch.zeros(points.shape[:2], dtype=torch.bool)
            for r, i in enumerate(rows.tolist()):
                mask[r, :len(masks[i])] = masks[i]
            return self.readout.function(mask)(points)

        atts = integrated_gradients_many(f, xs, self.baseline, self.s.n_steps, self.s.internal_batch_size,
                                         self.s.ig_method, progress=progress, desc=desc)
        out = []
        for (prompt_ids, response_ids), x, att in zip(ids, xs, atts, strict=True):
            tokens = chosen_tokens(att.per_token, len(prompt_ids), self.s.perturbed_tokens)
            unit = None
            if GRAD_STEPS == 1:  # one step: the perturbation is linear in the scale
                unit = step(x, att.grad_at_input, tokens, self.sign)[:len(prompt_ids)]
            out.append(Attributed(prompt_ids, response_ids, att.per_token, att.f_input, att.f_baseline,
                                  att.completeness_error, tokens, unit))
        return out

    def delta(self, a: Attributed, scale: float) -> torch.Tensor:
        if a.unit_delta is not None:
            return scale * a.unit_delta
        x, f = self._input_and_f(a.prompt_ids, a.response_ids)
        return perturbation(f, x, a.tokens, scale, GRAD_STEPS, self.sign)[:len(a.prompt_ids)]

    def perturber(self, attributed: list[Attributed]) -> AttributedPrompts:
        """What the factory's `Grains` spec perturbs: these prompts, as attributed."""
        return AttributedPrompts(self, attributed)


class AttributedPrompts:
    """A prompt list's attributions: each prompt's ids and its perturbation at a scale."""

    def __init__(self, steerer: Steerer, attributed: list[Attributed]):
        self.steerer, self.attributed, self.latent = steerer, attributed, steerer.latent
        self.embedding = steerer.embedding
        self.prompt_ids = [a.prompt_ids for a in attributed]

    def delta(self, i: int, scale: float) -> torch.Tensor:
        return self.steerer.delta(self.attributed[i], scale)


class Grains(SteeringMethod):
    name = "grains"
    reports_completeness = True

    def grid(self) -> list[Point]:
        return [(self.ctx.feature, v) for v in self.ctx.s.grains.scales]

    def intervention(self, arm, point: Point):
        return self.ctx.make(arm, specs.Grains(*point))  # at its own attributed tokens
