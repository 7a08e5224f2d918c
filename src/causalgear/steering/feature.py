"""F: one SAE coordinate's pre-activation as a differentiable function of the input embeddings.

F(E) = sum over the readout positions of encode_pre(h_layer(E))[j], where h_layer is what the
site of block `layer` writes. The forward stops after that block (later blocks cannot change F).
Readout positions: `response`, the positions whose next token is a response token (the last
prompt token up to the last-but-one response token), or `last_prompt`, the last prompt token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from causalgear.config import STEERING_POSITIONS
from causalgear.harvest.hooks import StopForward, first_tensor, site_module
from causalgear.models.loading import decoder_layers
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
        raise ValueError(f"steering.position={position!r}: one of {', '.join(STEERING_POSITIONS)}")
    return mask


@dataclass
class FeatureReadout:
    model: torch.nn.Module
    sae: SparseAutoencoder
    layer: int
    site: str
    coordinate: int

    def pre_activations(self, embeds: torch.Tensor) -> torch.Tensor:
        """[B, T] pre-activation of the coordinate at every position of unpadded sequences [B, T, d]."""
        return self.sae.encode_pre(self.hidden(embeds).float())[..., self.coordinate]

    def hidden(self, embeds: torch.Tensor) -> torch.Tensor:
        """[B, T, d_model]: what the site writes, for unpadded input embeddings [B, T, d]."""
        grabbed: dict = {}

        def grab(_module, _inputs, output):
            grabbed["h"] = first_tensor(output)

        def halt(_module, _inputs, _output):
            raise StopForward

        b, t, _ = embeds.shape
        positions = torch.arange(t, device=embeds.device).expand(b, t)
        handles = [site_module(self.model, self.layer, self.site).register_forward_hook(grab),
                   decoder_layers(self.model)[self.layer].register_forward_hook(halt)]
        try:
            self.model.base_model(inputs_embeds=embeds, attention_mask=torch.ones(b, t, device=embeds.device,
                                                                                   dtype=torch.long),
                                  position_ids=positions, use_cache=False)
        except StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        return grabbed["h"]

    def function(self, mask: torch.Tensor):
        """F as a callable [B, T, d] -> [B], summed over `mask` ([T] bool)."""

        def f(embeds: torch.Tensor) -> torch.Tensor:
            return (self.pre_activations(embeds) * mask.to(embeds.device)).sum(-1)

        return f
