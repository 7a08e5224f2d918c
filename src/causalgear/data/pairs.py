"""Counterfactual prompt pairs for cause and isolate (RAVEL, MIB): a base TinySQL prompt and a
source prompt that differs from it in one attribute only, with the base query's counterfactual
gold (the base SQL with that attribute swapped).

Attributes, named by the SQL component they set (`causalgear.data.components`):
- `order_direction`: ASC <-> DESC ("ascending" <-> "descending", "lowest to highest" <-> ...);
- `aggregate`: the aggregate function of a one-aggregate query ("the average x" -> "the maximum x");
- `where_operator`: a numeric comparison ("is greater than" <-> "is less than", "at least" <-> "at most").

A swap keeps the prompt's token count, so base and source align position by position and the
attribute's tokens are one span (`span`: first and last differing token, in prompt positions).
Swaps are word for word in the question; the words come from the generator's phrase tables.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from causalgear.data.examples import Example
from causalgear.data.vocab import AGG_PHRASES

ATTRIBUTES = ("order_direction", "aggregate", "where_operator")

# question words -> the SQL they mean, one table per attribute; a swap replaces one word of a
# table by another of the same table and the SQL by what the new word means
_ORDER = {"ascending": "ASC", "descending": "DESC", "increasing": "ASC", "decreasing": "DESC",
          "lowest to highest": "ASC", "highest to lowest": "DESC", "smallest first": "ASC",
          "largest first": "DESC"}
_ORDER_SWAPS = {"ascending": "descending", "descending": "ascending", "increasing": "decreasing",
                "decreasing": "increasing", "lowest to highest": "highest to lowest",
                "highest to lowest": "lowest to highest", "smallest first": "largest first",
                "largest first": "smallest first"}
_AGG_WORDS = {"average": "AVG", "mean": "AVG", "maximum": "MAX", "highest": "MAX", "largest": "MAX",
              "minimum": "MIN", "lowest": "MIN", "smallest": "MIN", "total": "SUM"}
_NUMERIC_ONLY = {"AVG", "SUM"}
_OPERATORS = {"is greater than": ">", "is less than": "<", "is at least": ">=", "is at most": "<="}


@dataclass(frozen=True)
class Pair:
    attribute: str
    base: Example
    counterfactual: Example  # the source: the base example with its question and SQL swapped
    span: tuple[int, int]  # prompt token positions of the attribute's words, inclusive

    @property
    def source_prompt(self) -> str:
        return self.counterfactual.prompt


def _word_swaps(ex: Example, slot: str, meaning: dict[str, str], partners):
    """Swaps of a question's words whose meaning is the SQL's value in `slot` (a regex whose group 1
    is the value) for `partners(words)` that mean another value."""
    m = re.search(slot, ex.sql)
    if m is None:
        return
    for words, value in meaning.items():
        if value == m.group(1) and re.search(rf"\b{words}\b", ex.question):
            for other in partners(words):
                if meaning[other] != value:
                    yield words, other, ex.sql[:m.start(1)] + meaning[other] + ex.sql[m.end(1):]


def _order_swaps(ex: Example):
    return _word_swaps(ex, r" ORDER BY \w+ (ASC|DESC)$", _ORDER, lambda words: [_ORDER_SWAPS[words]])


def _aggregate_swaps(ex: Example):
    m = re.fullmatch(r"SELECT (COUNT|SUM|AVG|MIN|MAX)\((\w+)\) AS \w+ FROM (\w+)", ex.sql)
    if m is None:  # one aggregate only: with two, a word would not say which it is
        return
    func, field, table = m.groups()
    numeric = re.search(rf"\b{field} (INTEGER|REAL)\b", ex.context) is not None
    for words, meaning in _AGG_WORDS.items():
        if meaning != func or not re.search(rf"\bthe {words}\b", ex.question):
            continue
        for other, new in _AGG_WORDS.items():
            if new != func and (numeric or new not in _NUMERIC_ONLY):
                yield f"the {words}", f"the {other}", f"SELECT {new}({field}) AS {new.lower()}_{field} FROM {table}"


def _operator_swaps(ex: Example):
    return _word_swaps(ex, r" WHERE \w+ (>=|<=|>|<) ", _OPERATORS, lambda words: list(_OPERATORS))


# the words that say a value of each attribute, where no swap of equal length exists (concept
# steering's spans): the swap tables', and each aggregate phrase the model is trained on, before its
# field (never the phrases held out for the shift splits: a method must not know them)
VALUE_WORDS = {"order_direction": tuple(_ORDER), "where_operator": tuple(_OPERATORS),
               "aggregate": tuple(dict.fromkeys(phrase.split("{field}")[0].strip()
                                                for phrases in AGG_PHRASES["train"].values() for phrase in phrases))}

_SWAPS = {"order_direction": _order_swaps, "aggregate": _aggregate_swaps, "where_operator": _operator_swaps}


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def example_pairs(tokenizer, ex: Example, attribute: str, rng: random.Random) -> list[Pair]:
    """The pairs of `ex` (one per swap, shuffled) whose source prompt has as many tokens as its prompt."""
    if attribute not in _SWAPS:
        raise ValueError(f"attribute {attribute!r}: one of {', '.join(ATTRIBUTES)}")
    options = list(_SWAPS[attribute](ex))
    rng.shuffle(options)
    base_ids = _ids(tokenizer, ex.prompt)
    pairs = []
    for old, new, cf_sql in options:
        question = re.sub(rf"\b{re.escape(old)}\b", new, ex.question, count=1)
        cf = dataclasses.replace(ex, id=f"{ex.id}~{attribute}", question=question, sql=cf_sql)
        source_ids = _ids(tokenizer, cf.prompt)
        if len(source_ids) != len(base_ids):
            continue
        differ = [i for i, (a, b) in enumerate(zip(base_ids, source_ids, strict=True)) if a != b]
        if differ:
            pairs.append(Pair(attribute, ex, cf, (differ[0], differ[-1])))
    return pairs


def make_pairs(tokenizer, examples: Sequence[Example], attribute: str, limit: int | None, seed: int,
               every_swap: bool = False) -> list[Pair]:
    """Up to `limit` (None: all) pairs for `attribute`, in the examples' order: one per example
    (independent pairs, to report on), or `every_swap` of each (more swaps covered, to choose on)."""
    rng = random.Random(f"{seed}/pairs/{attribute}")
    pairs: list[Pair] = []
    for ex in examples:
        made = example_pairs(tokenizer, ex, attribute, rng)
        pairs.extend(made if every_swap else made[:1])
    return pairs[:limit]
