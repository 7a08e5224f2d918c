"""Batched greedy SQL generation: the one function every stage uses to make predictions.

Prompts are batched in order of their token length (less padding), and each batch is decoded by a
greedy loop that drops a row from the batch once it has written a statement's end or EOS: what a
finished row would go on computing in `model.generate` (a batch runs until its slowest row ends,
and a steered output that never ends runs to `max_new_tokens`) is never computed. Every row gets
the tokens `model.generate` gives it (tests check it, interventions included); schema decoding, a
time limit and a generation config that asks for more than the argmax (a repetition penalty) go
through `model.generate` itself.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from causalgear.logs import bar as progress_bar
from causalgear.models.decoding import decoding_rows

# A statement ends at ';', at a new line, or where the model starts a new prompt section.
_STOPS = (";", "\n", "###")
_STOP_TOKENS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PROMPT_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> {prompt: ids}
_MAX_PROMPTS = 2**16


def cut_statement(text: str) -> str:
    end = len(text)
    for stop in _STOPS:
        i = text.find(stop)
        if i != -1:
            end = min(end, i)
    return text[:end].strip()


def _may_stop(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> torch.Tensor:
    """[vocab_size] bool: the tokens whose text holds a character of a stop (only after one of them
    can the output have ended), computed once per tokenizer."""
    if tokenizer not in _STOP_TOKENS:
        chars = set("".join(_STOPS))
        texts = tokenizer.batch_decode([[i] for i in range(min(vocab_size, len(tokenizer)))])
        flags = torch.zeros(vocab_size, dtype=torch.bool)
        flags[:len(texts)] = torch.tensor([any(c in text for c in chars) for text in texts])
        _STOP_TOKENS[tokenizer] = flags
    return _STOP_TOKENS[tokenizer]


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]) -> list[list[int]]:
    """Each prompt's token ids, as `tokenizer(prompts)` gives them; a prompt this process already
    tokenized is not tokenized again (steering generates the same prompt lists hundreds of times)."""
    known = _PROMPT_IDS.setdefault(tokenizer, {})
    if len(known) > _MAX_PROMPTS:
        known.clear()
    missing = list(dict.fromkeys(p for p in prompts if p not in known))
    if missing:
        known.update(zip(missing, tokenizer(missing).input_ids, strict=True))
    return [known[p] for p in prompts]


def _plain_greedy(model: PreTrainedModel) -> bool:
    """Whether the model's generation config asks `generate` for nothing but the argmax (no repetition
    penalty, banned or forced tokens, minimum length): then the greedy loop writes what it writes."""
    gc = model.generation_config
    neutral = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_length": 0, "min_new_tokens": None,
               "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None,
               "forced_bos_token_id": None, "forced_eos_token_id": None, "sequence_bias": None,
               "exponential_decay_length_penalty": None}
    return all(getattr(gc, key, default) in (default, None) for key, default in neutral.items())


def _first_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """The prompt's position ids as `model.generate` makes them (pads at 1)."""
    return (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)


@torch.inference_mode()  # no autograd bookkeeping at all: a decoding step is many small operations
def _greedy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch: dict, embeds: torch.Tensor | None,
            max_new_tokens: int, prefixes=None) -> list[list[int]]:
    """Each row's new tokens, greedy; a row leaves the batch (its cache rows too) once its text holds a
    stop or it wrote EOS. An edit at a site sees the rows still decoding where they were in the batch
    (`models.decoding`). `prefixes` (`models.prefix.PromptPrefixes`): the prompt pass of the blocks
    before the edited one is replayed where this batch's was remembered."""
    device = batch["input_ids"].device
    may_stop = _may_stop(tokenizer, model.config.vocab_size)
    widest = max(len(s) for s in _STOPS)  # a stop that ends in the new token starts at most this many tokens back
    n = len(batch["input_ids"])
    new = torch.zeros((n, max_new_tokens), dtype=torch.long)
    length = torch.zeros(n, dtype=torch.long)
    mask, cache, rows = batch["attention_mask"], DynamicCache(), torch.arange(n)
    first = {"inputs_embeds": embeds} if embeds is not None else {"input_ids": batch["input_ids"]}
    with prefixes.prompt_pass(model, batch["input_ids"], mask, cache) if prefixes is not None and embeds is None \
            else contextlib.nullcontext():
        logits = model(**first, attention_mask=mask, position_ids=_first_positions(mask), cache=cache,
                       use_cache=True, logits_to_keep=1).logits[:, -1]
    eos = tokenizer.eos_token_id
    for step in range(max_new_tokens):
        token = logits.argmax(-1).cpu()
        new[rows, step], length[rows] = token, step + 1
        done = torch.zeros(len(rows), dtype=torch.bool) if eos is None else token == eos
        for r in may_stop[token].nonzero().squeeze(1).tolist():
            row = int(rows[r])
            tail = tokenizer.decode(new[row, max(0, step + 1 - widest):step + 1].tolist())
            done[r] |= any(stop in tail for stop in _STOPS)
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        if done.any():
            keep = (~done).nonzero().squeeze(1)
            rows, token, mask = rows[keep], token[keep], mask[keep.to(device)]
            cache.batch_select_indices(keep.to(device))
        mask = torch.cat([mask, mask.new_ones(len(rows), 1)], 1)
        with decoding_rows(rows, n):
            logits = model(input_ids=token.unsqueeze(1).to(device), attention_mask=mask,
                           position_ids=mask.sum(-1, keepdim=True) - 1, cache=cache, use_cache=True,
                           logits_to_keep=1).logits[:, -1]
    return [new[r, :length[r]].tolist() for r in range(n)]


