"""The interface every SAE architecture implements, and the factory from `cfg.sae`.

`encode_pre` gives the pre-activations (what steering attributes), `encode` the code z,
`decode` the reconstruction; `loss_terms` returns named terms whose weighted sum is the loss.
An SAE trains on normalised activations (E||x||^2 = d_in); `fold_scale` then moves that
scale into its weights so the saved SAE reads and writes raw activations.
"""

from __future__ import annotations

import torch
from torch import nn


class SparseAutoencoder(nn.Module):
    arch: str = "base"
    # buffers that are training state (dead-code counters), not part of a saved SAE
    training_buffers: tuple[str, ...] = ()

    def __init__(self, d_in: int, d_sae: int):
        super().__init__()
        self.d_in, self.d_sae = d_in, d_sae

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.encode_pre(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sparsity_penalty(self, z: torch.Tensor) -> torch.Tensor:
        """Per-row L1 of the code (mean over rows)."""
        return z.abs().sum(-1).mean()

    def loss_terms(self, x: torch.Tensor, l1_coeff: float) -> dict[str, torch.Tensor]:
        """Named terms; `loss` is their weighted sum. MSE is the mean over elements."""
        z = self.encode(x)
        x_hat = self.decode(z)
        mse = torch.nn.functional.mse_loss(x_hat, x)
        l1 = self.sparsity_penalty(z)
        return {"loss": mse + l1_coeff * l1, "mse": mse, "l1": l1, "z": z, "x_hat": x_hat}

    def weights(self) -> dict[str, torch.Tensor]:
        """The state a saved SAE holds: the state dict less `training_buffers`."""
        return {k: v for k, v in self.state_dict().items() if k not in self.training_buffers}

    @torch.no_grad()
    def post_step(self) -> None:
        """Called after each optimizer step (norm constraints)."""

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        raise NotImplementedError

    def config(self) -> dict:
        return {"arch": self.arch, "d_in": self.d_in, "d_sae": self.d_sae}


def build_sae(sae_cfg, d_in: int) -> SparseAutoencoder:
    from causalgear.sae.deep_relu import DeepReLUSAE
    from causalgear.sae.deep_topk import DeepTopKSAE
    from causalgear.sae.relu import ReLUSAE
    from causalgear.sae.topk import TopKSAE

    d_sae = sae_cfg.d_sae if sae_cfg.d_sae is not None else sae_cfg.k
    if sae_cfg.arch == "deep_relu":
        return DeepReLUSAE(d_in, sae_cfg.k, list(sae_cfg.hidden_sizes))
    if sae_cfg.arch == "relu":
        return ReLUSAE(d_in, d_sae)
    if sae_cfg.arch == "topk":
        return TopKSAE(d_in, d_sae, sae_cfg.k)
    if sae_cfg.arch == "deep_topk":
        return DeepTopKSAE(d_in, d_sae, sae_cfg.k, list(sae_cfg.hidden_sizes))
    raise ValueError(f"sae.arch={sae_cfg.arch!r}: one of deep_relu, relu, topk, deep_topk")
