"""One activation site of a decoder model, and the only place that hooks one.

A `Site` is (model, layer, kind). `kind` is `resid` (the block's output: the residual stream
after block `layer`, what `output_hidden_states[layer + 1]` holds), `mlp_out` or `attn_out`
(what the MLP and the attention add to the stream inside that block). A site can be read, edited
(at every position or at given ones), run to and stopped at (from token ids or from input
embeddings, with or without gradients), and turned into a gradient leaf.

A block may return a tensor or a tuple (`models.blocks` reads either).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from causalgear.models.blocks import decoder_layers, first_tensor, replace_first
from causalgear.models.decoding import on_batch

KINDS = ("resid", "mlp_out", "attn_out")
_SUBMODULES = {"mlp_out": ("mlp", "feed_forward"), "attn_out": ("self_attn", "attn", "attention")}


class StopForward(Exception):
    """Raised after the site's block: later blocks never run."""


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens, so left or right padding gives the same activations."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class Site:
    """What `kind` of block `layer` writes, in `model`. Every hook is removed on exit of its
    context, also when an exception is raised."""

    def __init__(self, model: torch.nn.Module, layer: int, kind: str = "resid"):
        if kind not in KINDS:
            raise ValueError(f"site {kind!r}: one of {', '.join(KINDS)}")
        self.model, self.layer, self.kind = model, layer, kind
        self.block = decoder_layers(model)[layer]
        self.module = self._module()

    def _module(self) -> torch.nn.Module:
        if self.kind == "resid":
            return self.block
        for attr in _SUBMODULES[self.kind]:
            if hasattr(self.block, attr):
                return getattr(self.block, attr)
        raise ValueError(f"block {self.layer} of {type(self.model).__name__} has no {self.kind} submodule "
                         f"({' / '.join(_SUBMODULES[self.kind])})")

    def __repr__(self) -> str:
        return f"Site(layer={self.layer}, kind={self.kind!r})"

    @contextlib.contextmanager
    def _hooked(self, module: torch.nn.Module, hook) -> Iterator[None]:
        handle = module.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def read(self, stop: bool = False) -> Iterator[dict]:
        """Inside the context, `out["h"]` holds what the site wrote in the first forward (a
        generation's prompt pass), detached. `stop`: cut the forward after the block."""
        out: dict = {}

        def grab(_module, _inputs, output):
            out.setdefault("h", first_tensor(output).detach())

        with self._hooked(self.module, grab), (self._stopped() if stop else contextlib.nullcontext()):
            yield out

    @contextlib.contextmanager
    def _stopped(self) -> Iterator[None]:
        def halt(_module, _inputs, _output):
            raise StopForward

        with self._hooked(self.block, halt):
            yield

    @contextlib.contextmanager
    def edit(self, fn: Callable[[torch.Tensor], torch.Tensor], positions: str | torch.Tensor = "all") -> Iterator[None]:
        """The site's output h becomes fn(h). `positions`: "all" (every forward, generation
        included); "prompt" (the prompt's forward only, not the tokens generated after it); or a
        bool mask [batch, seq] for the prompt's forward. An fn that returns h unchanged leaves the
        logits bit-identical."""

        def hook(_module, _inputs, output):
            h = first_tensor(output)
            if isinstance(positions, str):
                if positions == "prompt" and h.shape[1] == 1:
                    return None  # a decoding step: the prompt was already edited
                return replace_first(output, on_batch(fn, h))
            if positions.shape != h.shape[:2]:
                return None  # decoding steps after the masked prompt
            return replace_first(output, torch.where(positions.unsqueeze(-1), fn(h), h))

        with self._hooked(self.module, hook):
            yield

    @contextlib.contextmanager
    def leaf(self) -> Iterator[dict]:
        """The site's output made a leaf that requires grad (the backbone is frozen, so it has no
        graph of its own): after a backward, `out["h"].grad` is the gradient there."""
        out: dict = {}

        def hook(_module, _inputs, output):
            h = first_tensor(output).detach().requires_grad_(True)
            out["h"] = h
            return replace_first(output, h)

        with self._hooked(self.module, hook):
            yield out

    def run(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
            inputs_embeds: torch.Tensor | None = None, grad: bool = False) -> torch.Tensor:
        """What the site writes [batch, seq, d] for token ids or input embeddings; blocks after
        the site's are not run. `grad`: keep the graph (to differentiate through the input
        embeddings); the output is then not detached."""
        like = input_ids if input_ids is not None else inputs_embeds[..., 0]
        if attention_mask is None:
            attention_mask = torch.ones(like.shape, dtype=torch.long, device=like.device)
        out: dict = {}

        def grab(_module, _inputs, output):
            out["h"] = first_tensor(output)

        with torch.set_grad_enabled(grad), self._hooked(self.module, grab), self._stopped():
            try:
                self.model.base_model(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                      position_ids=position_ids(attention_mask), use_cache=False)
            except StopForward:
                pass
        return out["h"] if grad else out["h"].detach()