@torch.no_grad()
def generate_sql(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 32,
    intervention=None,
    progress: bool = False,
    max_time: float | None = None,
    contexts: Sequence[str] | None = None,
    prefix_cache_mb: int = 0,
) -> list[str]:
    """Greedy SQL for each prompt, in order.

    `intervention` (see `causalgear.interventions.types`): its `applied(batch)` is active during
    the batch's generation, and its `inputs_embeds(batch)`, when not None, is generated from
    instead of the token ids. `batch` is the tokenizer's output, left-padded, plus
    `example_index`: the positions of its prompts in `prompts` (for edits that differ per
    example; a batch holds prompts of similar length, not neighbours). `max_time`: seconds
    after which a batch's generation stops where it is (a service's per-request limit).
    `contexts`: each prompt's CREATE TABLE statements; given, each prediction is decoded under the
    single-table grammar of its own schema (`causalgear.models.constrain`). `prefix_cache_mb`: the
    MiB of prompt passes the model remembers and replays (`causalgear.models.prefix`; 0: none).
    """
    from causalgear.models.context import check_fits
    from causalgear.models.prefix import prompt_prefixes

    device = next(model.parameters()).device
    prefixes = prompt_prefixes(model, prefix_cache_mb)
    constraint = None
    if contexts is not None:
        from causalgear.models.constrain import constraint_for

        if len(contexts) != len(prompts):
            raise ValueError(f"{len(contexts)} contexts for {len(prompts)} prompts: give one context per prompt")
        constraint = constraint_for(tokenizer, model.config.vocab_size)
    ids = prompt_ids(tokenizer, prompts)
    check_fits(model, ids, lambda i: f"the prompt {prompts[i][:60]!r}...", max_new_tokens)
    order = sorted(range(len(prompts)), key=lambda i: len(ids[i]))
    out: list[str] = [""] * len(prompts)
    starts = range(0, len(prompts), batch_size)
    for start in progress_bar(starts, progress=progress, desc="generate", unit="batch", leave=False):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [ids[i] for i in idx]}, padding=True, padding_side="left",
                              return_tensors="pt").to(device)
        batch = {**batch, "example_index": torch.tensor(idx)}
        with intervention.applied(batch) if intervention is not None else contextlib.nullcontext():
            embeds = intervention.inputs_embeds(batch) if intervention is not None else None
            if constraint is None and max_time is None and _plain_greedy(model):
                new = _greedy(model, tokenizer, batch, embeds, max_new_tokens, prefixes)
            else:
                new = _generate(model, tokenizer, batch, embeds, max_new_tokens, max_time,
                                None if constraint is None else constraint.processor([contexts[i] for i in idx]))
        for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
            out[i] = cut_statement(text)
    return out


def _generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, batch: dict, embeds: torch.Tensor | None,
              max_new_tokens: int, max_time: float | None, processor) -> torch.Tensor:
    """`model.generate`'s new tokens for the batch (under a logits processor, a time limit)."""
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                  attention_mask=batch["attention_mask"], stop_strings=list(_STOPS), tokenizer=tokenizer,
                  max_time=max_time)
    if processor is not None:
        kwargs["logits_processor"] = [processor]
    if embeds is not None:  # with inputs_embeds, generate returns only the new tokens
        return model.generate(inputs_embeds=embeds, **kwargs)
    return model.generate(input_ids=batch["input_ids"], **kwargs)[:, batch["input_ids"].shape[1]:]
