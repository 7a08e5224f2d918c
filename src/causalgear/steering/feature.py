"""F: one SAE coordinate's pre-activation as a differentiable function of the input embeddings.

F(E) = sum over the readout positions of encode_pre(h_layer(E))[j], where h_layer is what the
site of block `layer` writes. The forward stops after that block (later blocks cannot change F).
Readout positions: `response`, the positions whose next token is a response token (the last
prompt token up to the last-but-one response token), or `last_prompt`, the last prompt token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from causalgear.config import ReadoutPosition
from causalgear.models.site import Site
from causalgear.sae.base import SparseAutoencoder


def readout_mask(prompt_len: int, total_len: int, position: str) -> torch.Tensor:
    """[total_len] bool: where F reads the coordinate."""
    mask = torch.zeros(total_len, dtype=torch.bool)
    if position == "response":
        mask[prompt_len - 1:total_len - 1] = True
        if total_len == prompt_len:  # no response tokens: the position that writes the first one
            mask[prompt_len - 1] = True
    elif position == "last_prompt":
        mask[prompt_len - 1] = True
    else:
        raise ValueError(f"steering.grains.readout={position!r}: one of {', '.join(ReadoutPosition)}")
    return mask


@dataclass
class FeatureReadout:
    site: Site
    sae: SparseAutoencoder
    coordinate: int

    def pre_activations(self, embeds: torch.Tensor) -> torch.Tensor:
        """[B, T] pre-activation of the coordinate at every position of unpadded sequences [B, T, d]."""
        return self.sae.encode_pre_at(self.site.run(inputs_embeds=embeds, grad=True).float(), self.coordinate)

    def function(self, mask: torch.Tensor):
        """F as a callable [B, T, d] -> [B], summed over `mask` ([T] bool)."""

        def f(embeds: torch.Tensor) -> torch.Tensor:
            return (self.pre_activations(embeds) * mask.to(embeds.device)).sum(-1)

        return f
