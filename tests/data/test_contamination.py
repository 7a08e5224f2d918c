"""Spider's dev questions are evaluation data: the embedded model's training data (TinySQL and
multi-table TinySQL) must not contain them."""

import json
import re

import pytest

from causalgear.data import tinysql
from causalgear.models.embedded import multitable_split, training_data_cfg
from causalgear.preflight import compose

SPAN = 8  # words
NAME = "_"  # what a schema name becomes: a copied template still matches, a shared table name does not
PHRASING = 6  # words of a span that are not names: "_ and _ of all _ whose _" is grammar, not a copy


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def spans(text: str, names: set[str]) -> set[tuple[str, ...]]:
    """Every run of SPAN words of `text`, with the words of its schema's names masked."""
    tokens = [NAME if w in names else w for w in words(text)]
    runs = (tuple(tokens[i:i + SPAN]) for i in range(len(tokens) - SPAN + 1))
    return {run for run in runs if SPAN - run.count(NAME) >= PHRASING}


def create_table_names(context: str) -> set[str]:
    """The table and column names of CREATE TABLE statements."""
    names = re.findall(r"CREATE TABLE (\w+)|[(,] *(\w+) \w+", context)
    return set(words(" ".join(n for pair in names for n in pair)))


@pytest.mark.parametrize("model", ["tinysql", "tinysql_multitable"])
def test_no_8_word_span_of_a_spider_dev_question_is_in_the_training_data(model, spider_dir, cache_dir):
    build = compose([f"model={model}"]).model.build  # the data this recipe trains on
    train = tinysql.load_split(training_data_cfg(build), cache_dir, "train")
    if build.multitable_examples_per_set:
        train += multitable_split(build, cache_dir, "train")
    trained = set().union(*(spans(e.question, create_table_names(e.context)) for e in train))
    schemas = {s["db_id"]: s for s in json.loads((spider_dir / "tables.json").read_text())}
    checked, found = 0, []
    for q in json.loads((spider_dir / "dev.json").read_text()):
        s = schemas[q["db_id"]]
        names = set(words(" ".join(s["table_names_original"] + s["table_names"]
                                   + [c for _, c in s["column_names_original"] + s["column_names"]])))
        mine = spans(q["question"], names)
        checked += len(mine)
        found += [(q["question"], " ".join(span)) for span in mine & trained]
    assert len(trained) > 10_000 and checked > 2_000  # the check has material on both sides
    assert not found, found[:5]


def test_the_span_check_sees_a_copied_template_under_other_names():
    spider_q = spans("How many singers do we have in the concert list ?", {"singers", "concert"})
    ours = spans("How many pilots do we have in the flights list ?", {"pilots", "flights"})
    assert spider_q & ours
