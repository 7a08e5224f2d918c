"""The trained steering vector: trained on selection prompts' gold SQL alone, it raises that SQL's
log-likelihood, and the same seed gives the same vector."""

import torch

from causalgear.data.loading import load_split
from causalgear.models.teacher_forcing import prompt_sql_batch, sql_loss_sum
from causalgear.preflight import compose
from causalgear.steering.methods.trained_vector import train_vector
from causalgear.workbench import Workbench


def test_the_trained_vector_raises_the_gold_sql_likelihood_it_was_trained_on(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    examples = load_split(bench.cfg, "validation")[:16]
    v = train_vector(bench.model, bench.tokenizer, bench.site, examples, "all", steps=30, lr=0.05, seed=0)
    again = train_vector(bench.model, bench.tokenizer, bench.site, examples, "all", steps=30, lr=0.05, seed=0)
    assert torch.equal(v, again) and float(v.norm()) > 0
    ids, mask, labels = prompt_sql_batch(bench.tokenizer, examples, bench.model.device)
    before = sql_loss_sum(bench.model, ids, mask, labels)
    with bench.site.edit(lambda h: h + v.to(h.dtype)):
        after = sql_loss_sum(bench.model, ids, mask, labels)
    assert after < before
    assert all(not p.requires_grad for p in bench.model.parameters())  # the model stays frozen


def test_at_prompt_positions_the_gold_sql_s_own_positions_are_never_edited(smoke_sae):
    overrides, _ = smoke_sae
    bench = Workbench.load(compose(overrides, stage="steer"), "steer")
    examples = load_split(bench.cfg, "validation")[:8]
    v = train_vector(bench.model, bench.tokenizer, bench.site, examples, "prompt", steps=5, lr=0.05, seed=0)
    ids, mask, _ = prompt_sql_batch(bench.tokenizer, examples, bench.model.device)
    from causalgear.steering.methods.trained_vector import _prompt_mask

    where = _prompt_mask(bench.tokenizer, examples, ids) & mask.bool()
    with bench.site.read() as plain:
        bench.model(input_ids=ids, attention_mask=mask)
    with bench.site.edit(lambda h: h + v.to(h.dtype), where), bench.site.read() as edited:
        bench.model(input_ids=ids, attention_mask=mask)
    moved = (edited["h"] - plain["h"]).abs().sum(-1) > 0
    assert torch.equal(moved, where)
