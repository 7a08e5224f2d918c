"""The interface every SAE architecture implements.

`encode_pre` gives the pre-activations (what steering attributes), `activation` the code z,
`decode` the reconstruction. Training is one step for every architecture (`SAEModule`): the
MSE once, plus the terms an architecture declares in `auxiliary_losses`, each weighted by its
`coefficients` (with an optional warm-up). An SAE trains on normalised activations
(E||x||^2 = d_in); `fold_scale` then moves that scale into its weights so the saved SAE reads
and writes raw activations. Architectures are found by name through `causalgear.sae.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class Coefficient:
    """A loss term's weight, ramped linearly from 0 over `warmup_steps` optimizer steps."""

    value: float
    warmup_steps: int = 0

    def at(self, step: int) -> float:
        if self.warmup_steps <= 0:
            return self.value
        return self.value * min(1.0, (step + 1) / self.warmup_steps)


class SparseAutoencoder(nn.Module):
    arch: ClassVar[str] = "base"
    # cfg.json's `architecture`, and whether SAELens loads the file as that architecture
    saelens_architecture: ClassVar[str] = "base"
    saelens_compatible: ClassVar[bool] = False
    applies_b_dec_to_input: ClassVar[bool] = False
    # whether `sae.k` (active codes per row) is a parameter of the architecture
    uses_k: ClassVar[bool] = False
    # the keys of the `sae` group only some architectures read (k aside, which `uses_k` says), and
    # which of them this one reads: a command line that sets another is refused, never ignored
    OPTIONAL_KEYS: ClassVar[tuple[str, ...]] = ("hidden_sizes",)
    own_keys: ClassVar[frozenset[str]] = frozenset()
    # codes that fired on none of this many training rows are dead (the trainer tracks it and
    # passes the mask to `auxiliary_losses`); None: the architecture does not use it
    dead_after_rows: int | None = None

    def __init__(self, d_in: int, d_sae: int):
        super().__init__()
        self.d_in, self.d_sae = d_in, d_sae

    @classmethod
    def check_config(cls, sae_cfg, explicit: frozenset[str] | set[str] = frozenset()) -> None:
        """This architecture's own fields of the `sae` group (the preflight; a ConfigError naming the
        key); `explicit`: the keys the command line set, refused where this architecture does not read them."""
        from causalgear.config import ConfigError

        for key in cls.OPTIONAL_KEYS:
            if f"sae.{key}" in explicit and key not in cls.own_keys:
                raise ConfigError(f"sae.{key}", sae_cfg[key], f"unset: sae.arch={cls.arch} does not read it (drop it, "
                                  "or choose an architecture that does, e.g. sae=deep_relu)")

        if cls.uses_k and sae_cfg.k is None:
            raise ConfigError("sae.k", None, f"an integer > 0: {cls.arch} keeps k of its sae.d_sae codes active")
        if not cls.uses_k and sae_cfg.k is not None:
            raise ConfigError("sae.k", sae_cfg.k, f"null: {cls.arch} has no k (its width is sae.d_sae)")
        if cls.uses_k and sae_cfg.k > sae_cfg.d_sae:
            raise ConfigError("sae.k", sae_cfg.k, f"at most sae.d_sae={sae_cfg.d_sae} (the codes it keeps active)")

    @classmethod
    def from_config(cls, sae_cfg, d_in: int) -> SparseAutoencoder:
        """A fresh SAE from the `sae` config group."""
        return cls(d_in, sae_cfg.d_sae)

    @classmethod
    def from_saved(cls, saved: dict) -> SparseAutoencoder:
        """An SAE shaped as a saved cfg.json says (weights not loaded)."""
        return cls(saved["d_in"], saved["d_sae"])

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def encode_pre_at(self, x: torch.Tensor, j: int) -> torch.Tensor:
        """Latent j's pre-activation alone ([...]): what a readout of one latent needs."""
        return self.encode_pre(x)[..., j]

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

    def coefficients(self, sae_cfg) -> dict[str, Coefficient]:
        """The weight of each term of `auxiliary_losses`, from the `sae` config group."""
        return {"l1": Coefficient(sae_cfg.l1_coeff, sae_cfg.l1_warmup_steps)}

    def auxiliary_losses(self, x: torch.Tensor, pre: torch.Tensor, z: torch.Tensor, x_hat: torch.Tensor,
                         dead: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The terms added to the MSE, by name (each weighted by its coefficient)."""
        return {"l1": self.sparsity_penalty(z)}

    def weights(self) -> dict[str, torch.Tensor]:
        """The tensors a saved SAE holds (training state such as dead-code counters is the trainer's)."""
        return self.state_dict()

    @torch.no_grad()
    def post_step(self) -> None:
        """Called after each optimizer step (norm constraints)."""

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        raise NotImplementedError

    def config(self) -> dict:
        """What cfg.json records of this SAE (under "causalgear") to rebuild it."""
        return {"arch": self.arch, "d_in": self.d_in, "d_sae": self.d_sae}
