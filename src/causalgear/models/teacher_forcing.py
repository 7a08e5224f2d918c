"""Prompt + gold SQL batches for teacher-forced scoring (loss, attribution)."""

from __future__ import annotations

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
    from causalgear.models.site import position_ids

    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    return torch.nn.functional.cross_entropy(logits[keep].float(), target[keep], reduction=reduction)


@torch.no_grad()
def sql_loss_sum(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> float:
    """Summed next-token cross-entropy on the gold SQL tokens of a `prompt_sql_batch`."""
    return float(sql_cross_entropy(model, ids, mask, labels, reduction="sum"))
