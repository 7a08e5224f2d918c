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


def rank(rows: list[dict]) -> list[dict]:
    """The candidates (compare's rows with selection figures) in RULE's order, each given its `select_rank`."""
    def key(r: dict) -> tuple:
        cov = r.get("select_coverage_delta")
        return (not r["select_passes_gate"], -round(r["select_carry"], 2), -(cov if cov is not None else -np.inf))

    ordered = sorted(rows, key=key)
    for i, r in enumerate(ordered, 1):
        r["select_rank"] = i
    return ordered


def flat(sel: dict) -> dict:
    """A selection.json as compare's scalar columns (select_...)."""
    row = {"layer": sel["layer"], "select_passes_gate": sel["passes_gate"], "select_carry": sel["carry_score"],
           "select_commit": (sel.get("provenance") or {}).get("commit", "not recorded")}
    figures = ("rate", "ci_low", "ci_high")
    for attribute, r in sel["carry"].items():
        for name in ("sae", "random_sae", "full_residual"):
            if name in r:
                row.update({f"select_{attribute}_{name}_{k}": r[name]["cause"][k] for k in figures})
        for name in ("sae", "random_sae"):
            if "two_latents" in r.get(name, {}):
                row.update({f"select_{attribute}_{name}_2_{k}": r[name]["two_latents"]["cause"][k] for k in figures})
    cov = sel["coverage"]
    row.update({f"select_coverage_{k}": cov.get(k) for k in ("trained", "random", "delta", "ci_low", "ci_high")})
    for name, a in (sel.get("absorption") or {}).items():  # runs scored before absorption was measured lack it
        row.update({f"select_{name}_{k}": a.get(k) for k in ("absorption_fraction", "full_absorption")})
    return row


def _interval(r: dict, key: str, value: str, form: str) -> str:
    if r.get(f"{key}_{value}") is None:
        return ""
    return f"{r[f'{key}_{value}']:{form}} [{r[f'{key}_ci_low']:{form}}, {r[f'{key}_ci_high']:{form}}]"


def table(rows: list[dict]) -> Table:
    """The ranked candidates as one table (`report.tables.Table`): every measure, the rank."""
    columns = ["rank", "arch", "k", "d_sae", "block", "EV", "density", "dead", "gate"]
    for a in SCORED:
        columns += [f"{a}: best latent", f"{a}: best two", f"{a}: random SAE's two", f"{a}: full residual"]
    columns += ["carry", "coverage", "coverage - random SAE [95% CI]", "absorption (random SAE)",
                "full absorption (random SAE)"]
    out = []
    for r in rows:
        cells = [str(r["select_rank"]), str(r.get("arch")), str(r.get("k")), str(r.get("d_sae")), str(r.get("layer")),
                 f"{r['explained_variance']:.3f}", f"{r['density']:.3f}", f"{r['dead_fraction']:.3f}",
                 "passes" if r["select_passes_gate"] else "fails"]
        for a in SCORED:
            cells += [_interval(r, f"select_{a}_{n}", "rate", ".2f")
                      for n in ("sae", "sae_2", "random_sae_2", "full_residual")]
        cov = r.get("select_coverage_trained")
        cells += [f"{r['select_carry']:.2f}", "" if cov is None else f"{cov:.3f}",
                  _interval(r, "select_coverage", "delta", "+.3f")]
        for k in ("absorption_fraction", "full_absorption"):
            t, u = r.get(f"select_sae_{k}"), r.get(f"select_random_sae_{k}")
            cells.append("" if t is None else f"{t:.3f}" + ("" if u is None else f" ({u:.3f})"))
        out.append(cells)
    return Table("SAE selection (validation data only)", columns, out)


def write_table(rows: list[dict], out: Path) -> str:
    """selection.md beside comparison.csv: the rule, the ranked table, the winner; printed too."""
    t, w = table(rows), rows[0]
    winner = f"{w.get('arch')} k {w.get('k')} of {w.get('d_sae')} at block {w.get('layer')} ({w['run']})"
    commits = ", ".join(sorted({str(r["select_commit"]) for r in rows}))
    text = (markdown_table(t, f"{len(rows)} candidates (`causalgear select`, commit {commits}), validation data "
                              f"only. Rule (`causalgear.report.selection.RULE`, written before the sweep): {RULE}")
            + f"\n\nWinner: {winner}.\n")
    write_text(out / "selection.md", text)
    print_table(t)
    print(f"winner by the rule: {winner}")
    return text
