"""The one intervention primitive: edit what block `layer` (or its MLP / attention) writes.

Inside the context, the site's output h becomes fn(h), at every position or only where a
mask says; the hook is removed on exit, also when an exception is raised. An edit whose fn
returns h unchanged leaves the logits bit-identical.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from causalgear.harvest.hooks import first_tensor, site_module


def replace_first(output, new: torch.Tensor):
    if isinstance(output, torch.Tensor):
        return new
    return (new, *output[1:]) if isinstance(output, tuple) else [new, *output[1:]]


@contextlib.contextmanager
def edit_site(model, layer: int, fn: Callable[[torch.Tensor], torch.Tensor], site: str = "resid",
              positions: str | torch.Tensor = "all") -> Iterator[None]:
    """`positions`: "all" (every forward, generation included); "prompt" (the prompt's forward
    only, not the tokens generated after it); or a bool mask [batch, seq] for the prompt's forward.
    """

    def hook(_module, _inputs, output):
        h = first_tensor(output)
        if isinstance(positions, str):
            if positions == "prompt" and h.shape[1] == 1:
                return None  # a decoding step: the prompt was already edited
            return replace_first(output, fn(h))
        if positions.shape != h.shape[:2]:
            return None  # decoding steps after the masked prompt
        return replace_first(output, torch.where(positions.unsqueeze(-1), fn(h), h))

    handle = site_module(model, layer, site).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
