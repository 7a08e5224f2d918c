"""Ground-truth concepts: every token of two full examples against labels written by hand, and the
generator's phrasings all found."""

import pytest

from causalgear.data.concepts import BIT, CONCEPTS, SQL_CONCEPTS, prompt_spans, sql_parts, sql_spans
from causalgear.data.examples import Example
from causalgear.harvest.run import label_tokens

Q, S, SQL = "question.", "schema.", "sql."
WHERE_ORDER = [  # (text, its concepts): the pieces add up to prompt + SQL exactly
    ("### Instruction: show the ", ()), ("name", (Q + "field.selected",)), (" and ", ()),
    ("age years", (Q + "field.selected",)), (" from ", ()), ("pets", (Q + "table",)), (" where age_years ", ()),
    ("is at least", (Q + "where.op.ge",)), (" ", ()), ("3", (Q + "literal",)), (" ", ()),
    ("sorted by", (Q + "order.desc",)), (" name ", ()), ("descending", (Q + "order.desc",)),
    (" ### Context: CREATE TABLE ", ()), ("pets", (S + "table",)), (" (", ()),
    ("name", (S + "field", S + "field.is_selected")), (" ", ()), ("TEXT", (S + "type",)), (", ", ()),
    ("age_years", (S + "field", S + "field.is_selected")), (" ", ()), ("INTEGER", (S + "type",)), (", ", ()),
    ("city", (S + "field",)), (" ", ()), ("TEXT", (S + "type",)), (") ### Response: ", ()),
    ("SELECT", (SQL + "select",)), (" ", ()), ("name", (SQL + "field",)), (", ", ()), ("age_years", (SQL + "field",)),
    (" ", ()), ("FROM", (SQL + "from",)), (" ", ()), ("pets", (SQL + "table",)), (" ", ()), ("WHERE", (SQL + "where",)),
    (" ", ()), ("age_years", (SQL + "field",)), (" ", ()), (">=", (SQL + "operator",)), (" ", ()),
    ("3", (SQL + "literal",)), (" ", ()), ("ORDER BY", (SQL + "order_by",)), (" ", ()), ("name", (SQL + "field",)),
    (" ", ()), ("DESC", (SQL + "direction.desc",)),
]
AGGREGATES = [
    ("### Instruction: what is ", ()), ("the number of", (Q + "agg.count",)), (" ", ()),
    ("city", (Q + "field.selected",)), (" and ", ()), ("the highest", (Q + "agg.max",)), (" ", ()),
    ("age_years", (Q + "field.selected",)), (" in the ", ()), ("pets", (Q + "table",)), (" table", ()),
    (" ### Context: CREATE TABLE ", ()), ("pets", (S + "table",)), (" (", ()),
    ("city", (S + "field", S + "field.is_selected")), (" ", ()), ("TEXT", (S + "type",)), (", ", ()),
    ("age_years", (S + "field", S + "field.is_selected")), (" ", ()),
    ("INTEGER", (S + "type",)), (") ### Response: ", ()),
    ("SELECT", (SQL + "select",)), (" ", ()), ("COUNT", (SQL + "agg.count",)), ("(", ()), ("city", (SQL + "field",)),
    (") AS count_city, ", ()), ("MAX", (SQL + "agg.max",)), ("(", ()), ("age_years", (SQL + "field",)),
    (") AS max_age_years ", ()), ("FROM", (SQL + "from",)), (" ", ()), ("pets", (SQL + "table",)),
]


def example(pieces) -> Example:
    text = "".join(t for t, _ in pieces)
    prompt, sql = text.split("### Response: ")
    question = prompt.removeprefix("### Instruction: ").split(" ### Context: ")[0]
    context = prompt.split("### Context: ")[1].rstrip()
    return Example(id="x", split="test", group="CS4", db_id="d", question=question, context=context, sql=sql,
                   db_dir="")


@pytest.mark.parametrize(("pieces", "whole"), [(WHERE_ORDER, {"seq.cs4", "seq.desc"}),
                                               (AGGREGATES, {"seq.cs3", "seq.agg.count", "seq.agg.max"})],
                         ids=["where-order", "aggregates"])
def test_every_token_of_an_example_carries_the_concepts_written_by_hand(tiny_qwen2, pieces, whole):
    """`whole`: what the example asks for as a whole, which every one of its tokens carries."""
    _, tokenizer = tiny_qwen2
    ex = example(pieces)
    assert ex.prompt + ex.sql == "".join(t for t, _ in pieces)
    text = ex.prompt + ex.sql
    per_char = [set(c) if not ch.isspace() else set() for (t, c) in pieces for ch in t]
    ids, _, _, masks = label_tokens(tokenizer, ex)
    at = 0
    for token, mask in zip(ids, masks, strict=True):
        token_text = tokenizer.decode([token])
        expected = set().union(*per_char[at:at + len(token_text)]) | whole
        got = {c for c in CONCEPTS if mask & BIT[c]}
        assert got == expected, (token_text, at)
        at += len(token_text)
    assert at == len(text)


def test_the_sql_parts_come_from_the_parser():
    parts = sql_parts("SELECT COUNT(city) AS count_city, name FROM pets WHERE age >= 3 ORDER BY name")
    assert (parts.table, parts.fields, parts.aggregates) == ("pets", ("name",), (("count", "city"),))
    assert parts.where == ("age", ">=", "3") and parts.order == ("name", "ASC")  # ASC by default
    assert sql_parts("SELECT a FROM t WHERE b != 'x y'").where == ("b", "!=", "'x y'")


def test_spider_prompts_carry_the_sql_concepts_only():
    assert prompt_spans("How many singers are there?", "CREATE TABLE singer (id INT)", "SELECT count(*) FROM singer",
                        tinysql=False) == []
    assert {c for *_, c in sql_spans("SELECT count(*) FROM singer AS T1 WHERE T1.age > 20")} <= set(SQL_CONCEPTS)


def test_every_phrasing_of_the_generator_is_found(tmp_path):
    """On a few hundred generated questions of every split, each concept the gold SQL implies is
    found in the question (the ood phrasings included)."""
    from causalgear.data.loading import load_split
    from causalgear.preflight import compose

    cfg = compose([f"paths.cache_dir={tmp_path}", "data.n_train_per_set=50", "data.n_schemas=30"])
    for split in ("train", "test", "test_ood", "test_shift.order", "test_shift.operator"):
        for e in load_split(cfg, split):
            parts, found = sql_parts(e.sql), {c for *_, c in prompt_spans(e.question, e.context, e.sql, True)}
            wanted = {Q + "table", Q + "field.selected"}
            wanted |= {f"{Q}order.{parts.order[1].lower()}" for _ in [parts.order] if parts.order}
            wanted |= {Q + "literal"} if parts.where else set()
            wanted |= {f"{Q}agg.{f}" for f, _ in parts.aggregates}
            assert wanted <= found, (split, e.question, e.sql, wanted - found)
