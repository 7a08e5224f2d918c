"""Ground-truth concepts of every token of a prompt and its gold SQL.

TinySQL knows what each word is: the table the question names, the fields it selects, the words
that ask for an order or an aggregate, the operator phrase of a WHERE, the literal; in the schema,
the table, field and type names; in the SQL, each clause's keyword, the names, the aggregate
functions, the direction, the operator and the literal. The SQL is read with sqlglot's tokenizer;
the question is read against the generator's own phrase tables (`vocab`), with the gold SQL
saying which phrase to look for. A concept is a character span; a token carries every concept
its characters overlap. Spider prompts carry the SQL's concepts only (`SQL_CONCEPTS`): its
questions are free English, so their concepts are unknown, not absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot.tokens import TokenType

from causalgear.data import vocab as V
from causalgear.data.components import components

AGGS = ("count", "sum", "avg", "min", "max")
OPS = {"=": "eq", "!=": "ne", ">": "gt", "<": "lt", ">=": "ge", "<=": "le"}
QUESTION_CONCEPTS = ("question.table", "question.field.selected", "question.order.asc", "question.order.desc",
                     *(f"question.agg.{a}" for a in AGGS), *(f"question.where.op.{o}" for o in OPS.values()),
                     "question.literal")
SCHEMA_CONCEPTS = ("schema.table", "schema.field", "schema.field.is_selected", "schema.type")
SQL_CONCEPTS = ("sql.select", "sql.from", "sql.where", "sql.order_by", "sql.table", "sql.field",
                "sql.direction.asc", "sql.direction.desc", *(f"sql.agg.{a}" for a in AGGS), "sql.operator",
                "sql.literal")
# what the whole example asks for, carried by each of its tokens: the command set, a DESC order, each aggregate
SEQUENCE_CONCEPTS = ("seq.cs1", "seq.cs2", "seq.cs3", "seq.cs4", "seq.desc", *(f"seq.agg.{a}" for a in AGGS))
CONCEPTS = (*QUESTION_CONCEPTS, *SCHEMA_CONCEPTS, *SQL_CONCEPTS, *SEQUENCE_CONCEPTS)  # at most 63: an int64 mask
BIT = {name: 1 << i for i, name in enumerate(CONCEPTS)}
_TYPES = ("TEXT", "INTEGER", "REAL")
_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


@dataclass(frozen=True)
class SQLParts:
    """The components of a single-table SELECT, as the gold SQL states them."""

    table: str
    fields: tuple[str, ...]  # selected plainly
    aggregates: tuple[tuple[str, str], ...]  # (function, field)
    where: tuple[str, str, str] | None  # (field, operator, literal as written)
    order: tuple[str, str] | None  # (field, ASC | DESC)

    @property
    def selected(self) -> set[str]:
        return set(self.fields) | {f for _, f in self.aggregates}


def sql_parts(sql: str) -> SQLParts:
    """The gold query's parts, as `causalgear.data.components` reads them (one parse, cached)."""
    c = components(sql)
    if c is None or not c["table"]:
        raise ValueError(f"not a single-table SELECT: {sql!r}")
    where = (c["where_field"], c["where_operator"], c["where_literal"]) if c["where_operator"] else None
    order = (c["order_field"], c["order_direction"]) if c["order_field"] else None
    return SQLParts(min(c["table"]), tuple(sorted(c["select"] or ())), tuple(sorted(c["aggregate"] or ())), where,
                    order)


def sequence_mask(parts: SQLParts) -> int:
    """The example-level concepts of a TinySQL query, as one bit mask: its command set (CS4 has a
    WHERE, CS3 aggregates, CS2 an ORDER BY), whether it orders DESC, which aggregates it uses."""
    cs = 4 if parts.where else 3 if parts.aggregates else 2 if parts.order else 1
    names = [f"seq.cs{cs}", *(["seq.desc"] if parts.order and parts.order[1] == "DESC" else []),
             *(f"seq.agg.{f}" for f, _ in parts.aggregates)]
    mask = 0
    for n in names:
        mask |= BIT[n]
    return mask


def _name(name: str) -> str:
    """A regex for a name as a question writes it: underscores may be spaces."""
    return re.escape(name).replace("_", "[ _]")


def _mention(name: str) -> str:
    return _WORD.format(_name(name))


def _phrase(template: str, field: str) -> re.Pattern:
    """A template such as "sorted by {field} ascending" with the field as a named group."""
    before, _, after = template.partition("{field}")
    return re.compile(_WORD.format(re.escape(before) + f"(?P<field>{_name(field)})" + re.escape(after)))


def _first(text: str, patterns) -> re.Match | None:
    found = [m for p in patterns if (m := p.search(text))]
    return min(found, key=lambda m: (m.start(), -m.end())) if found else None


def _around(m: re.Match) -> list[tuple[int, int]]:
    """The spans of a phrase match outside its field group."""
    return [(m.start(), m.start("field")), (m.end("field"), m.end())]


