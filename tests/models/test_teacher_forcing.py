"""Teacher-forced loss on the gold SQL: the SQL positions alone are projected to the vocabulary
where that gives the model's own logits there, and the whole output is read where it does not."""

import copy

import torch

from causalgear.data.examples import Example
from causalgear.models.teacher_forcing import head_of_hidden, prompt_sql_batch, sql_cross_entropy


def _examples() -> list[Example]:
    rows = [("CREATE TABLE items (name TEXT, price REAL)", "cheapest item?",
             "SELECT name FROM items ORDER BY price LIMIT 1"),
            ("CREATE TABLE t (a TEXT)", "all a?", "SELECT a FROM t"),
            ("CREATE TABLE f (e INTEGER)", "the largest e of all the rows in f, please?", "SELECT MAX(e) FROM f")]
    return [Example(str(i), "test", "g", "x", question, context, sql, "")
            for i, (context, question, sql) in enumerate(rows)]


def _whole_output_loss(model, ids, mask, labels, reduction):
    from causalgear.models.site import position_ids

    logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits[:, :-1]
    keep = labels[:, 1:] != -100
    return torch.nn.functional.cross_entropy(logits[keep].float(), labels[:, 1:][keep], reduction=reduction)


def test_the_sql_positions_alone_give_the_loss_of_the_whole_output(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask, labels = prompt_sql_batch(tokenizer, _examples(), "cpu")
    assert head_of_hidden(model)
    for reduction in ("mean", "sum"):
        ours = sql_cross_entropy(model, ids, mask, labels, reduction)
        assert torch.allclose(ours, _whole_output_loss(model, ids, mask, labels, reduction), rtol=1e-6)


def test_logits_changed_after_the_projection_are_read_whole(tiny_qwen2):
    model, tokenizer = copy.deepcopy(tiny_qwen2[0]), tiny_qwen2[1]
    # a soft cap on the logits (as some families apply after the projection)
    model.register_forward_hook(lambda _m, _i, out: out.__class__(**{**out, "logits": 3 * torch.tanh(out.logits)}))
    ids, mask, labels = prompt_sql_batch(tokenizer, _examples(), "cpu")
    assert not head_of_hidden(model)
    assert torch.allclose(sql_cross_entropy(model, ids, mask, labels),
                          _whole_output_loss(model, ids, mask, labels, "mean"), rtol=1e-6)
