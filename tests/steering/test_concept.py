"""Concept steering's judges and score (AxBench's form, deterministic judges), and the stage on the smoke model."""

import re
import sqlite3

import numpy as np
import pytest
import torch

from causalgear.config import ConfigError
from causalgear.data.components import components
from causalgear.data.examples import Example
from causalgear.data.loading import load_split
from causalgear.data.sqlexec import DEFAULT_BUDGET
from causalgear.preflight import compose, validate
from causalgear.results import to_json
from causalgear.steering.concepts.context import moved_latents
from causalgear.steering.concepts.judges import harmonic, has_value, judges
from causalgear.steering.concepts.spans import attribute_span, value_span
from causalgear.steering.concepts.steer import concept_steering
from causalgear.workbench import Workbench
from tests.conftest import SMOKE_SMALL


@pytest.fixture
def scores_db(tmp_path):
    db = tmp_path / "scores"
    db.mkdir()
    with sqlite3.connect(db / "scores.sqlite") as con:
        con.execute("CREATE TABLE scores (name TEXT, points INTEGER, age INTEGER)")
        con.executemany("INSERT INTO scores VALUES (?, ?, ?)", [("a", 3, 30), ("b", 1, 20), ("c", 2, 25)])
    return db


def example(db, sql: str) -> Example:
    return Example("x", "test", "CS2", "scores", "q", "CREATE TABLE scores (name TEXT, points INTEGER)", sql, str(db))


@pytest.mark.parametrize(("pred", "expected"), [
    ("SELECT name FROM scores ORDER BY points DESC", (1, 1, 1)),  # forced, the rest kept, runs
    ("SELECT name FROM scores ORDER BY points ASC", (0, 1, 1)),  # not forced
    ("SELECT name FROM scores ORDER BY age DESC", (1, 0, 1)),  # forced, but another component moved
    ("SELECT name FROM scores ORDER BY nothing DESC", (1, 0, 0)),  # does not execute
    ("SELECT name FROM", (0, 0, 0)),  # does not parse
])
def test_the_three_judges_of_forcing_desc(scores_db, pred, expected):
    gold = example(scores_db, "SELECT name FROM scores ORDER BY points ASC")
    assert judges(gold, pred, "order_direction", "DESC", DEFAULT_BUDGET) == expected


def test_forcing_an_aggregate_turns_every_function_and_keeps_the_arguments(scores_db):
    gold = example(scores_db, "SELECT AVG(points), MIN(age) FROM scores")
    assert has_value(components(gold.sql), "aggregate", "MAX") is False
    assert has_value(components(gold.sql), "order_direction", "ASC") is None  # no ORDER BY to force
    assert judges(gold, "SELECT MAX(points), MAX(age) FROM scores", "aggregate", "MAX", DEFAULT_BUDGET) == (1, 1, 1)
    assert judges(gold, "SELECT MAX(points), MIN(age) FROM scores", "aggregate", "MAX", DEFAULT_BUDGET)[0] == 0
    assert judges(gold, "SELECT MAX(age), MAX(points) FROM scores", "aggregate", "MAX", DEFAULT_BUDGET) == (1, 1, 1)


def test_the_score_is_the_harmonic_mean_and_zero_when_any_judge_is_zero():
    c, i, f = np.array([1, 1, 0, 1]), np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])
    assert harmonic(c, i, f).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert harmonic(np.array([0.5]), np.array([1.0]), np.array([1.0]))[0] == pytest.approx(3 / (2 + 1 + 1))


def test_a_target_that_cannot_be_forced_is_refused():
    with pytest.raises(ConfigError, match="steering.concepts.targets='order_direction:UP'"):
        validate(compose(["steering.concepts.targets=[order_direction:UP]"]))
    with pytest.raises(ConfigError, match=re.escape("aggregate:COUNT|SUM|AVG|MIN|MAX")):
        validate(compose(["steering.concepts.targets=[colour:RED]"]))


