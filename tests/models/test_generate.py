"""Batched greedy generation: stops at the statement's end, and batching changes nothing."""

from causalgear.data.loading import load_split
from causalgear.models.generate import cut_statement, generate_sql


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
