"""At a large vocabulary a batch's full logits (rows x positions x vocabulary) outgrow the model:
generation and the teacher-forced scores project to the vocabulary only the positions they read."""

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from causalgear.data.examples import Example
from causalgear.models.generate import generate_sql
from causalgear.models.teacher_forcing import head_of_hidden, prompt_sql_batch, sql_cross_entropy, sql_logprobs
from causalgear.models.tokenizer import train_tokenizer
from tests.conftest import TEXTS

VOCAB = 65536  # the tokenizer knows a few hundred of them; the head is as wide as a real model's


@pytest.fixture(scope="module")
def wide_head():
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TEXTS * 5, vocab_size=300)
    config = Qwen2Config(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    return Qwen2ForCausalLM(config).eval(), tokenizer


def projected_rows(model, run) -> list[int]:
    """The number of positions each call of the output embedding projects while `run()` runs."""
    rows: list[int] = []
    hook = model.get_output_embeddings().register_forward_hook(
        lambda _m, args, _out: rows.append(args[0].numel() // args[0].shape[-1]))
    try:
        run()
    finally:
        hook.remove()
    return rows


def _examples() -> list[Example]:
    rows = [("CREATE TABLE items (name TEXT, price REAL)", "list price of items sorted by price descending",
             "SELECT price FROM items ORDER BY price DESC"),
            ("CREATE TABLE people (name TEXT, age INTEGER)", "show the name and age from people",
             "SELECT name, age FROM people")]
    return [Example(str(i), "test", "g", "x", q, c, sql, "") for i, (c, q, sql) in enumerate(rows)]


def test_the_teacher_forced_loss_and_likelihood_project_only_the_sql_positions(wide_head):
    model, tokenizer = wide_head
    ids, mask, labels = prompt_sql_batch(tokenizer, _examples(), "cpu")
    n_sql = int((labels != -100).sum())
    assert head_of_hidden(model)  # its own probing pass, on a short input, is not counted below
    assert n_sql < int(mask.sum()) // 2  # most positions are the prompt's
    with torch.no_grad():
        assert projected_rows(model, lambda: sql_cross_entropy(model, ids, mask, labels)) == [n_sql]
        assert projected_rows(model, lambda: sql_logprobs(model, ids, mask, labels)) == [n_sql]


def test_each_row_s_summed_likelihood_is_the_whole_output_s(wide_head):
    model, tokenizer = wide_head
    ids, mask, labels = prompt_sql_batch(tokenizer, _examples(), "cpu")
    from causalgear.models.site import position_ids

    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits[:, :-1]
        target = labels[:, 1:]
        logp = torch.log_softmax(logits.float(), -1).gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        whole = (logp * (target != -100)).sum(-1)
        assert torch.allclose(sql_logprobs(model, ids, mask, labels), whole, rtol=1e-5)


@pytest.mark.parametrize("path", ["greedy", "generate"])
def test_generation_projects_one_position_per_row_per_step(wide_head, path):
    model, tokenizer = wide_head
    prompts = [e.prompt for e in _examples()] * 2
    # a time limit sends generation through `model.generate` (the service's path)
    max_time = 600.0 if path == "generate" else None
    rows = projected_rows(model, lambda: generate_sql(model, tokenizer, prompts, max_new_tokens=5, batch_size=4,
                                                      max_time=max_time))
    assert rows and max(rows) <= len(prompts)


def test_the_prompt_kl_holds_a_few_prompts_distributions_at_a_time_and_is_the_whole_batch_s(wide_head):
    from causalgear.interventions.measures import KL_ROWS, prompt_kl
    from causalgear.interventions.types import AddDirection
    from causalgear.models.site import Site, position_ids

    model, tokenizer = wide_head
    examples = _examples() * 5  # 10 prompts: chunks of KL_ROWS, the last one short
    edit = AddDirection(Site(model, 0), torch.ones(model.config.hidden_size), alpha=0.5)
    head_of_hidden(model)
    rows = projected_rows(model, lambda: prompt_kl(tokenizer, examples, edit, model))
    width = max(len(tokenizer(e.prompt).input_ids) for e in examples)
    assert max(rows) <= KL_ROWS * width < len(examples) * width
    with torch.no_grad():  # the whole batch's distributions at once, as a reference
        enc = tokenizer([e.prompt for e in examples], return_tensors="pt", padding=True, padding_side="right")
        kwargs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                      position_ids=position_ids(enc["attention_mask"]))
        clean = torch.log_softmax(model(**kwargs).logits.float(), -1)
        with edit.applied({**enc, "example_index": torch.arange(len(examples))}):
            edited = torch.log_softmax(model(**kwargs).logits.float(), -1)
        kl = (clean.exp() * (clean - edited)).sum(-1)[enc["attention_mask"].bool()]
    assert prompt_kl(tokenizer, examples, edit, model) == pytest.approx(float(kl.mean()), rel=1e-5)
    assert float(kl.mean()) > 0