def test_concept_steering_chooses_on_validation_and_reports_each_method(smoke_sae):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "data.n_validation_per_set=8", "steering.concepts.targets=[order_direction:DESC]",
                   "steering.concepts.prompts=4", "steering.concepts.latents=2", "steering.methods.alphas=[1.0,4.0]",
                   "steering.methods.clamps=[3.0]"], stage="steer")
    result = to_json(concept_steering(Workbench.load(cfg, "steer"), 0))["order_direction:DESC"]
    assert result["n_select"] == 4 and result["n_test"] <= 4 and len(result["candidate_latents"]) == 2
    at_every_position = {"clamp", "additive", "diffmean", "random_direction"}
    at_the_words = {"diffmean_at_span", "clamp_at_span", "additive_at_span", "patch_at_span"}
    assert set(result["methods"]) == {"none"} | at_every_position | at_the_words
    through_sae = {"clamp", "additive", "clamp_at_span", "additive_at_span", "patch_at_span"}
    assert {n for n, m in result["methods"].items() if "twin" in m} == through_sae  # the SAE's random twin
    entries = [(n, m) for n, m in result["methods"].items()] + \
        [(n, m["twin"]) for n, m in result["methods"].items() if "twin" in m]
    for name, m in entries:
        t = m["test"]
        assert all(0 <= t[k] <= 1 for k in ("concept", "instruction", "fluency"))
        assert t["score"]["n"] == result["n_test"] and t["score"]["rate"] <= min(t["concept"], t["instruction"],
                                                                                   t["fluency"])
        if name == "none":
            assert m["scale"] == 0.0
            continue
        kind = name.removesuffix("_at_span")
        grid = {"clamp": 2 * 1, "additive": 2 * 2, "patch": 3}.get(kind, 2)
        assert len(m["selection_curve"]) == grid
        best = max(c["score"] for c in m["selection_curve"] if not c.get("pruned"))  # halving: half-scored
        assert m["selection_score"] == best
        assert (m["latent"] is None) == (kind not in ("clamp", "additive"))
        if kind == "patch":  # the latents it moves, each differing by at least patch_share of the largest
            assert m["moved_latents"] and len(set(m["moved_latents"])) == len(m["moved_latents"])


def test_the_span_is_the_words_that_say_the_value(smoke_model):
    cfg, _, tokenizer = smoke_model
    examples = [e for e in load_split(compose(["model=tinysql_smoke", f"paths.cache_dir={cfg.paths.cache_dir}",
                                               *SMOKE_SMALL]), "train") if " ORDER BY " in e.sql][:20]
    assert examples
    for e in examples:
        span = attribute_span(tokenizer, e, "order_direction")
        ids = tokenizer(e.prompt, add_special_tokens=False).input_ids
        said = tokenizer.decode([ids[i] for i in span])
        words = ("ascending", "descending", "increasing", "decreasing", "lowest to highest", "highest to lowest",
                 "smallest first", "largest first")
        assert any(w in e.question and said.strip() and said.strip() in w for w in words) or not len(span), (said, e)
    assert any(len(attribute_span(tokenizer, e, "order_direction")) for e in examples)


def said(tokenizer, example, attribute: str) -> str:
    ids = tokenizer(example.prompt, add_special_tokens=False).input_ids
    return tokenizer.decode([ids[i] for i in value_span(tokenizer, example, attribute)]).strip()


def test_without_an_equal_length_swap_the_span_is_every_phrase_that_says_a_value(smoke_model):
    _, _, tokenizer = smoke_model
    two = Example("x", "test", "CS2", "t", "display the sum of latitude and the smallest tier from factories",
                  "CREATE TABLE factories (latitude REAL, tier TEXT)",
                  "SELECT SUM(latitude) AS sum_latitude, MIN(tier) AS min_tier FROM factories", "db")
    assert not len(attribute_span(tokenizer, two, "aggregate"))  # two aggregates: no swap says which
    words = said(tokenizer, two, "aggregate")
    assert "sum of" in words and "smallest" in words and "the" not in words.split() and "tier" not in words
    count = Example("y", "test", "CS2", "t", "compute the count of mode over paintings",
                    "CREATE TABLE paintings (mode TEXT)", "SELECT COUNT(mode) AS count_mode FROM paintings", "db")
    assert said(tokenizer, count, "aggregate") == "count of"
    one = Example("z", "test", "CS2", "t", "sorted by price descending", "CREATE TABLE t (price REAL)",
                  "SELECT price FROM t ORDER BY price DESC", "db")
    swap = attribute_span(tokenizer, one, "order_direction")
    assert len(swap) and torch.equal(value_span(tokenizer, one, "order_direction"), swap)  # the interchange's


