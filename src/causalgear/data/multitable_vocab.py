"""Identifier styles and question phrasings of multi-table TinySQL, written from general English
and SQL usage (never from any benchmark's questions): the forms people use when they ask a
database something, and the spellings real schemas give tables and columns. Generator 2 dropped the
heads whose generic 8-word spans the contamination test (tests/data/test_contamination.py) found
in Spider dev questions, so that the test passes on the data these make."""

from __future__ import annotations

import re

from causalgear.data.vocab import SQL_KEYWORDS

# how a database spells its identifiers: table `singer`, column `first_name`, key `singer_id`
STYLES = ("snake", "capital_snake", "camel", "upper")


def spell(words: list[str], style: str) -> str:
    if style == "snake":
        return "_".join(words)
    if style == "capital_snake":
        return "_".join(w.upper() if w == "id" else w.capitalize() for w in words)
    if style == "camel":
        return "".join(w.upper() if w == "id" else w.capitalize() for w in words)
    return "_".join(words).upper()


def singular(noun: str) -> str:
    for plural, one in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("zzes", "z")):
        if noun.endswith(plural):
            return noun[: -len(plural)] + one
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def plural(noun: str) -> str:
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    return noun + "s"


ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "pl", "r", "s", "st", "t", "tr", "v", "z")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
CODAS = ("", "", "", "n", "r", "l", "m", "x", "nd", "st")


def pseudo_word(rng) -> str:
    """A pronounceable made-up word, never an SQL keyword: a name the model cannot have memorised,
    only copy."""
    while True:
        syllables = rng.choice((2, 2, 3))
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
        if word not in SQL_KEYWORDS:
            return word


# text columns that name a place: "singers from Paris" means `country = 'Paris'` on one of these
PLACE_FIELDS = frozenset("country city state region location origin hometown nationality district".split())

# the head of a question that lists columns; {fields}: the columns, {table}: the rows (plural,
# with any filter), {one}: one row (singular)
SELECT_HEADS = (
    "List the {fields} of all {table}.", "What are the {fields} of all {table}?", "Show the {fields} of all {table}.",
    "Show {fields} for all {table}.", "Give me the {fields} of the {table}.", "Return the {fields} of the {table}.",
    "Find the {fields} of {table}.", "List {fields} of {table}.",
    "Show all {fields} of {table}.", "Tell me the {fields} of {table}.", "Display the {fields} of all {table}.",
    "What is the {fields} of each {one}?", "List the {fields} for each {one}.", "Return {fields} of all {table}.",
)
DISTINCT_HEADS = (
    "What are the distinct {fields} of {table}?", "List all the different {fields} of {table}.",
    "Show the distinct {fields} of all {table}.", "Find the unique {fields} of {table}.",
    "What are the different {fields} of the {table}?", "Return the distinct {fields} of {table}.",
)
COUNT_HEADS = (
    "How many {table} are there?", "How many {table} do we have?", "How many {table} are there in total?",
    "Count the number of {table}.", "What is the number of {table}?", "What is the total number of {table}?",
    "Find the number of {table}.", "Return the number of {table}.", "Give the count of {table}.",
    "How many {table} are recorded?", "Count the {table}.",
)
# a count with a filter: {table} here is bare, {filter} its condition in "have" or "whose" form
COUNT_FILTER_HEADS = (
    "How many {table} {filter}?", "Count the {table} {filter}.", "How many {table} are there {filter}?",
    "Give the count of {table} {filter}.",
)
COUNT_DISTINCT_HEADS = (
    "How many different {fields} are there among {table}?", "How many distinct {fields} do {table} have?",
    "Count the number of different {fields} of {table}.", "Count the distinct {fields} among {table}.",
    "How many different {fields} are there for {table}?",
)
AGG_HEADS = (
    "What is the {aggs} of all {table}?", "What is the {aggs} of {table}?", "Tell me the {aggs} of all {table}.",
    "Show the {aggs} of {table}.", "Find the {aggs} of all {table}.", "Return the {aggs} of the {table}.",
    "Give me the {aggs} of {table}.", "Compute the {aggs} of {table}.",
)
AGG_WORDS = {
    "avg": ("average", "mean"), "sum": ("total", "combined"), "min": ("minimum", "lowest", "smallest"),
    "max": ("maximum", "highest", "largest"),
}
# filter connectives before a condition; "is" forms take `REL_IS`, bare forms `REL_BARE`
FILTER_IS = ("whose {field} is {rel}", "where {field} is {rel}", "for which {field} is {rel}")
FILTER_BARE = ("with {field} {rel}", "that have {field} {rel}", "having a {field} {rel}")
REL_IS = {
    ">": ("greater than {v}", "more than {v}", "larger than {v}", "above {v}", "higher than {v}", "over {v}",
          "bigger than {v}"),
    "<": ("less than {v}", "smaller than {v}", "below {v}", "lower than {v}", "under {v}", "fewer than {v}"),
    ">=": ("at least {v}", "no less than {v}", "greater than or equal to {v}"),
    "<=": ("at most {v}", "no more than {v}", "less than or equal to {v}"),
    "=": ("{v}", "equal to {v}", "exactly {v}"),
    "!=": ("not {v}", "not equal to {v}", "different from {v}"),
    "between": ("between {v} and {w}",),
}
REL_BARE = {
    ">": ("greater than {v}", "more than {v}", "larger than {v}", "above {v}", "higher than {v}", "over {v}"),
    "<": ("less than {v}", "smaller than {v}", "below {v}", "lower than {v}", "under {v}"),
    ">=": ("at least {v}", "of at least {v}"), "<=": ("at most {v}", "of at most {v}"),
    "=": ("{v}", "of {v}", "equal to {v}"), "!=": ("other than {v}", "not equal to {v}"),
    "between": ("between {v} and {w}",),
}
# a place column: "from Paris"; `age`: "older than 30"
PLACE_REL = {"=": ("from {v}", "who are from {v}", "that are from {v}", "located in {v}", "in {v}"),
             "!=": ("not from {v}", "who are not from {v}", "that are not from {v}")}
AGE_REL = {">": ("older than {v}", "who are older than {v}", "over the age of {v}"),
           "<": ("younger than {v}", "who are younger than {v}", "under the age of {v}")}
ORDER_TAILS = {
    "ASC": ("ordered by {field}", "sorted by {field}", "in increasing order of {field}",
            "ordered by {field} in ascending order", "sorted by {field} in ascending order",
            "from the lowest {field} to the highest", "by {field} from low to high", "ordered by {field} ascending"),
    "DESC": ("ordered by {field} in descending order", "in decreasing order of {field}",
             "sorted by {field} in descending order", "from the highest {field} to the lowest",
             "by {field} from high to low", "ordered by {field} descending", "sorted by descending {field}"),
}
ALPHABETICAL = ("in alphabetical order", "in alphabetical order of {field}", "sorted alphabetically by {field}",
                "ordered by {field} alphabetically")
