"""The one place a mode name becomes an intervention.

Modes on one SAE coordinate j, with a strength s:
- `zero`: z_j = 0; `mean`: z_j = its mean over the harvest; `inject` (also steering's `clamp`):
  z_j = s x its mean active value; `interchange`: z_j from a counterfactual prompt, per example;
- `additive`: h + s x (the decoder's contribution of the mean active z_j);
- `grains`: the input embeddings of the most attributed prompt tokens pushed by s x their norm
  (needs a `perturber`, built by `causalgear.steering`);
- `direction`: h + s x a given direction (the DiffMean and random-direction baselines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from causalgear.interventions.types import (
    AddDirection,
    EmbeddingPerturbation,
    InterchangeCode,
    Intervention,
    SetCode,
    ZeroCode,
)
from causalgear.models.site import Site
from causalgear.sae.base import SparseAutoencoder

CODE_MODES = ("zero", "mean", "inject", "interchange")
MODES = (*CODE_MODES, "additive", "grains", "direction")


class Perturber(Protocol):
    """What `grains` needs from steering: each example's prompt ids and its perturbation at a scale."""

    embedding: torch.nn.Embedding
    prompt_ids: Sequence[list[int]]

    def delta(self, i: int, scale: float) -> torch.Tensor: ...


def decoder_direction(sae: SparseAutoencoder, j: int, value: float) -> torch.Tensor:
    """What the decoder writes for z_j = value alone, less what it writes for z = 0: W_dec[j] * value
    for a one-layer SAE; the deep decoder's contribution for deep_relu."""
    z = torch.zeros(2, sae.d_sae, device=next(sae.parameters()).device)
    z[0, j] = value
    with torch.no_grad():
        out = sae.decode(z)
    return out[0] - out[1]


@dataclass
class Interventions:
    """Builds interventions on `sae`'s coordinates at `site`. `stats`: coordinate statistics
    (`mean`, `mean_active`); `counterfactual`: [n_examples, d_sae] codes for `interchange`."""

    site: Site
    sae: SparseAutoencoder
    stats: dict[str, torch.Tensor]
    counterfactual: torch.Tensor | None = None
    perturber: Perturber | None = None
    _directions: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    def make(self, mode: str, j: int | None = None, strength: float = 0.0, direction: torch.Tensor | None = None,
             record: dict | None = None) -> Intervention:
        if mode == "zero":
            return ZeroCode(self.site, self.sae, j, record)
        if mode == "mean":
            return SetCode(self.site, self.sae, j, float(self.stats["mean"][j]), record)
        if mode == "inject":
            return SetCode(self.site, self.sae, j, strength * float(self.stats["mean_active"][j]), record)
        if mode == "interchange":
            if self.counterfactual is None:
                raise ValueError("interchange needs the counterfactual prompts' codes")
            return InterchangeCode(self.site, self.sae, j, self.counterfactual[:, j])
        if mode == "additive":
            return AddDirection(self.site, self.direction(j), strength)
        if mode == "direction":
            return AddDirection(self.site, direction, strength)
        if mode == "grains":
            if self.perturber is None:
                raise ValueError("grains needs a perturber (causalgear.steering.run.Steerer)")
            p = self.perturber
            return EmbeddingPerturbation(p.embedding, p.prompt_ids, lambda i: p.delta(i, strength))
        raise ValueError(f"intervention mode {mode!r}: one of {', '.join(MODES)}")

    def direction(self, j: int) -> torch.Tensor:
        """Additive steering's direction for coordinate j (the decoder's contribution of its mean active value)."""
        if j not in self._directions:
            self._directions[j] = decoder_direction(self.sae, j, float(self.stats["mean_active"][j]))
        return self._directions[j]

    def code_delta(self, mode: str, strength: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
        """z -> z' - z for every coordinate at once, as `make(mode, j, strength)` would set z'_j
        (attribution patching); interchange sets each z_j to its mean over the counterfactual prompts."""
        if mode == "zero":
            return ZeroCode.code_delta
        values = {"mean": lambda: self.stats["mean"],
                  "inject": lambda: strength * self.stats["mean_active"],
                  "interchange": lambda: self.counterfactual.mean(0)}
        if mode not in values:
            raise ValueError(f"{mode!r} has no code-space change: one of {', '.join(CODE_MODES)}")
        return SetCode.code_delta_to(values[mode]().float())

