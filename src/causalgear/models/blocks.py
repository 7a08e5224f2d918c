"""A decoder model's blocks and what a block returns: what every module that hooks or replays a
block needs, importing nothing of causalgear's models (loading imports the embedded model, which
imports generation, which replays blocks).

A block may return a tensor or a tuple (transformers changed this between versions);
`output[0]` on a tensor would silently take batch row 0, so the type is checked.
"""

from __future__ import annotations

import torch

from causalgear.errors import ModelLoadError


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder blocks of a causal LM (Qwen2, Llama, Mistral, GPT-2 style)."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    for name in ("layers", "h", "blocks"):
        if hasattr(base, name):
            return getattr(base, name)
    raise ModelLoadError(f"cannot find the decoder blocks of {type(model).__name__}")


def first_tensor(output) -> torch.Tensor:
    """The hidden states a block returned."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find the hidden states in a block output of type {type(output).__name__}")


def replace_first(output, new: torch.Tensor):
    """The block's output with `new` for its hidden states."""
    if isinstance(output, torch.Tensor):
        return new
    return (new, *output[1:]) if isinstance(output, tuple) else [new, *output[1:]]
