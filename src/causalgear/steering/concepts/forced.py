"""The selection prompts' gold SQL with a concept's value forced in: what a trained method fits on in
concept steering (`MethodContext.training`): the ORDER BY direction turned, every aggregate function
made the target's (its alias with it). A forced query counts only where the component parser reads
the target value in it and every other component as in the gold; the test prompts are never read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from causalgear.data.components import COMPONENTS, components, wanted_value
from causalgear.data.examples import Example

_AGGREGATE = re.compile(r"\b(COUNT|SUM|AVG|MIN|MAX)\(([^()]*)\)( AS )(count|sum|avg|min|max)_", re.IGNORECASE)
_DIRECTION = re.compile(r"\b(ASC|DESC)\b")


def forced_sql(sql: str, component: str, value: str) -> str | None:
    """`sql` with `component` set to `value` (order_direction: ASC/DESC; aggregate: a function name),
    or None where the rewrite does not give exactly that."""
    if component == "order_direction":
        order = sql.rfind("ORDER BY")
        if order < 0:
            return None
        tail = _DIRECTION.sub(value, sql[order:]) if _DIRECTION.search(sql[order:]) else f"{sql[order:]} {value}"
        forced = sql[:order] + tail
    elif component == "aggregate":
        forced = _AGGREGATE.sub(lambda m: f"{value.upper()}({m[2]}){m[3]}{value.lower()}_", sql)
    else:
        return None
    gold, new = components(sql), components(forced)
    if gold is None or new is None or new[component] != wanted_value(gold, component, value):
        return None
    return forced if all(new[c] == gold[c] for c in COMPONENTS if c != component) else None


def forced_examples(examples: Sequence[Example], component: str, value: str) -> list[Example]:
    """The examples whose gold SQL takes the target value cleanly, with it forced in."""
    out = []
    for e in examples:
        sql = forced_sql(e.sql, component, value)
        if sql is not None:
            out.append(dataclasses.replace(e, sql=sql))
    return out
