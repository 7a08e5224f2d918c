"""What an intervention changes, as data (pyvene's interventions as types): each spec names its
latent or vector, its one number, and its positions. `Interventions.make(spec)`
(`causalgear.interventions.factory`) turns a spec into an edit at a site; nothing else builds
edits, and nothing dispatches on a mode string but `code_spec`, which reads `causal.mode`.

Positions: "all" (the prompt and every generated token), "prompt" (the prompt's pass only), or a
tuple with each example's prompt positions (counted from its first real token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import torch

Positions = Union[str, tuple[torch.Tensor, ...]]  # noqa: UP007 - a runtime alias


@dataclass(frozen=True)
class ZeroLatent:
    """z_j = 0."""

    latent: int
    positions: Positions = "all"


@dataclass(frozen=True)
class MeanLatent:
    """z_j = its mean over the harvest."""

    latent: int
    positions: Positions = "all"


@dataclass(frozen=True)
class Clamp:
    """z_j = `multiple` × its mean active value."""

    latent: int
    multiple: float
    positions: Positions = "all"


@dataclass(frozen=True)
class Interchange:
    """z_j = its value on each example's counterfactual prompt."""

    latent: int
    positions: Positions = "all"


@dataclass(frozen=True)
class AddLatent:
    """h + `alpha` × the decoder's contribution of z_j at its mean active value."""

    latent: int
    alpha: float
    positions: Positions = "all"


@dataclass(frozen=True)
class AddVector:
    """h + `alpha` × `vector` (DiffMean, a random direction, a trained vector)."""

    vector: torch.Tensor
    alpha: float
    positions: Positions = "all"


@dataclass(frozen=True)
class PerExample:
    """h + `alpha` × `vectors[i]` for example i (a direction chosen per prompt, e.g. by a probe)."""

    vectors: torch.Tensor
    alpha: float
    positions: Positions = "all"


@dataclass(frozen=True)
class MoveCodes:
    """z_S + `alpha` × (`values` − z_S) for the latents S (`latents`): at alpha 1, S take `values`
    (e.g. their mean where a concept holds), as an interchange sets codes to a source's."""

    latents: tuple[int, ...]
    values: torch.Tensor  # [len(latents)]
    alpha: float
    positions: Positions = "all"


@dataclass(frozen=True)
class Grains:
    """GrAInS: the input embeddings of the prompt tokens most attributed to `latent` pushed by
    `scale` × their norm; always at those tokens (the attribution chooses the positions)."""

    latent: int
    scale: float


CodeSpec = Union[ZeroLatent, MeanLatent, Clamp, Interchange]  # noqa: UP007
Spec = Union[CodeSpec, MoveCodes, AddLatent, AddVector, PerExample, Grains]  # noqa: UP007

# causal.mode's names: the patches of one SAE code evaluate and transfer choose among
CODE_MODES = ("zero", "mean", "clamp", "interchange")


def code_spec(mode: str, latent: int, scale: float = 0.0) -> CodeSpec:
    """`causal.mode` on one latent; `scale` is clamp's multiple and is ignored by the others."""
    if mode == "zero":
        return ZeroLatent(latent)
    if mode == "mean":
        return MeanLatent(latent)
    if mode == "clamp":
        return Clamp(latent, scale)
    if mode == "interchange":
        return Interchange(latent)
    raise ValueError(f"intervention mode {mode!r}: one of {', '.join(CODE_MODES)}")


def at_tokens(tokens: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Positions given per example."""
    return tuple(torch.as_tensor(t, dtype=torch.long) for t in tokens)
