"""Counterfactual pairs: the source prompt says the other value, the counterfactual gold is the base
SQL with exactly that value swapped, and the two prompts align token for token."""

import random

import pytest

from causalgear.data import tinysql
from causalgear.data.components import components
from causalgear.data.examples import Example
from causalgear.data.pairs import ATTRIBUTES, example_pairs, make_pairs
from causalgear.interventions.cause_isolate import swap_of


def example(question, sql, context="CREATE TABLE pets (name TEXT, age INTEGER, weight REAL)"):
    return Example("t-1", "test", "CS2", "db", question, context, sql, "/nowhere")


def pairs_of(smoke_model, ex, attribute):
    _, _, tokenizer = smoke_model
    return example_pairs(tokenizer, ex, attribute, random.Random(0))


def test_order_direction_swaps_the_words_and_the_direction(smoke_model):
    ex = example("list name of all pets sorted by age ascending", "SELECT name FROM pets ORDER BY age ASC")
    [pair] = pairs_of(smoke_model, ex, "order_direction")
    assert pair.counterfactual.sql == "SELECT name FROM pets ORDER BY age DESC"
    assert "sorted by age descending" in pair.source_prompt and pair.source_prompt == pair.counterfactual.prompt
    _, _, tokenizer = smoke_model
    base, source = tokenizer(ex.prompt).input_ids, tokenizer(pair.source_prompt).input_ids
    first, last = pair.span
    assert len(base) == len(source)
    assert [i for i in range(len(base)) if base[i] != source[i]] == list(range(first, last + 1))
    [pair] = pairs_of(smoke_model, example("show name of all pets ordered by age from highest to lowest",
                                           "SELECT name FROM pets ORDER BY age DESC"), "order_direction")
    assert pair.counterfactual.question.endswith("from lowest to highest") and pair.counterfactual.sql.endswith("ASC")


def test_aggregate_swaps_the_function_its_alias_and_respects_text_fields(smoke_model):
    pairs = pairs_of(smoke_model, example("what is the average weight in the pets table",
                                          "SELECT AVG(weight) AS avg_weight FROM pets"), "aggregate")
    assert pairs, "a numeric field can swap AVG for MIN, MAX, SUM"
    words = {"maximum": "MAX", "highest": "MAX", "largest": "MAX", "minimum": "MIN", "lowest": "MIN",
             "smallest": "MIN", "total": "SUM"}
    for pair in pairs:
        func = next(f for w, f in words.items() if f"the {w} weight" in pair.counterfactual.question)
        assert pair.counterfactual.sql == f"SELECT {func}(weight) AS {func.lower()}_weight FROM pets"
    text = pairs_of(smoke_model, example("compute the lowest name over pets", "SELECT MIN(name) AS min_name FROM pets"),
                    "aggregate")
    assert {swap_of(p) for p in text} <= {("MIN", "MAX")}  # no AVG or SUM of a text field
    two = example("compute the lowest age and the average weight over pets",
                  "SELECT MIN(age) AS min_age, AVG(weight) AS avg_weight FROM pets")
    assert pairs_of(smoke_model, two, "aggregate") == []  # one word could not say which aggregate moved


def test_where_operator_swaps_only_the_operator(smoke_model):
    ex = example("show name of all pets whose age is at least 3", "SELECT name FROM pets WHERE age >= 3")
    pairs = pairs_of(smoke_model, ex, "where_operator")
    assert {p.counterfactual.sql for p in pairs} <= {"SELECT name FROM pets WHERE age <= 3",
                                                     "SELECT name FROM pets WHERE age > 3",
                                                     "SELECT name FROM pets WHERE age < 3"}
    assert "SELECT name FROM pets WHERE age <= 3" in {p.counterfactual.sql for p in pairs}


def test_generated_pairs_change_their_attribute_and_nothing_else(smoke_model):
    """On TinySQL's own questions: the counterfactual gold differs from the base gold in the
    attribute's component only, and the source prompt asks for exactly that value."""
    _, _, tokenizer = smoke_model
    schemas = tinysql.make_schemas(0, 30)
    rng = random.Random(0)
    examples = []
    for i in range(300):
        schema, cs = rng.choice(schemas), rng.choice(("CS2", "CS3", "CS4"))
        question, sql = tinysql.make_example(rng, schema, cs, "train", 0)
        examples.append(Example(f"x-{i}", "test", cs, schema.db_id, question, schema.create_table, sql, "/nowhere"))
    for attribute in ATTRIBUTES:
        pairs = make_pairs(tokenizer, examples, attribute, 1000, seed=0, every_swap=True)
        assert len(pairs) >= 10, attribute
        for p in pairs:
            base, cf = components(p.base.sql), components(p.counterfactual.sql)
            assert {c for c in base if base[c] != cf[c]} == {attribute}, (p.base.sql, p.counterfactual.sql)
            assert len(tokenizer(p.base.prompt).input_ids) == len(tokenizer(p.source_prompt).input_ids)
        once = make_pairs(tokenizer, examples, attribute, 1000, seed=0)
        assert len({p.base.id for p in once}) == len(once) <= len(pairs)


def test_an_unknown_attribute_is_refused():
    with pytest.raises(ValueError, match="order_direction"):
        example_pairs(None, example("q", "SELECT a FROM t"), "table", random.Random(0))
