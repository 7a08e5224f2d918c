"""Schema-constrained decoding: every prediction is a single-table SELECT over its own schema.

The idea of PICARD (Scholak et al., 2021) made with a grammar engine instead of an incremental
parser: each example's CREATE TABLE statements become a Lark grammar whose names are that
schema's (case-insensitive, as SQLite's are) and whose columns belong to the table after FROM;
llguidance turns the grammar into a mask over the vocabulary at each step of greedy decoding. The
model still chooses everything; it can no longer write a name that is not in the schema, a column
of another table, or a statement outside the grammar.

The grammar is the single-table query language that TinySQL's command sets and Spider's
`subset=tinysql` live in: SELECT [DISTINCT] columns, aggregates (with DISTINCT and AS) or *, FROM
one table, WHERE comparisons (to a value or column), BETWEEN, [NOT] LIKE, IS [NOT] NULL and
[NOT] IN joined by AND/OR, ORDER BY columns. Joins, nesting, GROUP BY and LIMIT are outside it.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Sequence

import numpy as np
import torch
from transformers import LogitsProcessor


def schema_decoding(data) -> bool:
    """Whether predictions on the data set `data` (a data config) are decoded under the grammar."""
    from causalgear.data.sources import source

    return source(data).schema_decoding


# the one-line format every data set here writes (`data/spider.py`, TinySQL, multi-table TinySQL):
# CREATE TABLE name (column TYPE, ...) ..., names bare or double-quoted. A regex, not sqlglot: a
# table SQLite accepts may be named by a word sqlglot reserves (GRANT, say)
_NAME = r'"[^"]+"|[^\s(),"]+'
_TABLE = re.compile(rf'CREATE\s+TABLE\s+({_NAME})\s*\(((?:"[^"]*"|[^()"])*)\)', re.IGNORECASE)
_COLUMN = re.compile(rf"(?:^|,)\s*({_NAME})")


def schema_tables(context: str) -> list[tuple[str, list[str]]]:
    """(table, its columns) for each CREATE TABLE statement in `context`."""
    tables = []
    for match in _TABLE.finditer(context):
        columns = [name.strip('"') for name in _COLUMN.findall(match.group(2))]
        tables.append((match.group(1).strip('"'), columns))
    if not tables:
        raise ValueError(f"the context holds no CREATE TABLE statement with columns: {context[:80]!r}")
    return tables


def _name(name: str) -> str:
    """A schema name as the grammar accepts it: bare when it is a plain identifier, else quoted."""
    bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
    return f"{json.dumps(name)}i" if bare else json.dumps(f'"{name}"')


def single_table_grammar(context: str) -> str:
    """The Lark grammar of single-table SELECTs over the schema in `context` (see the module)."""
    tables = schema_tables(context)
    lines = ['start: "SELECT"i " " ("DISTINCT"i " ")? (' + " | ".join(f"t{i}" for i in range(len(tables))) + ")"]
    for i, (table, columns) in enumerate(tables):
        lines += [
            f't{i}: s{i} (COMMA s{i})* " " "FROM"i " " {_name(table)} w{i}? o{i}?',
            f"c{i}: " + " | ".join(_name(c) for c in columns),
            f's{i}: c{i} | "*" | AGG "(" ("DISTINCT"i " ")? (c{i} | "*") ")" (" " "AS"i " " ALIAS)?',
            f'w{i}: " " "WHERE"i " " k{i} (" " ("AND"i | "OR"i) " " k{i})*',
            f'k{i}: c{i} " " (OP " " (value | c{i}) | "BETWEEN"i " " value " " "AND"i " " value'
            f' | ("NOT"i " ")? "LIKE"i " " STRING | "IS"i " " ("NOT"i " ")? "NULL"i'
            f' | ("NOT"i " ")? "IN"i " (" value (COMMA value)* ")")',
            f'o{i}: " " "ORDER"i " " "BY"i " " c{i} (" " DIRECTION)? (COMMA c{i} (" " DIRECTION)?)*',
        ]
    lines += [
        "value: NUMBER | STRING",
        'AGG: "count"i | "avg"i | "sum"i | "min"i | "max"i',
        'DIRECTION: "ASC"i | "DESC"i',
        # an alias names its aggregate (count_x, min_y): one underscore in it and it is never a keyword
        "ALIAS: /[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*/",
        'OP: "=" | "!=" | "<>" | ">=" | "<=" | ">" | "<"',
        "NUMBER: /-?[0-9]+(\\.[0-9]+)?/",
        "STRING: /'[^'\\n]*'/ | /\"[^\"\\n]*\"/",
        "COMMA: /[ ]?, ?/",
    ]
    return "\n".join(lines)


def constraint_for(tokenizer, vocab_size: int) -> SchemaConstraint:
    """The SchemaConstraint of `tokenizer`, made once (wrapping a tokenizer takes a moment)."""
    made = _CONSTRAINTS.get(tokenizer)
    if made is None or made.vocab_size != vocab_size:
        made = _CONSTRAINTS[tokenizer] = SchemaConstraint(tokenizer, vocab_size)
    return made


class SchemaConstraint:
    """Grammars per schema for one tokenizer; `processor(contexts)` constrains one batch."""

    def __init__(self, tokenizer, vocab_size: int):
        import llguidance.hf

        self.vocab_size = vocab_size
        self.ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self._grammars: dict[str, str] = {}

    def grammar(self, context: str) -> str:
        if context not in self._grammars:
            import llguidance

            self._grammars[context] = llguidance.LLMatcher.grammar_from_lark(single_table_grammar(context))
        return self._grammars[context]

    def processor(self, contexts: Sequence[str]) -> LogitsProcessor:
        return _GrammarMask(self.ll_tokenizer, [self.grammar(c) for c in contexts])

    def admits(self, context: str, sql: str, whole: bool = True) -> bool:
        """Whether schema decoding over `context` could write `sql` (whole, or as a beginning)."""
        import llguidance

        matcher = llguidance.LLMatcher(self.ll_tokenizer, self.grammar(context), log_level=0)
        return matcher.consume_tokens(self.ll_tokenizer.tokenize_str(sql)) and (matcher.is_accepting() or not whole)


class _GrammarMask(LogitsProcessor):
    """Masks each row's logits to the tokens its grammar allows next. One batch, one generate()."""

    def __init__(self, ll_tokenizer, grammars: list[str]):
        import llguidance

        self.matchers = [llguidance.LLMatcher(ll_tokenizer, g, log_level=0) for g in grammars]
        self.generated = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.generated:  # the token chosen at the last step
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        self.generated += 1
        bits = np.frombuffer(b"".join(m.compute_bitmask() for m in self.matchers), dtype=np.uint8)
        allowed = np.unpackbits(bits.reshape(len(self.matchers), -1), axis=1, bitorder="little")
        allowed = torch.from_numpy(allowed[:, :scores.shape[-1]].astype(bool)).to(scores.device)
        return scores.masked_fill(~allowed, float("-inf"))


_CONSTRAINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
