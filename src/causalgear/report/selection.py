"""The SAE selection sweep's ranking and table (`causalgear select` writes each candidate's
selection.json; `causalgear compare` reads them): RULE, written before any sweep ran, ranks the
candidates; the table shows every measure. Dicts in, text out: nothing here runs a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from causalgear.io import write_text
from causalgear.report.tables import Table, markdown_table, print_table

# the attributes a default SAE's latents should carry (the default SAE's goals)
SCORED = ("order_direction", "aggregate")

# RULE's second version: carry counts the best two latents per swap (one per value it names), as
# the two-latent goal does; the first counted one latent per swap. Changed before the sweep it ranks.
RULE = ("1. The health gate (explained variance >= 0.9, density <= 0.1, dead <= 0.1): a candidate that "
        "fails it ranks below every candidate that passes. 2. Carry, higher first: the mean over ORDER BY "
        "direction and the aggregate function of the cause of the best two latents per swap (one per value "
        "the swap names), chosen on half the validation examples' pairs and measured on the other half, "
        "rounded to 2 decimals. 3. Ties: coverage minus the random SAE's on validation rows, higher first.")


# RULE across SAE seeds: a candidate (its architecture, k, d_sae, l1_coeff and block) trained with
# several `sae.seed`s is ranked on every seed's figures, so that no seed's luck picks the default.
# Written before the sweep it ranks; with one seed per candidate it orders as RULE does.
RULE_ACROSS_SEEDS = ("A candidate trained with several SAE seeds (`sae.seed`) is one entry: 1. The health gate "
                     "on every seed: a candidate that fails it on any seed ranks below every candidate that passes "
                     "on all. 2. Carry (as in RULE) at its minimum across seeds, rounded to 2 decimals, higher "
                     "first. 3. Carry's mean across seeds, rounded to 2 decimals, higher first. 4. Ties: the mean "
                     "over seeds of coverage minus the random SAE's, higher first.")
CANDIDATE = ("arch", "k", "d_sae", "l1_coeff", "layer")  # what a candidate is; the seed is not


def rank(rows: list[dict]) -> list[dict]:
    """The candidates (compare's rows with selection figures) in RULE_ACROSS_SEEDS's order, the seeds of
    one candidate together (by seed), each row given its candidate's `select_rank`, `select_seeds`,
    `select_carry_min` and `select_carry_mean`."""
    groups: dict[tuple, list[dict]] = {}
    seen: dict[tuple, int] = {}
    for r in rows:  # a seed a candidate already has (the same SAE twice, or a copy) makes another entry
        candidate = tuple(r.get(k) for k in CANDIDATE)
        again = seen[(candidate, r.get("seed"))] = seen.get((candidate, r.get("seed")), -1) + 1
        groups.setdefault((*candidate, again), []).append(r)

    def key(group: list[dict]) -> tuple:
        carries = [r["select_carry"] for r in group]
        covs = [r.get("select_coverage_delta") for r in group]
        cov = float(np.mean(covs)) if None not in covs else -np.inf
        return (not all(r["select_passes_gate"] for r in group), -round(min(carries), 2),
                -round(float(np.mean(carries)), 2), -cov)

    ordered = []
    for i, group in enumerate(sorted(groups.values(), key=key), 1):
        carries = [r["select_carry"] for r in group]
        for r in sorted(group, key=lambda r: (r.get("seed") is None, r.get("seed"))):
            r.update(select_rank=i, select_seeds=len(group), select_carry_min=min(carries),
                     select_carry_mean=float(np.mean(carries)))
            ordered.append(r)
    return ordered


# selection.json's figures by what they are of, and compare's name for it (`twin`: the random-weight SAE's)
COLUMNS = {"sae": "sae", "random_sae": "twin", "full_residual": "full_residual"}


def flat(sel: dict) -> dict:
    """A selection.json as compare's scalar columns (select_...)."""
    row = {"layer": sel["layer"], "select_passes_gate": sel["passes_gate"], "select_carry": sel["carry_score"],
           "select_commit": (sel.get("provenance") or {}).get("commit", "not recorded")}
    figures = ("rate", "ci_low", "ci_high")
    for attribute, r in sel["carry"].items():
        for name, column in COLUMNS.items():
            if name in r:
                row.update({f"select_{attribute}_{column}_{k}": r[name]["cause"][k] for k in figures})
            if "two_latents" in r.get(name, {}):
                row.update({f"select_{attribute}_{column}_2_{k}": r[name]["two_latents"]["cause"][k]
                            for k in figures})
    cov = sel["coverage"]
    row.update({f"select_coverage_{k}": cov.get(k) for k in ("trained", "random", "delta", "ci_low", "ci_high")})
    for name, a in (sel.get("absorption") or {}).items():  # runs scored before absorption was measured lack it
        row.update({f"select_{COLUMNS[name]}_{k}": a.get(k) for k in ("absorption_fraction", "full_absorption")})
    return row


def _interval(r: dict, key: str, value: str, form: str) -> str:
    if r.get(f"{key}_{value}") is None:
        return ""
    return f"{r[f'{key}_{value}']:{form}} [{r[f'{key}_ci_low']:{form}}, {r[f'{key}_ci_high']:{form}}]"


def table(rows: list[dict]) -> Table:
    """The ranked candidates as one table (`report.tables.Table`): every measure, the rank."""
    columns = ["rank", "arch", "k", "d_sae", "block", "seed", "EV", "density", "dead", "gate"]
    for a in SCORED:
        columns += [f"{a}: best latent", f"{a}: best two", f"{a}: random SAE's two", f"{a}: full residual"]
    columns += ["carry", "carry min / mean over seeds", "coverage", "coverage - random SAE [95% CI]",
                "absorption (random SAE)", "full absorption (random SAE)"]
    out = []
    for r in rows:
        cells = [str(r["select_rank"]), str(r.get("arch")), str(r.get("k")), str(r.get("d_sae")), str(r.get("layer")),
                 str(r.get("seed", "")),
                 f"{r['explained_variance']:.3f}", f"{r['density']:.3f}", f"{r['dead_fraction']:.3f}",
                 "passes" if r["select_passes_gate"] else "fails"]
        for a in SCORED:
            cells += [_interval(r, f"select_{a}_{n}", "rate", ".2f")
                      for n in ("sae", "sae_2", "twin_2", "full_residual")]
        cov = r.get("select_coverage_trained")
        cells += [f"{r['select_carry']:.2f}",
                  f"{r['select_carry_min']:.2f} / {r['select_carry_mean']:.2f} ({r['select_seeds']})",
                  "" if cov is None else f"{cov:.3f}",
                  _interval(r, "select_coverage", "delta", "+.3f")]
        for k in ("absorption_fraction", "full_absorption"):
            t, u = r.get(f"select_sae_{k}"), r.get(f"select_twin_{k}")
            cells.append("" if t is None else f"{t:.3f}" + ("" if u is None else f" ({u:.3f})"))
        out.append(cells)
    return Table("SAE selection (validation data only)", columns, out)


def write_table(rows: list[dict], out: Path) -> str:
    """selection.md beside comparison.csv: the rule, the ranked table, the winner; printed too."""
    t, w = table(rows), rows[0]
    seeds = f", carry {w['select_carry_min']:.2f} at worst over {w['select_seeds']} seeds" if w["select_seeds"] > 1 \
        else ""
    winner = f"{w.get('arch')} k {w.get('k')} of {w.get('d_sae')} at block {w.get('layer')} ({w['run']}{seeds})"
    commits = ", ".join(sorted({str(r["select_commit"]) for r in rows}))
    n = len({r["select_rank"] for r in rows})
    text = (markdown_table(t, f"{n} candidates in {len(rows)} runs (`causalgear select`, commit {commits}), "
                              f"validation data only. Rule (`causalgear.report.selection.RULE`, written before the "
                              f"sweep): {RULE} Across seeds (`RULE_ACROSS_SEEDS`): {RULE_ACROSS_SEEDS}")
            + f"\n\nWinner: {winner}.\n")
    write_text(out / "selection.md", text)
    print_table(t)
    print(f"winner by the rule: {winner}")
    return text
