"""GrAInS-style steering: push the input embeddings of the most attributed prompt tokens in
the direction that raises (or lowers) the feature.

For each chosen token t: e_t <- e_t + sign * scale * ||e_t|| * g_t / ||g_t||, g = dF/de, in
`steps` equal steps (the gradient is re-taken after each). Only a copy of the embeddings moves:
the embedding matrix is never touched (Qwen ties it to the output head).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def chosen_tokens(attributions: torch.Tensor, prompt_len: int, top_tokens: int | None) -> torch.Tensor:
    """Indices of the prompt tokens to perturb: the `top_tokens` largest |attribution| (all: None)."""
    scores = attributions[:prompt_len].abs()
    if top_tokens is None or top_tokens >= prompt_len:
        return torch.arange(prompt_len)
    return scores.topk(top_tokens).indices.sort().values


def perturbation(f: Callable[[torch.Tensor], torch.Tensor], embeds: torch.Tensor, tokens: torch.Tensor,
                 scale: float, steps: int = 1, sign: float = 1.0) -> torch.Tensor:
    """The change to `embeds` [T, d] (zero outside `tokens`): `steps` normalised-gradient steps of
    total size scale * ||e_t|| per token."""
    base = embeds.detach()
    cur = base.clone()
    if scale == 0 or len(tokens) == 0:
        return torch.zeros_like(base)
    norms = base[tokens].norm(dim=-1, keepdim=True)
    for _ in range(steps):
        point = cur.unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(f(point).sum(), point)
        g = grad[0, tokens]
        cur[tokens] += sign * (scale / steps) * norms * g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return cur - base
