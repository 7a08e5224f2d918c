"""Integrated gradients of a scalar function of embeddings, with a completeness check.

IG_t = sum_d (x - x')_td * integral_0^1 dF/dx_td(x' + a (x - x')) da, the integral taken by
a quadrature over `n_steps` points: Gauss-Legendre (captum's default, exact for polynomials
of degree < 2 n_steps) or the trapezoid rule. Completeness: sum_t IG_t = F(x) - F(x') up
to the quadrature error, which is measured and reported for every input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from causalgear.config import IGMethod


def quadrature(n_steps: int, method: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Points a in [0, 1] and weights w with sum_i w_i g(a_i) ~ integral_0^1 g."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return torch.tensor((nodes + 1) / 2), torch.tensor(weights / 2)
    if method == "riemann_trapezoid":
        if n_steps < 2:
            raise ValueError(f"n_steps={n_steps}: the trapezoid rule needs at least 2")
        weights = np.full(n_steps, 1.0 / (n_steps - 1))
        weights[[0, -1]] /= 2
        return torch.linspace(0, 1, n_steps, dtype=torch.float64), torch.tensor(weights)
    raise ValueError(f"ig_method={method!r}: one of {', '.join(IGMethod)}")


@dataclass
class Attribution:
    per_token: torch.Tensor  # [T]: IG summed over the hidden dimension
    f_input: float
    f_baseline: float

    @property
    def completeness_error(self) -> float | None:
        """|sum IG - (F(x) - F(x'))| / |F(x) - F(x')|; None where F(x) = F(x') (nothing to attribute)."""
        diff = self.f_input - self.f_baseline
        if abs(diff) < 1e-12:
            return None
        return abs(float(self.per_token.sum()) - diff) / abs(diff)


def integrated_gradients(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, baseline: torch.Tensor,
                         n_steps: int = 64, internal_batch_size: int = 64,
                         method: str = "gausslegendre") -> Attribution:
    """IG of `f` ([B, T, d] -> [B]) at one input `x` [T, d] against `baseline` [T, d] (or [d])."""
    x = x.detach()
    baseline = baseline.detach().expand_as(x).to(x.dtype)
    alphas, weights = quadrature(n_steps, method)
    alphas, weights = alphas.to(x.device, x.dtype), weights.to(x.device, torch.float64)
    diff = x - baseline
    grad_sum = torch.zeros_like(x, dtype=torch.float64)
    for start in range(0, n_steps, internal_batch_size):
        a = alphas[start:start + internal_batch_size]
        points = (baseline + a[:, None, None] * diff).requires_grad_(True)
        (grads,) = torch.autograd.grad(f(points).sum(), points)
        grad_sum += (weights[start:start + internal_batch_size, None, None] * grads.double()).sum(0)
    with torch.no_grad():
        ends = f(torch.stack([x, baseline]))
    return Attribution(per_token=(diff.double() * grad_sum).sum(-1).float(), f_input=float(ends[0]),
                       f_baseline=float(ends[1]))
