"""The prompt pass of the blocks before the first edited one, remembered per batch and replayed.

Steering generates the same prompt batches under many interventions, and an edit at a site changes
nothing before it: blocks 0..n-1 write the same output, keys and values for a batch whatever is
done after block n-1. The first time a batch's prompt pass runs, the output of block n-1 and the keys
and values blocks 0..n-1 hand the cache are kept; the next time the same batch (same ids, mask,
weights) meets the same n, those blocks hand them over instead of computing them. It is what they
computed for this very batch, so every figure stays bit-identical; only the blocks from n on run.

n is read from the hooks present when the pass starts (the interventions are hooks, `models.site`):
a block whose output is hooked is replayed and its hooks still run on the replayed output; a block
hooked inside, or before its input, and every block after it, is computed. A hook anywhere else
before the blocks (the embedding) turns replay off.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from causalgear.models.blocks import decoder_layers, first_tensor, replace_first

_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> PromptPrefixes


def replayable_blocks(model: torch.nn.Module) -> int:
    """How many of the model's first blocks a prompt pass may replay, given the hooks now on it."""
    from torch.nn.modules import module as nn_module

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return 0
    layers = decoder_layers(model)
    block_of = {id(m): i for i, layer in enumerate(layers) for m in layer.modules()}
    n = len(layers)
    for m in model.modules():
        pre, post = bool(m._forward_pre_hooks), bool(m._forward_hooks)
        if not (pre or post):
            continue
        if id(m) in block_of:
            i = block_of[id(m)]
            # a hook on the block's output runs on the replayed output; any other hook needs the block run
            n = min(n, i + 1 if m is layers[i] and not pre else i)
        elif m in (model, model.base_model) and not pre:
            continue  # on the model's output, after every block
        else:
            return 0
    return n


@dataclass
class _Prefix:
    n: int
    out: torch.Tensor  # what block n - 1 wrote, before any hook
    template: object  # the block's output when it is not a bare tensor (a tuple), else None
    kv: dict[int, tuple] = field(default_factory=dict)  # block -> the arguments of its one cache.update

    @property
    def nbytes(self) -> int:
        tensors = [self.out, *(t for call in self.kv.values() for t in call[:2])]
        return sum(t.numel() * t.element_size() for t in tensors)


@contextlib.contextmanager
def _forward_replaced(module: torch.nn.Module, forward) -> Iterator[None]:
    """`module.forward` is `forward` inside (its hooks still run around it); restored on exit, also
    where the module had a forward of its own (accelerate's offloading sets one)."""
    own = vars(module).get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if own is None:
            del module.forward
        else:
            module.forward = own


class PromptPrefixes:
    """Remembered prompt passes, the least recently used dropped first past `max_bytes`."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self._items: OrderedDict[tuple, _Prefix] = OrderedDict()
        self.hits = self.misses = 0

    def clear(self) -> None:
        self._items.clear()
        self.bytes = self.hits = self.misses = 0

    def _key(self, model, n: int, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
        blocks = [model.get_input_embeddings(), *decoder_layers(model)[:n]]
        weights = tuple((p.data_ptr(), p._version) for m in blocks for p in m.parameters())
        return (n, tuple(input_ids.shape), input_ids.cpu().numpy().tobytes(), attention_mask.cpu().numpy().tobytes(),
                str(getattr(model.config, "_attn_implementation", "")), weights)

    @contextlib.contextmanager
    def prompt_pass(self, model, input_ids: torch.Tensor, attention_mask: torch.Tensor, cache) -> Iterator[None]:
        """Inside, the model's next forward is the prompt pass of this batch into the empty `cache`:
        replayed where it was remembered, remembered where it was not."""
        n = replayable_blocks(model) if not model.training else 0
        if n == 0 or cache.get_seq_length() != 0:
            yield
            return
        key = self._key(model, n, input_ids, attention_mask)
        known = self._items.get(key)
        with contextlib.ExitStack() as stack:
            if known is not None:
                self._items.move_to_end(key)
                self.hits += 1
                for i, layer in enumerate(decoder_layers(model)[:n]):
                    stack.enter_context(_forward_replaced(layer, self._replay(known, i, cache)))
                yield
                return
            self.misses += 1
            record: dict = {"kv": {}, "calls": [0] * n}
            last = decoder_layers(model)[n - 1]
            stack.enter_context(_forward_replaced(last, self._recording(last.forward, record)))
            update = cache.update

            def recording_update(key_states, value_states, layer_idx, *args, **kwargs):
                if layer_idx < n:
                    record["kv"][layer_idx] = (key_states, value_states, args, kwargs)
                    record["calls"][layer_idx] += 1
                return update(key_states, value_states, layer_idx, *args, **kwargs)

            cache.update = recording_update
            try:
                yield
            finally:
                del cache.update
        # only a pass in which every replayed block handed the cache exactly its keys and values
        if "out" in record and record["calls"] == [1] * n:
            self._put(key, _Prefix(n, record["out"], record["template"], record["kv"]))

    @staticmethod
    def _recording(forward, record: dict):
        """Block n - 1's forward, keeping its output before any hook on the block edits it."""
        def recorded(*args, **kwargs):
            output = forward(*args, **kwargs)
            record["out"] = first_tensor(output).detach().clone()
            record["template"] = None if isinstance(output, torch.Tensor) else output
            return output

        return recorded

    @staticmethod
    def _replay(known: _Prefix, i: int, cache):
        def replayed(*_args, **_kwargs):
            key_states, value_states, args, kwargs = known.kv[i]
            cache.update(key_states, value_states, i, *args, **kwargs)
            out = known.out.clone() if i == known.n - 1 else known.out  # the next block ignores its input
            return out if known.template is None else replace_first(known.template, out)

        return replayed

    def _put(self, key: tuple, prefix: _Prefix) -> None:
        size = prefix.nbytes
        if size > self.max_bytes // 4:  # one large batch would push out many
            return
        self._items[key] = prefix
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= dropped.nbytes


def prompt_prefixes(model: torch.nn.Module, max_mb: int) -> PromptPrefixes | None:
    """The model's remembered prompt passes, of at most `max_mb` MiB (0: none)."""
    if max_mb <= 0:
        return None
    store = _STORES.get(model)
    if store is None or store.max_bytes != max_mb * 2**20:
        store = _STORES[model] = PromptPrefixes(max_mb * 2**20)
    return store
