"""Prompt + gold SQL batches for teacher-forced scoring (loss, attribution)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

from causalgear.data.examples import Example


def prompt_sql_batch(tokenizer, examples: Sequence[Example], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, labels), right-padded; labels are -100 except on the SQL tokens.
    Prompt and SQL are tokenized apart, as in generation."""
    prompts = tokenizer([e.prompt for e in examples], add_special_tokens=False).input_ids
    sqls = tokenizer([e.sql for e in examples], add_special_tokens=False).input_ids
    rows = [p + s for p, s in zip(prompts, sqls, strict=True)]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (p, r) in enumerate(zip(prompts, rows, strict=True)):
        ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
        labels[i, len(p):len(r)] = torch.tensor(r[len(p):])
    return ids.to(device), mask.to(device), labels.to(device)


def sql_cross_entropy(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                      reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy on the gold SQL tokens of a `prompt_sql_batch` (differentiable: a
    trained steering vector descends it)."""
    logits, target = sql_logits(model, ids, mask, labels)
    return torch.nn.functional.cross_entropy(logits.float(), target, reduction=reduction)


def sql_logprobs(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each row's summed log-likelihood of its gold SQL tokens (differentiable)."""
    logits, target = sql_logits(model, ids, mask, labels)
    logp = torch.log_softmax(logits.float(), -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    rows = torch.nonzero(labels[:, 1:] != -100)[:, 0]
    return torch.zeros(len(ids), dtype=logp.dtype, device=logp.device).index_add(0, rows, logp)


def sql_logits(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, target) at the positions that predict a labelled token, in row-major order. Where the
    model's logits are its output embedding applied to its last hidden state, only those positions
    are projected to the vocabulary: a batch's full logits are rows x positions x vocabulary, which
    at a large vocabulary outgrows the model itself, and most positions are the prompt's."""
    from causalgear.models.site import position_ids

    target = labels[:, 1:]
    keep = target != -100
    inputs = dict(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask))
    if head_of_hidden(model):
        hidden = model.base_model(**inputs).last_hidden_state[:, :-1]
        return model.get_output_embeddings()(hidden[keep]), target[keep]
    return model(**inputs).logits[:, :-1][keep], target[keep]


def head_of_hidden(model) -> bool:
    """Whether the model's logits are its output embedding applied to its base model's last hidden
    state, nothing scaled, capped or added after (so any positions' logits can be computed alone):
    checked once per model, on a short input. That check runs the model, so a caller that reads or
    edits a site calls this before its hooks go on."""
    if model not in _HEAD_OF_HIDDEN:
        device = next(model.parameters()).device
        ids = torch.arange(1, 9, device=device)[None] % model.config.vocab_size
        with torch.no_grad():
            logits = model(input_ids=ids).logits
            projected = model.get_output_embeddings()(model.base_model(input_ids=ids).last_hidden_state)
        _HEAD_OF_HIDDEN[model] = logits.shape == projected.shape and torch.allclose(logits, projected, rtol=1e-4,
                                                                                     atol=1e-5)
    return _HEAD_OF_HIDDEN[model]


_HEAD_OF_HIDDEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@torch.no_grad()
def sql_loss_sum(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> float:
    """Summed next-token cross-entropy on the gold SQL tokens of a `prompt_sql_batch`."""
    return float(sql_cross_entropy(model, ids, mask, labels, reduction="sum"))
