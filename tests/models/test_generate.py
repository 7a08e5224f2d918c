"""Batched greedy generation: stops at the statement's end, and batching (its order, its size, rows
leaving a batch as they finish) changes nothing."""

import copy

import pytest
import torch

from causalgear.data.loading import load_split
from causalgear.interventions.types import Intervention
from causalgear.models.generate import cut_statement, generate_sql
from causalgear.models.site import Site


def test_a_statement_ends_at_semicolon_newline_or_a_new_section():
    assert cut_statement("SELECT a FROM t; DROP TABLE t") == "SELECT a FROM t"
    assert cut_statement("SELECT a FROM t\nmore") == "SELECT a FROM t"
    assert cut_statement(" SELECT a FROM t ### Instruction: x") == "SELECT a FROM t"
    assert cut_statement("SELECT a FROM t") == "SELECT a FROM t"


def test_batches_of_different_prompt_lengths_match_one_at_a_time(smoke_model):
    cfg, model, tokenizer = smoke_model
    examples = load_split(cfg, "test")[::97][:6]
    prompts = [e.prompt for e in examples]
    assert len({len(tokenizer(p).input_ids) for p in prompts}) > 1  # really different lengths
    batched = generate_sql(model, tokenizer, prompts, max_new_tokens=24, batch_size=6)
    alone = [generate_sql(model, tokenizer, [p], max_new_tokens=24)[0] for p in prompts]
    assert batched == alone


def test_generation_stops_within_the_token_budget(smoke_model):
    cfg, model, tokenizer = smoke_model
    prompts = [e.prompt for e in load_split(cfg, "test")[:4]]
    for sql in generate_sql(model, tokenizer, prompts, max_new_tokens=5):
        assert len(tokenizer(sql).input_ids) <= 5
        assert ";" not in sql and "\n" not in sql and "###" not in sql


def _edits(model, n: int) -> dict:
    """Interventions of every kind a generation meets: at every position, per example (the rows a
    batch drops must still get their own edit), several stacked in one list, at the input."""
    from causalgear.interventions.types import AddDirection, AddPerExample, EmbeddingPerturbation, Stacked

    site, d = Site(model, 1), model.config.hidden_size
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(n, d, generator=g)
    half = n // 2
    return {
        "none": Intervention(),
        "every position": AddDirection(site, torch.randn(d, generator=g), 0.1),
        "per example": AddPerExample(site, vectors, 2.0),
        "stacked": Stacked([AddPerExample(site, vectors[:half], 4.0), AddDirection(site, vectors[0], 1.0)],
                           [half, n - half]),
        "inputs": EmbeddingPerturbation(model.get_input_embeddings(), [], lambda i: 0.0),
    }


def _ending_at_different_steps(tokenizer, rows: list[list[int]]):
    """A copy of `tokenizer` whose EOS is a token these outputs first write at different steps (a
    random model's outputs never end on their own)."""
    firsts: dict[int, set[int]] = {}
    for row in rows:
        for step, token in enumerate(row):
            firsts.setdefault(token, set())
            if step == row.index(token):
                firsts[token].add(step)
    token = max(firsts, key=lambda t: (len(firsts[t]), -t))
    ending = copy.deepcopy(tokenizer)
    ending.eos_token = ending.convert_ids_to_tokens(token)
    return ending


@pytest.mark.parametrize("edit", ["none", "every position", "per example", "stacked", "inputs"])
def test_the_greedy_loop_writes_what_model_generate_writes(tiny_qwen2, edit):
    """Rows leave the batch as they finish; each one's tokens are still model.generate's."""
    from causalgear.models.generate import _generate, _greedy

    model, tokenizer = tiny_qwen2
    prompts = ["SELECT a FROM t", "SELECT price FROM items ORDER BY price DESC", "SELECT name FROM items",
               "SELECT COUNT(x) FROM y WHERE z > 3", "SELECT b, c FROM d", "SELECT MAX(e) FROM f",
               "SELECT g FROM h ORDER BY g", "SELECT i FROM j WHERE k = 'l'"]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    batch = {**batch, "example_index": torch.arange(len(prompts))}
    intervention = _edits(model, len(prompts))[edit]
    if edit == "inputs":  # a push on the prompt's input embeddings, different per example
        ids = [tokenizer(p).input_ids for p in prompts]
        intervention.prompt_ids = ids
        intervention.delta = lambda i: 0.3 * torch.randn(len(ids[i]), model.config.hidden_size,
                                                         generator=torch.Generator().manual_seed(i))
    with intervention.applied(batch):
        embeds = intervention.inputs_embeds(batch)
        ending = _ending_at_different_steps(tokenizer, _generate(model, tokenizer, batch, embeds, 24, None,
                                                                 None).tolist())
        ours = _greedy(model, ending, batch, embeds, 24)
        theirs = _generate(model, ending, batch, embeds, 24, None, None)
    text = [cut_statement(t) for t in ending.batch_decode(ours, skip_special_tokens=True)]
    assert text == [cut_statement(t) for t in ending.batch_decode(theirs, skip_special_tokens=True)]
    assert len({len(t) for t in ours}) > 1  # rows really left the batch at different steps


def test_generation_is_in_prompt_order_whatever_order_it_batches_in(smoke_model):
    cfg, model, tokenizer = smoke_model
    prompts = [e.prompt for e in load_split(cfg, "test")[::11][:8]]
    forward = generate_sql(model, tokenizer, prompts, max_new_tokens=24, batch_size=3)
    assert generate_sql(model, tokenizer, prompts[::-1], max_new_tokens=24, batch_size=3) == forward[::-1]


def test_a_generation_config_that_asks_for_more_than_the_argmax_goes_through_generate(tiny_qwen2):
    from causalgear.models.generate import _plain_greedy

    model, _ = tiny_qwen2
    assert _plain_greedy(model)
    config = model.generation_config
    try:
        config.repetition_penalty = 1.1
        assert not _plain_greedy(model)
    finally:
        config.repetition_penalty = 1.0


def test_a_prompt_that_does_not_fit_the_context_is_refused_before_any_forward_pass(tiny_qwen2):
    from causalgear.errors import CausalgearError
    from causalgear.models.generate import generate_sql

    model, tokenizer = tiny_qwen2
    fits, long = "show the name from people", "show the name from people " * 200
    assert model.config.max_position_embeddings == 512 and len(tokenizer(long).input_ids) > 512
    assert len(generate_sql(model, tokenizer, [fits], max_new_tokens=4)) == 1
    with pytest.raises(CausalgearError, match=r"the prompt 'show the name.*is \d+ tokens plus 4 to generate, longer "
                                              r"than the model's context of 512 tokens"):
        generate_sql(model, tokenizer, [fits, long], max_new_tokens=4)
