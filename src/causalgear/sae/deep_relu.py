"""The reference recipe's SAE: d_in -> 1024 -> 256 -> d_sae with ReLU, mirrored decoder, L1 on the
code (the recipe's "code of size k = 64" is d_sae = 64).

An L1 on a code read by a free decoder is degenerate (shrink z, grow the weights that read
it), so the decoder's first layer keeps unit-norm columns, as a one-layer SAE keeps unit-norm
decoder rows: code magnitudes then mean something, and so does the penalty.
"""

from __future__ import annotations

import torch
from torch import nn

from causalgear.sae.base import SparseAutoencoder


class DeepReLUSAE(SparseAutoencoder):
    arch = saelens_architecture = "deep_relu"
    own_keys = frozenset({"hidden_sizes"})

    def __init__(self, d_in: int, d_sae: int, hidden_sizes: list[int] | None = None):
        super().__init__(d_in, d_sae)
        self.hidden_sizes = list(hidden_sizes or [1024, 256])
        dims = [d_in, *self.hidden_sizes, d_sae]
        enc: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc[:-1])  # the code's ReLU is `activation`
        rdims = dims[::-1]
        dec: list[nn.Module] = []
        for a, b in zip(rdims[:-1], rdims[1:], strict=True):
            dec += [nn.Linear(a, b), nn.ReLU()]
        self.decoder = nn.Sequential(*dec[:-1])
        self.post_step()

    @classmethod
    def check_config(cls, sae_cfg, explicit: frozenset[str] | set[str] = frozenset()) -> None:
        from causalgear.config import ConfigError

        super().check_config(sae_cfg, explicit)
        if not sae_cfg.hidden_sizes or any(isinstance(w, bool) or not isinstance(w, int) or w <= 0
                                           for w in sae_cfg.hidden_sizes):
            raise ConfigError("sae.hidden_sizes", list(sae_cfg.hidden_sizes),
                              f"a non-empty list of integers > 0 ({cls.arch}'s encoder widths before the code)")

    @classmethod
    def from_config(cls, sae_cfg, d_in: int) -> DeepReLUSAE:
        return cls(d_in, sae_cfg.d_sae, list(sae_cfg.hidden_sizes))

    @classmethod
    def from_saved(cls, saved: dict) -> DeepReLUSAE:
        return cls(saved["d_in"], saved["d_sae"], saved.get("causalgear", {}).get("hidden_sizes"))

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    @torch.no_grad()
    def post_step(self) -> None:
        w = self.decoder[0].weight  # [hidden, d_sae]: column j reads code j
        w.div_(w.norm(dim=0, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        self.encoder[0].weight.mul_(scale)
        self.decoder[-1].weight.div_(scale)
        self.decoder[-1].bias.div_(scale)

    def config(self) -> dict:
        return {**super().config(), "hidden_sizes": self.hidden_sizes}
