"""Capture one site of one decoder block, and stop the forward pass right after it.

Sites: `resid` is the block's output (the residual stream after block `layer`, what
`output_hidden_states[layer + 1]` holds); `mlp_out` and `attn_out` are what the MLP and the
attention add to the stream inside that block. A block may return a tensor or a tuple
(transformers changed this between versions); `output[0]` on a tensor would silently take
batch row 0, so the type is checked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from causalgear.models.loading import decoder_layers


class StopForward(Exception):
    """Raised by the hook after the capture: later blocks never run."""


def first_tensor(output) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find the hidden states in a block output of type {type(output).__name__}")


def site_module(model, layer: int, site: str) -> torch.nn.Module:
    block = decoder_layers(model)[layer]
    if site == "resid":
        return block
    name = {"mlp_out": ("mlp", "feed_forward"), "attn_out": ("self_attn", "attn", "attention")}[site]
    for attr in name:
        if hasattr(block, attr):
            return getattr(block, attr)
    raise ValueError(f"block {layer} of {type(model).__name__} has no {site} submodule ({' / '.join(name)})")


@contextlib.contextmanager
def capture(model, layer: int, site: str = "resid", stop: bool = True) -> Iterator[dict]:
    """Within the block, `out["acts"]` holds the site's activations of the last forward.

    With `stop`, the forward is cut after block `layer` by raising `StopForward`; call the
    model through `run_to_layer` (or catch it yourself).
    """
    store: dict = {}

    def grab(_module, _inputs, output):
        store["acts"] = first_tensor(output).detach()

    def halt(_module, _inputs, _output):
        raise StopForward

    handles = [site_module(model, layer, site).register_forward_hook(grab)]
    if stop:
        handles.append(decoder_layers(model)[layer].register_forward_hook(halt))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens, so left or right padding gives the same activations."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def run_to_layer(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int,
                 site: str = "resid") -> torch.Tensor:
    """Activations [batch, seq, d] at (layer, site); blocks after `layer` are not run."""
    with capture(model, layer, site, stop=True) as out:
        try:
            model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=position_ids(attention_mask), use_cache=False)
        except StopForward:
            pass
    return out["acts"]