def question_spans(question: str, parts: SQLParts) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []  # field mentions that belong to a WHERE or ORDER BY phrase
    if parts.order is not None:
        field, direction = parts.order
        styles = [t for s in V.ORDER_PHRASES.values() for t in s[direction]]
        if m := _first(question, [_phrase(t, field) for t in styles]):
            spans += [(a, b, f"question.order.{direction.lower()}") for a, b in _around(m)]
            taken.append(m.span("field"))
    if parts.where is not None:
        field, op, literal = parts.where
        phrases = [p for s in V.OP_PHRASES.values() for p in s[op]]
        pattern = re.compile(f"(?P<field>{_mention(field)}) (?P<op>{'|'.join(map(re.escape, phrases))}) "
                             f"(?P<value>{re.escape(literal)})")
        if m := pattern.search(question):
            spans += [(*m.span("op"), f"question.where.op.{OPS[op]}"), (*m.span("value"), "question.literal")]
            taken.append(m.span("field"))
    for func, field in parts.aggregates:
        templates = [t for s in V.AGG_PHRASES.values() for t in s[func.upper()]]
        if m := _first(question, [_phrase(t, field) for t in templates]):
            spans += [(a, b, f"question.agg.{func}") for a, b in _around(m)]
            spans.append((*m.span("field"), "question.field.selected"))
    for field in parts.fields:
        for m in re.finditer(_mention(field), question):
            if not any(a <= m.start() < b for a, b in taken):
                spans.append((*m.span(), "question.field.selected"))
    for m in re.finditer(_mention(parts.table), question):
        spans.append((*m.span(), "question.table"))
    return [t for a, b, c in spans if (t := _trimmed(question, a, b, c))[0] < t[1]]


def _trimmed(text: str, a: int, b: int, concept: str) -> tuple[int, int, str]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b, concept


def schema_spans(context: str, parts: SQLParts | None) -> list[tuple[int, int, str]]:
    """`CREATE TABLE t (f1 T1, ...)`: the table, each field (and whether the SQL selects it), each type."""
    spans = []
    head = re.match(r"CREATE TABLE (\w+) \(", context)
    if head is None:
        return spans
    spans.append((*head.span(1), "schema.table"))
    for m in re.finditer(r"(\w+) (" + "|".join(_TYPES) + r")\b", context):
        spans += [(*m.span(1), "schema.field"), (*m.span(2), "schema.type")]
        if parts is not None and m.group(1) in parts.selected:
            spans.append((*m.span(1), "schema.field.is_selected"))
    return spans


_KEYWORD = {TokenType.SELECT: "sql.select", TokenType.FROM: "sql.from", TokenType.WHERE: "sql.where",
            TokenType.ORDER_BY: "sql.order_by", TokenType.ASC: "sql.direction.asc",
            TokenType.DESC: "sql.direction.desc", TokenType.STRING: "sql.literal", TokenType.NUMBER: "sql.literal"}
_OPERATORS = {TokenType.EQ, TokenType.NEQ, TokenType.GT, TokenType.LT, TokenType.GTE, TokenType.LTE}


def sql_spans(sql: str) -> list[tuple[int, int, str]]:
    """Each SQL token's concept, by sqlglot's tokenizer: keywords, names, functions, operators, literals."""
    spans = []
    tokens = sqlglot.tokenize(sql, read="sqlite")
    for i, t in enumerate(tokens):
        span = (t.start, t.end + 1)
        if t.token_type in _KEYWORD:
            spans.append((*span, _KEYWORD[t.token_type]))
        elif t.token_type in _OPERATORS:
            spans.append((*span, "sql.operator"))
        elif t.text.lower() in AGGS and i + 1 < len(tokens) and tokens[i + 1].token_type == TokenType.L_PAREN:
            spans.append((*span, f"sql.agg.{t.text.lower()}"))
        elif t.token_type in (TokenType.VAR, TokenType.IDENTIFIER):
            after = tokens[i - 1].token_type if i else None
            if after == TokenType.ALIAS:
                continue  # an alias names the output, not a field
            spans.append((*span, "sql.table" if after == TokenType.FROM else "sql.field"))
    return spans


def prompt_spans(question: str, context: str, sql: str, tinysql: bool) -> list[tuple[int, int, str]]:
    """Concept spans in the prompt `format_prompt(question, context)`: the question's and schema's
    for TinySQL (read against the gold SQL), none for a data set whose phrasing is unknown."""
    if not tinysql:
        return []
    from causalgear.data.examples import prompt_spans as where

    parts = sql_parts(sql)
    (q_at, _), (c_at, _) = where(question, context)
    return ([(a + q_at, b + q_at, c) for a, b, c in question_spans(question, parts)]
            + [(a + c_at, b + c_at, c) for a, b, c in schema_spans(context, parts)])


def token_masks(text: str, offsets, spans: list[tuple[int, int, str]]) -> list[int]:
    """Each token's concept bit mask: every concept whose span its visible characters overlap (a
    token of whitespace alone carries none)."""
    out = []
    for a, b, _ in (_trimmed(text, a, b, "") for a, b in offsets):
        mask = 0
        for start, end, concept in spans:
            if a < b and a < end and start < b:
                mask |= BIT[concept]
        out.append(mask)
    return out
