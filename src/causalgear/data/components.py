"""A query's components, read with sqlglot, and which of them a prediction gets right.

Components: the selected columns, the tables, the aggregates (function and argument), the ORDER BY
field and direction (ASC when unsaid), and a WHERE's field, operator and literal (for a single
comparison). Names are compared unqualified and in lower case, so `T1.name` with `singer AS T1`
is `name` of `singer`, and a quoted `"values"` is `values`. A component is scored where the gold
query or the prediction has it; a prediction that does not parse gets each of the gold's wrong.
"""

from __future__ import annotations

import functools

COMPONENTS = ("select", "table", "aggregate", "order_field", "order_direction", "where_field", "where_operator",
              "where_literal")
_OPS = {"EQ": "=", "NEQ": "!=", "GT": ">", "LT": "<", "GTE": ">=", "LTE": "<="}


@functools.lru_cache(maxsize=65536)
def components(sql: str) -> dict[str, object] | None:
    """Each component's value (None where the query has none), or None when `sql` does not parse."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):  # steered output can nest without end
        return None
    if not isinstance(tree, exp.Select):
        return None
    plain, aggs = set(), set()
    for e in tree.expressions:
        inner = e.this if isinstance(e, exp.Alias) else e
        if isinstance(inner, exp.AggFunc):
            arg = inner.this
            aggs.add((inner.key.lower(), "*" if isinstance(arg, exp.Star) or arg is None else arg.name.lower()))
        elif isinstance(inner, exp.Star):
            plain.add("*")
        else:
            plain.add(inner.name.lower())
    out: dict[str, object] = {"select": frozenset(plain) or None, "aggregate": frozenset(aggs) or None,
                              "table": frozenset(t.name.lower() for t in tree.find_all(exp.Table)) or None}
    order = tree.args.get("order")
    key = order.expressions[0] if order is not None and order.expressions else None
    out["order_field"] = key.this.sql(dialect="sqlite").lower() if key is not None else None
    out["order_direction"] = ("DESC" if key.args.get("desc") else "ASC") if key is not None else None
    where = tree.args.get("where")
    cond = where.this if where is not None else None
    op = _OPS.get(type(cond).__name__) if cond is not None else None
    out["where_field"] = cond.this.name.lower() if op else None
    out["where_operator"] = op
    out["where_literal"] = cond.expression.sql(dialect="sqlite") if op else None
    return out


def wanted_value(gold: dict[str, object], component: str, value: str) -> object:
    """The component's value in the gold query steered to `value` (concept steering's target): the
    value itself, or for `aggregate` every function of the gold's made `value`, arguments kept."""
    if component == "aggregate":
        return frozenset((value.lower(), arg) for _, arg in gold["aggregate"])
    return value


def component_correct(gold_sql: str, pred_sql: str) -> dict[str, float | None]:
    """1.0 / 0.0 per component where the gold query or the prediction has it; None where neither has."""
    gold, pred = components(gold_sql), components(pred_sql)
    if gold is None:
        return dict.fromkeys(COMPONENTS)
    out: dict[str, float | None] = {}
    for c in COMPONENTS:
        g = gold[c]
        if pred is None:  # a prediction that does not parse gets each of the gold's components wrong
            out[c] = None if g is None else 0.0
        else:
            out[c] = None if g is None and pred[c] is None else float(g == pred[c])
    return out
