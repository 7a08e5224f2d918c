"""Batched greedy SQL generation: the one function every stage uses to make predictions."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from causalgear.logs import bar as progress_bar

# A statement ends at ';', at a new line, or where the model starts a new prompt section.
_STOPS = (";", "\n", "###")


def cut_statement(text: str) -> str:
    end = len(text)
    for stop in _STOPS:
        i = text.find(stop)
        if i != -1:
            end = min(end, i)
    return text[:end].strip()


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
) -> list[str]:
    """Greedy SQL for each prompt, in order.

    `intervention` (see `causalgear.interventions.types`): its `applied(batch)` is active during
    the batch's generation, and its `inputs_embeds(batch)`, when not None, is generated from
    instead of the token ids. `batch` is the tokenizer's output, left-padded, plus
    `example_index`: the positions of its prompts in `prompts` (for edits that differ per
    example). `max_time`: seconds
    after which a batch's generation stops where it is (a service's per-request limit).
    `contexts`: each prompt's CREATE TABLE statements; given, each prediction is decoded under the
    single-table grammar of its own schema (`causalgear.models.constrain`).
    """
    device = next(model.parameters()).device
    constraint = None
    if contexts is not None:
        from causalgear.models.constrain import constraint_for

        if len(contexts) != len(prompts):
            raise ValueError(f"{len(contexts)} contexts for {len(prompts)} prompts: give one context per prompt")
        constraint = constraint_for(tokenizer, model.config.vocab_size)
    out: list[str] = []
    starts = range(0, len(prompts), batch_size)
    for start in progress_bar(starts, progress=progress, desc="generate", unit="batch", leave=False):
        batch = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True,
                          padding_side="left").to(device)
        example_index = torch.arange(start, start + len(batch["input_ids"]))
        kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      attention_mask=batch["attention_mask"], stop_strings=list(_STOPS), tokenizer=tokenizer,
                      max_time=max_time)
        if constraint is not None:
            kwargs["logits_processor"] = [constraint.processor(contexts[start:start + batch_size])]
        batch = {**batch, "example_index": example_index}
        with intervention.applied(batch) if intervention is not None else contextlib.nullcontext():
            embeds = intervention.inputs_embeds(batch) if intervention is not None else None
            if embeds is not None:
                # with inputs_embeds, generate returns only the new tokens
                new = model.generate(inputs_embeds=embeds, **kwargs)
            else:
                new = model.generate(input_ids=batch["input_ids"], **kwargs)[:, batch["input_ids"].shape[1]:]
        out.extend(cut_statement(t) for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    return out
