"""What an intervention does besides accuracy: the prompts interchange takes its codes from, and
the shift of the next-token distribution it causes."""

from __future__ import annotations

import random

import torch

from causalgear.interventions.types import Intervention
from causalgear.models.site import Site, position_ids
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


@torch.no_grad()
def prompt_kl(tokenizer, examples, intervention: Intervention, model) -> float:
    """Mean KL(clean || edited) of next-token distributions at prompt (non-SQL) positions."""
    total, count = 0.0, 0
    for start in range(0, len(examples), 32):
        enc = tokenizer([e.prompt for e in examples[start:start + 32]], return_tensors="pt", padding=True,
                        padding_side="right").to(next(model.parameters()).device)
        kwargs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                      position_ids=position_ids(enc["attention_mask"]))
        clean = torch.log_softmax(model(**kwargs).logits.float(), -1)
        batch = {**enc, "example_index": torch.arange(start, start + len(enc["input_ids"]))}
        with intervention.applied(batch):
            edited = torch.log_softmax(model(**kwargs).logits.float(), -1)
        kl = (clean.exp() * (clean - edited)).sum(-1)
        keep = enc["attention_mask"].bool()
        total += float(kl[keep].sum())
        count += int(keep.sum())
    return total / max(count, 1)