def test_a_patch_moves_the_latents_that_differ_most_both_ways():
    delta = torch.tensor([0.05, -2.0, 1.0, 0.3, 0.0])
    assert moved_latents(delta, 0.1) == [1, 2, 3]  # the "off" latent of the other values too
    assert moved_latents(delta, 1.0) == [1]
    assert moved_latents(torch.zeros(3), 0.1) == []


def test_span_only_steering_has_only_the_at_span_methods(smoke_sae):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "data.n_validation_per_set=8", "steering.concepts.targets=[order_direction:ASC]",
                   "steering.concepts.prompts=3", "steering.concepts.latents=1", "steering.methods.alphas=[2.0]",
                   "steering.methods.clamps=[3.0]", "steering.concepts.methods.all=[]",
                   "causal.random_sae=false"],
                  stage="steer")
    result = to_json(concept_steering(Workbench.load(cfg, "steer"), 0))["order_direction:ASC"]
    assert set(result["methods"]) == {"none", "diffmean_at_span", "clamp_at_span", "additive_at_span",
                                      "patch_at_span"}


def test_concept_positions_are_checked():
    with pytest.raises(Exception, match="everywhere"):  # where a method acts: all or span, nothing else
        validate(compose(["steering.concepts.methods={everywhere:[clamp]}"]))
    with pytest.raises(ConfigError, match="steering.concepts.methods"):
        validate(compose(["steering.concepts.methods.all=[]", "steering.concepts.methods.span=[]"]))
    with pytest.raises(ConfigError, match=r"steering.concepts.methods.span\[1\]='clamps'.*one of grains"):
        validate(compose(["steering.concepts.methods={span:[clamp,clamps]}"]))
    with pytest.raises(ConfigError, match=r"steering.concepts.patch_share=1.5.*a share above 0, at most 1"):
        validate(compose(["steering.concepts.patch_share=1.5"]))
    with pytest.raises(ConfigError, match=r"steering.concepts.patch=\[0.0\]"):
        validate(compose(["steering.concepts.patch=[0.0]"]))



@pytest.mark.parametrize(("sql", "component", "value", "forced"), [
    ("SELECT a FROM t ORDER BY b DESC", "order_direction", "ASC", "SELECT a FROM t ORDER BY b ASC"),
    ("SELECT a FROM t ORDER BY b", "order_direction", "DESC", "SELECT a FROM t ORDER BY b DESC"),
    ("SELECT AVG(b) AS avg_b, MIN(c) AS min_c FROM t WHERE d = 1", "aggregate", "MAX",
     "SELECT MAX(b) AS max_b, MAX(c) AS max_c FROM t WHERE d = 1"),
    ("SELECT a FROM t", "order_direction", "ASC", None),  # no ORDER BY to turn
    ("SELECT a FROM t", "where_operator", ">", None),  # a component training does not rewrite
])
def test_training_s_gold_sql_has_the_value_forced_in_and_nothing_else_moved(sql, component, value, forced):
    from causalgear.steering.concepts.forced import forced_sql

    assert forced_sql(sql, component, value) == forced


def test_trained_concept_steering_reports_a_vector_the_sae_s_latents_and_their_twin(smoke_sae):
    overrides, _ = smoke_sae
    cfg = compose([*overrides, "data.n_validation_per_set=8", "steering.concepts.targets=[order_direction:DESC]",
                   "steering.concepts.prompts=3",
                   "steering.concepts.methods={all:[trained_vector,trained_latents],span:[]}",
                   "steering.methods.trained.steps=3",
                   "steering.methods.trained.latents=2"], stage="steer")
    result = to_json(concept_steering(Workbench.load(cfg, "steer"), 0))["order_direction:DESC"]
    assert set(result["methods"]) == {"none", "trained_vector", "trained_latents"}
    methods = result["methods"]
    for m in (methods["trained_vector"], methods["trained_latents"], methods["trained_latents"]["twin"]):
        assert m["trained_on"] == result["n_select"] and m["latent"] is None
        assert [c["scale"] for c in m["selection_curve"]][:3] == [0.5, 1.0, 2.0]
    for m in (methods["trained_latents"], methods["trained_latents"]["twin"]):
        assert len(m["moved_latents"]) == len(m["trained_amounts"]) == 2
