"""JumpReLU SAE (Rajamanoharan et al. 2024): z = pre * H(pre - θ) with a learned threshold θ per
latent, trained with an L0 penalty (λ is still the sparsity coefficient, `sae.l1_coeff`) through
straight-through estimators: the Heaviside step's derivative is replaced by a rectangle kernel of
width `bandwidth` around the threshold, so the thresholds learn."""

from __future__ import annotations

import math

import torch
from torch import nn

from causalgear.sae.base import Coefficient
from causalgear.sae.relu import ReLUSAE


def _rectangle(x: torch.Tensor) -> torch.Tensor:
    return ((x > -0.5) & (x < 0.5)).to(x.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        threshold_grad = -(threshold / bw) * _rectangle((pre - threshold) / bw) * grad
        return (pre > threshold) * grad, threshold_grad.reshape(-1, threshold.shape[-1]).sum(0), None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        threshold_grad = -(1.0 / bw) * _rectangle((pre - threshold) / bw) * grad
        return torch.zeros_like(pre), threshold_grad.reshape(-1, threshold.shape[-1]).sum(0), None


class JumpReLUSAE(ReLUSAE):
    arch = saelens_architecture = "jumprelu"

    def __init__(self, d_in: int, d_sae: int, threshold: float = 0.1, bandwidth: float = 0.05):
        super().__init__(d_in, d_sae)
        self.log_threshold = nn.Parameter(torch.full((d_sae,), math.log(threshold)))
        self.bandwidth = bandwidth

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return _JumpReLU.apply(pre, self.threshold, self.bandwidth)

    def coefficients(self, sae_cfg) -> dict[str, Coefficient]:
        return {"l0_penalty": Coefficient(sae_cfg.l1_coeff, sae_cfg.l1_warmup_steps)}

    def auxiliary_losses(self, x, pre, z, x_hat, dead) -> dict[str, torch.Tensor]:
        return {"l0_penalty": _Step.apply(pre, self.threshold, self.bandwidth).sum(-1).mean()}
