"""The one place a spec (`causalgear.interventions.specs`) becomes an intervention: an edit at a
site, or an input-embedding perturbation (GrAInS, which needs a `perturber` built by
`causalgear.steering`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from causalgear.interventions.specs import (
    CODE_MODES,
    AddLatent,
    AddVector,
    Clamp,
    Grains,
    Interchange,
    MeanLatent,
    MoveCodes,
    PerExample,
    Positions,
    Spec,
    ZeroLatent,
)
from causalgear.interventions.types import (
    AddDirection,
    AddPerExample,
    AtTokens,
    EmbeddingPerturbation,
    InterchangeCode,
    Intervention,
    MovedCodes,
    ResidualEdit,
    SetCode,
    ZeroCode,
)
from causalgear.models.site import Site
from causalgear.sae.base import SparseAutoencoder


class Perturber(Protocol):
    """What `grains` needs from steering: each example's prompt ids and its perturbation at a scale."""

    latent: int
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

    def make(self, spec: Spec, record: dict | None = None) -> Intervention:
        """The intervention `spec` describes. `record` (code patches): receives z_j before and after."""
        match spec:
            case ZeroLatent(j, positions):
                return placed(ZeroCode(self.site, self.sae, j, record), positions)
            case MeanLatent(j, positions):
                return placed(SetCode(self.site, self.sae, j, float(self.stats["mean"][j]), record), positions)
            case Clamp(j, multiple, positions):
                to = multiple * float(self.stats["mean_active"][j])
                return placed(SetCode(self.site, self.sae, j, to, record), positions)
            case Interchange(j, positions):
                if self.counterfactual is None:
                    raise ValueError("interchange needs the counterfactual prompts' codes")
                return placed(InterchangeCode(self.site, self.sae, j, self.counterfactual[:, j]), positions)
            case MoveCodes(latents, values, alpha, positions):
                return placed(MovedCodes(self.site, self.sae, latents, values, alpha), positions)
            case AddLatent(j, alpha, positions):
                return placed(AddDirection(self.site, self.direction(j), alpha), positions)
            case AddVector(vector, alpha, positions):
                return placed(AddDirection(self.site, vector, alpha), positions)
            case PerExample(vectors, alpha, positions):
                return placed(AddPerExample(self.site, vectors, alpha), positions)
            case Grains(j, scale):
                p = self.perturber
                if p is None or p.latent != j:
                    raise ValueError(f"Grains on latent {j} needs a perturber attributed to it "
                                     f"(causalgear.steering.methods.grains.Steerer), not {p and p.latent}")
                return EmbeddingPerturbation(p.embedding, p.prompt_ids, lambda i: p.delta(i, scale))
        raise TypeError(f"{spec!r} is not an intervention spec (causalgear.interventions.specs)")

    def direction(self, j: int) -> torch.Tensor:
        """Additive steering's direction for coordinate j (the decoder's contribution of its mean active value)."""
        if j not in self._directions:
            self._directions[j] = decoder_direction(self.sae, j, float(self.stats["mean_active"][j]))
        return self._directions[j]

    def code_delta(self, mode: str, strength: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
        """z -> z' - z for every coordinate at once, as `make(code_spec(mode, j, strength))` would set z'_j
        (attribution patching); interchange sets each z_j to its mean over the counterfactual prompts."""
        if mode == "zero":
            return ZeroCode.code_delta
        values = {"mean": lambda: self.stats["mean"],
                  "clamp": lambda: strength * self.stats["mean_active"],
                  "interchange": lambda: self.counterfactual.mean(0)}
        if mode not in values:
            raise ValueError(f"{mode!r} has no code-space change: one of {', '.join(CODE_MODES)}")
        return SetCode.code_delta_to(values[mode]().float())



def placed(edit: ResidualEdit, positions: Positions) -> Intervention:
    """`edit` at its spec's positions: all, the prompt's pass, or each example's given tokens."""
    if isinstance(positions, str):
        if positions not in ("all", "prompt"):
            raise ValueError(f"positions {positions!r}: 'all', 'prompt' or each example's token positions")
        edit.positions = positions
        return edit
    return AtTokens(edit, positions)
