"""SAE patching that keeps the reconstruction error: x' = x + g(z') - g(z).

Only coordinate j of the code changes, so only what the SAE attributes to j moves the
residual stream; what the SAE fails to reconstruct stays in place. This holds for any
decoder g, the nonlinear deep_relu one included, because both decodes are computed.
Modes: `zero` (ablate), `mean` / `inject` (set z_j to a value: its mean over the harvest, or
a multiple of its typical active value), `interchange` (z_j from a counterfactual prompt).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from causalgear.sae.base import SparseAutoencoder

MODES = ("zero", "mean", "inject", "interchange")


def patch_coordinate(sae: SparseAutoencoder, j: int, mode: str, value: float | torch.Tensor | None = None,
                     record: dict | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A residual edit h -> h + g(z') - g(z) with z' = z except z'_j.

    `value`: the number z_j is set to (`mean`, `inject`), or a tensor broadcastable to z[..., j]
    (`interchange`: the counterfactual prompt's codes). Unused for `zero`. `record`: a dict that
    receives z[..., j] and z'[..., j] of the first call (the prompt's pass), at no extra cost.
    """
    if mode not in MODES:
        raise ValueError(f"causal.mode={mode!r}: one of {', '.join(MODES)}")
    if not 0 <= j < sae.d_sae:
        raise ValueError(f"coordinate {j} is out of range: the SAE has {sae.d_sae} (0..{sae.d_sae - 1})")
    if mode != "zero" and value is None:
        raise ValueError(f"mode {mode!r} needs a value for z_{j}")

    def edit(h: torch.Tensor) -> torch.Tensor:
        x = h.float()
        z = sae.encode(x)
        z_new = z.clone()
        z_new[..., j] = 0.0 if mode == "zero" else torch.as_tensor(value, dtype=z.dtype, device=z.device)
        # one decoder call for both codes: in generation the per-call overhead is what a step costs
        new, old = sae.decode(torch.stack([z_new, z]))
        if record is not None and "before" not in record:
            record["before"], record["after"] = z[..., j], z_new[..., j]
        return h + (new - old).to(h.dtype)

    return edit


def add_direction(direction: torch.Tensor, alpha: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """h -> h + alpha * direction: additive steering, and the random-direction control."""

    def edit(h: torch.Tensor) -> torch.Tensor:
        return h + (alpha * direction).to(h.dtype)

    return edit
