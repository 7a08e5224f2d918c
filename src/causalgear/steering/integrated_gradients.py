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
from causalgear.logs import bar


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
    grad_at_input: torch.Tensor | None = None  # [T, d]: dF/dx at x itself (GrAInS' first step)

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
    (att,) = integrated_gradients_many(lambda points, _rows: f(points), [x], baseline, n_steps,
                                       internal_batch_size, method)
    return att


def integrated_gradients_many(f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], xs: list[torch.Tensor],
                              baseline: torch.Tensor, n_steps: int = 64, internal_batch_size: int = 64,
                              method: str = "gausslegendre", progress: bool = False,
                              desc: str = "attribute") -> list[Attribution]:
    """IG of `f` at each input xs[i] [T_i, d] against `baseline` [d]. Every input contributes
    n_steps quadrature points, itself and the baseline (F at both ends; dF/dx at x) as rows, and
    the rows of all inputs share passes of `internal_batch_size` rows, longest inputs first, shorter
    ones right-padded with zeros. `f(points [R, T, d], rows [R])` gives F of each row, `rows` naming
    its input: it must read nothing past the row's own length (a causal model read at masked
    positions does not), so the padding changes no figure."""
    alphas, weights = quadrature(n_steps, method)
    order = sorted(range(len(xs)), key=lambda i: -len(xs[i]))
    rows = [(i, k) for i in order for k in range(n_steps + 2)]  # k = n_steps: x; n_steps + 1: baseline
    grad_sum = [torch.zeros_like(x, dtype=torch.float64) for x in xs]
    at_x: list = [None] * len(xs)
    ends = [[0.0, 0.0] for _ in xs]
    for start in bar(range(0, len(rows), internal_batch_size), progress=progress, desc=desc, unit="pass"):
        chunk = rows[start:start + internal_batch_size]
        points = xs[chunk[0][0]].new_zeros(len(chunk), len(xs[chunk[0][0]]), xs[0].shape[-1])
        mine: dict[int, list[int]] = {}  # each input's rows in this pass
        for r, (i, _) in enumerate(chunk):
            mine.setdefault(i, []).append(r)
        for i, at in mine.items():
            x = xs[i].detach()
            base = baseline.detach().to(x.dtype).expand_as(x)
            a = torch.tensor([float(alphas[k]) if k < n_steps else float(k == n_steps) for k in
                              (chunk[r][1] for r in at)], dtype=x.dtype, device=x.device)
            points[at, :len(x)] = base + a[:, None, None] * (x - base)
            points[[r for r in at if chunk[r][1] == n_steps], :len(x)] = x  # x itself, not x' + 1 (x - x')
        points.requires_grad_(True)
        values = f(points, torch.tensor([i for i, _ in chunk]))
        (grads,) = torch.autograd.grad(values.sum(), points)
        values = values.detach()
        weighted = grads.double() * torch.tensor([float(weights[k]) if k < n_steps else 0.0 for _, k in chunk],
                                                 dtype=torch.float64, device=grads.device)[:, None, None]
        for i, at in mine.items():
            grad_sum[i] += weighted[at, :len(xs[i])].sum(0)
        for r, (i, k) in enumerate(chunk):
            if k >= n_steps:
                ends[i][k - n_steps] = float(values[r])
                if k == n_steps:
                    at_x[i] = grads[r, :len(xs[i])]
    out = []
    for i, x in enumerate(xs):
        diff = (x.detach() - baseline.detach().to(x.dtype).expand_as(x)).double()
        out.append(Attribution((diff * grad_sum[i]).sum(-1).float(), ends[i][0], ends[i][1], at_x[i]))
    return out
