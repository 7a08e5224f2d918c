"""What an intervention does besides accuracy: the prompts interchange takes its codes from, and
the shift of the next-token distribution it causes."""

from __future__ import annotations

import random

import torch

from causalgear.interventions.types import Intervention
from causalgear.models.site import Site, position_ids
from causalgear.models.teacher_forcing import head_of_hidden
from causalgear.sae.base import SparseAutoencoder
from causalgear.seeds import seed_for


def counterfactual_codes(tokenizer, sae: SparseAutoencoder, site: Site, examples, pool, seed: int) -> torch.Tensor:
    """For each example, a counterfactual prompt (same command set or difficulty, another schema,
    seeded) and that prompt's mean code over its tokens: [n_examples, d_sae]. Prompts differ in
    length, so positions cannot be aligned; the mean sets z_j at every position."""
    rng = random.Random(seed_for(seed, "counterfactual prompts"))
    by_group: dict[str, list] = {}
    for e in pool:
        by_group.setdefault(e.group, []).append(e)
    partners = []
    for e in examples:
        options = [o for o in by_group.get(e.group, pool) if o.db_id != e.db_id] or pool
        partners.append(rng.choice(options))
    out = []
    device = next(site.model.parameters()).device
    for start in range(0, len(partners), 32):
        enc = tokenizer([p.prompt for p in partners[start:start + 32]], return_tensors="pt", padding=True,
                        padding_side="right").to(device)
        with torch.no_grad():
            z = sae.encode(site.run(enc["input_ids"], enc["attention_mask"]).float())
        m = enc["attention_mask"].unsqueeze(-1).float()
        out.append(((z * m).sum(1) / m.sum(1)).cpu())
    return torch.cat(out)


# prompts whose next-token distributions are held at once: a batch's at every prompt position is
# rows x positions x vocabulary (32 prompts of 500 tokens at a 151,936 vocabulary: 9.7 GB a copy)
KL_ROWS = 4


@torch.no_grad()
def prompt_kl(tokenizer, examples, intervention: Intervention, model) -> float:
    """Mean KL(clean || edited) of next-token distributions at prompt (non-SQL) positions. Where the
    logits are the output embedding of the last hidden state, they are made KL_ROWS prompts at a time."""
    per_rows = head_of_hidden(model)  # its probing pass, before the intervention's hooks
    total, count = 0.0, 0
    for start in range(0, len(examples), 32):
        enc = tokenizer([e.prompt for e in examples[start:start + 32]], return_tensors="pt", padding=True,
                        padding_side="right").to(next(model.parameters()).device)
        kwargs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                      position_ids=position_ids(enc["attention_mask"]))
        clean = model.base_model(**kwargs).last_hidden_state if per_rows else model(**kwargs).logits
        batch = {**enc, "example_index": torch.arange(start, start + len(enc["input_ids"]))}
        with intervention.applied(batch):
            edited = model.base_model(**kwargs).last_hidden_state if per_rows else model(**kwargs).logits
        keep = enc["attention_mask"].bool()
        step, kls = KL_ROWS if per_rows else len(keep), []
        for r in range(0, len(keep), step):
            c, e = clean[r:r + step], edited[r:r + step]
            if per_rows:
                c, e = model.get_output_embeddings()(c), model.get_output_embeddings()(e)
            c, e = torch.log_softmax(c.float(), -1), torch.log_softmax(e.float(), -1)
            kls.append((c.exp() * (c - e)).sum(-1)[keep[r:r + step]])
        total += float(torch.cat(kls).sum())  # summed as one batch's, whatever the chunks
        count += int(keep.sum())
    return total / max(count, 1)
