"""Concept steering by training (`steering.concepts.trained`): a steering vector, and the SAE latents
with the largest output effect (with their random-twin control), trained on the validation
selection prompts' gold SQL with the target value forced into it: the ORDER BY direction turned,
every aggregate function made the target's (its alias with it). A forced query counts only where
the component parser reads the target value in it and every other component as in the gold; the
test prompts are never read. The same objective, steps and step size as steering's trained vector
(`steering.methods.trained_steps`, `trained_lr`, `trained_latents`), at every position, steered at
multiples of the trained vector.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from causalgear.data.components import COMPONENTS, components, wanted_value
from causalgear.data.examples import Example
from causalgear.interventions.specs import AddVector
from causalgear.seeds import seed_for
from causalgear.steering.methods.trained_latents import trained_latents
from causalgear.steering.methods.trained_vector import MULTIPLES
from causalgear.steering.trained_vector import loss_gradient, train_vector

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


def trained_grids(bench, target: str, component: str, value: str, selection: Sequence[Example], tools,
                  twin: tuple | None, seed: int) -> tuple[dict[str, tuple[list, Callable]], dict[str, dict]]:
    """(concept steering's grids for the trained methods, what each one's entry says beside its point)."""
    examples = forced_examples(selection, component, value)
    if not examples:
        return {}, {}
    m = bench.cfg.steering.methods
    grid = [(None, v) for v in MULTIPLES]
    vector = train_vector(bench.model, bench.tokenizer, bench.site, examples, "all", m.trained_steps, m.trained_lr,
                          seed_for(seed, f"{target} trained vector"))
    grids = {"trained_vector": (grid, lambda p: tools.make(AddVector(vector, p[1])))}
    notes = {"trained_vector": {"trained_on": len(examples)}}
    grad = loss_gradient(bench.model, bench.tokenizer, bench.site, examples, "all", bench.sae.d_in)
    for name, sae in (("trained_latents", bench.sae), *((("random_sae_trained_latents", twin[0]),) if twin else ())):
        latents, amounts, v = trained_latents(bench, sae, examples, "all", m.trained_latents, m.trained_steps,
                                              m.trained_lr, seed_for(seed, f"{target} {name}"), grad)
        grids[name] = (grid, lambda p, v=v: tools.make(AddVector(v, p[1])))
        notes[name] = {"moved_latents": latents, "trained_amounts": amounts, "trained_on": len(examples)}
    return grids, notes
