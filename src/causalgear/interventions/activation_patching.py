"""Activation patching for identification: where does the clean prompt's information live?

Pairs of TinySQL prompts of equal token length, a clean one and one with a single corruption
(the table, a field, the ORDER BY direction, or the aggregate). For each layer and prompt
position, the clean run's residual there is patched into the corrupted run, and we score the
recovery of the clean SQL's log-probability: (LP_patched - LP_corrupt) / (LP_clean - LP_corrupt).
All positions of one layer are one batch: row i patches position i.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Sequence

import torch

from causalgear.data import vocab as V
from causalgear.data.examples import Example
from causalgear.models.blocks import decoder_layers
from causalgear.models.site import Site
from causalgear.models.teacher_forcing import head_of_hidden, sql_logprobs

KINDS = ("table", "field", "order", "aggregate")
_SWAPS = {
    "order": [("ascending", "descending"), ("lowest to highest", "highest to lowest"),
              ("increasing", "decreasing"), ("smallest first", "largest first")],
    "aggregate": [("average", "maximum"), ("minimum", "maximum"), ("total", "average"), ("lowest", "highest"),
                  ("smallest", "largest"), ("mean", "sum of")],
}


def _replace_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, text)


def _n_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False).input_ids)


def _corrupt(tokenizer, ex: Example, kind: str, rng: random.Random) -> str | None:
    prompt = ex.prompt
    n = _n_tokens(tokenizer, prompt)
    candidates: list[str] = []
    if kind == "table":
        table = ex.sql.split(" FROM ")[1].split()[0]
        for other in rng.sample(V.TABLE_NOUNS, 60):
            cand = _replace_word(_replace_word(prompt, table, other), table.replace("_", " "), other)
            if other != table and table not in cand:
                candidates.append(cand)
    elif kind == "field":
        field = ex.sql.removeprefix("SELECT ").split(" FROM ")[0].split(",")[0].strip()
        if not re.fullmatch(r"\w+", field):
            return None
        pool = V.TEXT_FIELDS + V.INT_FIELDS + V.REAL_FIELDS
        for other in rng.sample(pool, 80):
            if other in ex.context:
                continue
            cand = _replace_word(_replace_word(prompt, field, other), field.replace("_", " "), other)
            if field not in cand:
                candidates.append(cand)
    else:
        for a, b in _SWAPS[kind]:
            for old, new in ((a, b), (b, a)):
                if re.search(rf"\b{re.escape(old)}\b", ex.question):
                    candidates.append(prompt.replace(ex.question, _replace_word(ex.question, old, new)))
    for cand in candidates:
        if cand != prompt and _n_tokens(tokenizer, cand) == n:
            return cand
    return None


def make_pairs(tokenizer, examples: Sequence[Example], per_kind: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    wanted_group = {"table": "CS1", "field": "CS1", "order": "CS2", "aggregate": "CS3"}
    pairs = []
    for kind in KINDS:
        found = 0
        for ex in examples:
            if found >= per_kind:
                break
            if ex.group != wanted_group[kind]:
                continue
            corrupt = _corrupt(tokenizer, ex, kind, rng)
            if corrupt is not None:
                pairs.append({"kind": kind, "example": ex.id, "clean": ex.prompt, "corrupt": corrupt, "sql": ex.sql})
                found += 1
    return pairs


@torch.no_grad()
def _sql_logprob(model, ids: torch.Tensor, n_prompt: int) -> torch.Tensor:
    labels = ids.clone()
    labels[:, :n_prompt] = -100
    return sql_logprobs(model, ids, torch.ones_like(ids), labels)


@torch.no_grad()
def patch_pair(model, tokenizer, pair: dict) -> dict:
    device = next(model.parameters()).device
    clean_p = tokenizer(pair["clean"], add_special_tokens=False).input_ids
    corrupt_p = tokenizer(pair["corrupt"], add_special_tokens=False).input_ids
    sql = tokenizer(pair["sql"], add_special_tokens=False).input_ids
    clean = torch.tensor([clean_p + sql], device=device)
    corrupt = torch.tensor([corrupt_p + sql], device=device)
    n_prompt = len(clean_p)
    sites = [Site(model, layer) for layer in range(len(decoder_layers(model)))]
    head_of_hidden(model)  # its one probing pass, before the sites' hooks would see it
    with contextlib.ExitStack() as stack:
        reads = [stack.enter_context(site.read()) for site in sites]
        lp_clean = float(_sql_logprob(model, clean, n_prompt)[0])
    cache = [read["h"] for read in reads]
    lp_corrupt = float(_sql_logprob(model, corrupt, n_prompt)[0])
    batch = corrupt.expand(n_prompt, -1)
    where = torch.zeros(batch.shape, dtype=torch.bool, device=device)
    where[torch.arange(n_prompt), torch.arange(n_prompt)] = True
    gap = lp_clean - lp_corrupt
    recovery = []
    for site, clean_h in zip(sites, cache, strict=True):
        with site.edit(lambda h, c=clean_h: c.expand_as(h), positions=where):
            lp = _sql_logprob(model, batch, n_prompt)
        recovery.append(((lp - lp_corrupt) / gap).tolist() if abs(gap) > 1e-6 else [0.0] * n_prompt)
    return {**pair, "tokens": [tokenizer.decode([t]) for t in corrupt_p],
            "corrupted_positions": [i for i, (a, b) in enumerate(zip(clean_p, corrupt_p, strict=True)) if a != b],
            "lp_clean": lp_clean, "lp_corrupt": lp_corrupt, "recovery": recovery}


def run_patching(model, tokenizer, examples: Sequence[Example], per_kind: int, seed: int = 0) -> dict:
    results = [patch_pair(model, tokenizer, p) for p in make_pairs(tokenizer, examples, per_kind, seed)]
    summary = {}
    for kind in KINDS:
        rows = [r for r in results if r["kind"] == kind]
        if rows:
            # per layer: recovery at the corrupted tokens, and the best single position
            summary[kind] = {
                "pairs": len(rows),
                "mean_lp_gap": sum(r["lp_clean"] - r["lp_corrupt"] for r in rows) / len(rows),
                "recovery_at_corrupted_tokens_by_layer": [
                    sum(max(r["recovery"][L][i] for i in r["corrupted_positions"]) for r in rows) / len(rows)
                    for L in range(len(rows[0]["recovery"]))],
                "best_position_recovery_by_layer": [
                    sum(max(r["recovery"][L]) for r in rows) / len(rows) for L in range(len(rows[0]["recovery"]))],
            }
    return {"pairs": results, "summary": summary}
