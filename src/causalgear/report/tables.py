"""A run's compact tables (one row per method, per attribute, per target), built from its JSON and
rendered for a terminal (rich), for a pipe (plain columns) or as Markdown (docs/results.md)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from causalgear.report.findings import Finding, findings, interval, rate
from causalgear.report.reading import read, shaped
from causalgear.report.scoreboard import Row, scoreboard
from causalgear.report.twins import cause_isolate_methods, concept_target, split_methods, with_twins
from causalgear.results import CauseIsolateCell, Skipped

# where a chosen scale sits on its grid (steering.search's `edge`), in words
EDGE = {"low": "low edge", "high": "high edge", "only": "one scale"}


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


def edge(m, form: str) -> str:
    """A method's grid-edge flag in `form` (e.g. " ({})"), or "" where its scale is inside its grid."""
    where = EDGE.get(getattr(m, "scale_at_grid_edge", None))
    return form.format(where) if where else ""


def number(v: float | None, fmt: str = "{:.3f}") -> str:
    """A figure as text, "n/a" where it was not measured."""
    return "n/a" if v is None else fmt.format(v)


def _f(v, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def sae_table(m: dict) -> Table:
    keys = ["arch", "d_sae", "k", "layer", "explained_variance", "l0", "density", "dead_fraction", "ce_loss_recovered"]
    keys = [k for k in keys if k in m]
    return Table("SAE (validation rows)", keys, [[_f(m[k]) for k in keys]])


def concepts_table(c: dict) -> Table:
    twin = c.get("random_sae") or {}
    rows = []
    for name, value, t in (("best latent per concept", c["coverage"], twin.get("coverage")),
                           ("5-sparse probe on latents", c["k_sparse_coverage"]["5"],
                            twin.get("k_sparse_coverage", {}).get("5"))):
        rows.append([name, _f(value), _f(t["random"]) if t else "", interval(t) if t else "",
                     ("a finding" if t["finding"] else "not a finding") if t else ""])
    rows += [["linear probe (ceiling)", _f(c["linear_probe_coverage"]), "", "", ""],
             ["DiffMean", _f(c["diffmean_coverage"]), "", "", ""],
             ["random-weight model (floor)", _f(c["random_model_floor"]["coverage"]), "", "", ""]]
    return Table("Concept coverage (mean F1, held-out rows)",
                 ["detector", "coverage", "random SAE", "trained - random [95% CI]", "verdict"], rows)


def cause_isolate_table(ci: dict) -> Table:
    """One row per attribute; the SAE's top-1/2/5 latents each with its random-SAE twin in the cell."""
    methods = {a: cause_isolate_methods(r) for a, r in ci.items()}
    names = list(dict.fromkeys(n for m in methods.values() for n in m))

    def cell(m: dict[str, CauseIsolateCell], n: str) -> str:
        if n not in m:
            return ""
        text = f"{rate(m[n].cause)} / {m[n].isolate.rate:.2f}"
        return text + (f" (random SAE {m[n].twin.cause.rate:.2f})" if m[n].twin else "")

    rows = [[a, str(r["test_pairs"]), *(cell(methods[a], n) for n in names)] for a, r in ci.items()]
    return Table("Cause / isolate (cause [95% CI] / isolate, test pairs)", ["attribute", "pairs", *names], rows)


def latent_cell(m) -> str:
    """A steering method's latent: its one latent, how many it moves (`moved_latents`), or none."""
    moved = getattr(m, "described", {}).get("moved_latents")
    return str(m.latent) if m.latent is not None else f"{len(moved)} moved" if moved else ""


def steering_table(s: dict) -> Table:
    rows = []
    for name, m in with_twins(split_methods(s)):
        t = m.test
        ind = interval(m.in_distribution) if m.in_distribution else ""
        rows.append([name, latent_cell(m), f"{m.scale:g}{edge(m, ' ({})')}",
                     f"{t.baseline_accuracy:.3f} -> {t.steered_accuracy:.3f}", interval(t), ind,
                     f"{t.fixed} / {t.broken}"])
    in_dist = s.get("in_distribution_split") or "in distribution"
    return Table(f"Steering on {s.get('data_split')} ({s['n_test']} test prompts; scale chosen on selection)",
                 ["method", "latent", "scale", "accuracy", "delta [95% CI]", f"delta on {in_dist}", "fixed / broken"],
                 rows)


def concept_steering_table(c: dict) -> Table | None:
    rows = []
    for target, r in ((t, concept_target(r)) for t, r in c.items()):
        if isinstance(r, Skipped):
            rows.append([target, "skipped: " + r.skipped, "", "", "", ""])
            continue
        for name, m in with_twins(r.methods):
            t = m.test
            rows.append([target, name, latent_cell(m), _f(m.scale, 3),
                         rate(t.score), f"{t.concept:.2f} / {t.instruction:.2f} / {t.fluency:.2f}"])
    if not rows:
        return None
    return Table("Concept steering (score [95% CI]; concept / instruction / fluency)",
                 ["target", "method", "latent", "scale", "score", "judges"], rows)


def tables(run_dir: Path) -> list[Table]:
    run_dir = Path(run_dir)
    out: list[Table | None] = []
    metrics, concepts = run_dir / "train" / "metrics.json", run_dir / "features" / "concepts.json"
    causal, steering = run_dir / "evaluate" / "causal.json", run_dir / "steer" / "steering.json"
    if (m := read(metrics)) is not None:
        out.append(shaped(metrics, sae_table, m))
    if (c := read(concepts)) is not None and not c.get("skipped"):
        out.append(shaped(concepts, concepts_table, c))
    if (c := read(causal)) is not None and c.get("cause_isolate"):
        out.append(shaped(causal, cause_isolate_table, c["cause_isolate"]))
    if (s := read(steering)) is not None:
        out.append(shaped(steering, steering_table, s))
        out += [shaped(steering, steering_table, other) for other in (s.get("other_splits") or {}).values()]
        out.append(shaped(steering, concept_steering_table, s.get("concept_steering") or {}))
    out += seed_tables(run_dir)
    return [t for t in out if t is not None]


def seed_findings_table(across: dict) -> Table:
    """Each SAE finding's figure on every seed and on how many its criterion holds."""
    first = next(iter(across.values()))
    rows = [[key, a.figure_name or a.criterion, *(("n/a" if f is None else f"{f:.3f}") + ("" if h else " (not)")
                                                  for f, h in zip(a.figures, a.holds, strict=True)),
             f"{a.criterion}: {a.held} of {a.n}"] for key, a in across.items()]
    return Table("Findings across SAE seeds (figure per seed; (not): its criterion fails there)",
                 ["finding", "figure", *(f"seed {s}" for s in first.seeds), "holds on"], rows)


def stability_table(s: dict) -> Table:
    """Does the dictionary come back: each pair of seeds, and the mean, beside the random twins'."""
    keys = ["matched_at_0.7", "matched_at_0.9", "mean_max_cosine"]
    twins = s.get("random_twins") or {"pairs": {}}
    rows = [[f"seeds {pair}", *(_f(r[k]) for k in keys), *(_f(twins["pairs"].get(pair, {}).get(k)) for k in keys)]
            for pair, r in s["pairs"].items()]
    rows.append(["mean (PW-MCC)", _f(s["matched_at_0.7"]), _f(s["matched_at_0.9"]), _f(s["pw_mcc"]),
                 _f(twins.get("matched_at_0.7")), _f(twins.get("matched_at_0.9")), _f(twins.get("pw_mcc"))])
    return Table("Does the dictionary come back? (share of latents matched one to one at decoder cosine >= 0.7, "
                 ">= 0.9; mean max cosine)", ["pair", *keys, *(f"random twins: {k}" for k in keys)], rows)


def carriers_table(c: dict) -> Table:
    """Per attribute and swap: each seed's best latents, their cosine to the first seed's, and where they recur."""
    rows = []
    for attribute, swaps in c["attributes"].items():
        for swap, r in swaps.items():
            rows.append([attribute, swap, "; ".join(f"{s}: {', '.join(map(str, ls)) or '-'}"
                                                    for s, ls in r["latents"].items()),
                         "; ".join(f"{s}: {', '.join(f'{x:.2f}' for x in cs)}" for s, cs in r["cosines"].items()),
                         f"{r['recurs_in']} of {r['seeds']}"])
    ch = c["chosen"]
    rows.append(["causal choice", "", "; ".join(f"{s}: {j}" for s, j in ch["coordinates"].items()),
                 "; ".join(f"{s}: {', '.join(f'{x:.2f}' for x in cs)}" for s, cs in ch["cosines"].items()),
                 f"{ch['recurs_in']} of {ch['seeds']}"])
    return Table(f"Do the same latents carry? (best {c['k']} latents per swap by seed; decoder cosine to the first "
                 f"seed's; recurs where every one is >= {ch['recurs_at']})",
                 ["attribute", "swap", "latents by seed", "cosine to the first seed's", "recurs in"], rows)


def seed_tables(run_dir: Path) -> list[Table]:
    from causalgear.report.seeds import SEEDS_JSON, across_seeds

    path = Path(run_dir) / SEEDS_JSON
    record, across = read(path), across_seeds(run_dir)
    if not record or not across:
        return []
    out = [shaped(path, seed_findings_table, across)]
    if "stability" in record:
        out.append(shaped(path, stability_table, record["stability"]))
    if "carriers" in record:
        out.append(shaped(path, carriers_table, record["carriers"]))
    return out


def print_table(table: Table, file: TextIO | None = None) -> None:
    """rich on a terminal; plain aligned columns (no box, no colour, no wrapping) anywhere else."""
    out = file or sys.stdout
    if not out.isatty():
        widths = [max(len(c), *(len(r[i]) for r in table.rows)) for i, c in enumerate(table.columns)]
        print(table.title, file=out)
        for row in [table.columns, *table.rows]:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    t = RichTable(title=table.title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for c in table.columns:
        t.add_column(c)
    for row in table.rows:
        t.add_row(*row)
    Console(file=out).print(t)


def print_findings(found: list[Finding], file: TextIO | None = None) -> None:
    out = file or sys.stdout
    for f in found:
        print(f"- {f.sentence}", file=out)


# what starts raw HTML in CommonMark (a tag, a closing tag, a comment or declaration, a processing
# instruction, an autolink): a `<` before one of these is written as an entity; `<=` stays as it is
_RAW_HTML = re.compile(r"<(?=[A-Za-z/!?])")


def md(text: str) -> str:
    """A value from a run's JSON as Markdown text that renders as the text it is, never as HTML."""
    return _RAW_HTML.sub("&lt;", str(text))


def markdown_rows(table: Table) -> list[str]:
    """The table's header, rule and rows in Markdown, every cell escaped."""
    def cell(s: str) -> str:
        return md(s).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    return lines + ["| " + " | ".join(map(cell, row)) + " |" for row in table.rows]


def markdown_table(table: Table, heading: str) -> str:
    return "\n".join([f"### {md(table.title)}", "", heading, "", *markdown_rows(table)])


def scoreboard_table(rows: list[Row]) -> Table:
    return Table("Scoreboard", ["question", "answer", "deciding figure [95% CI]", "held against"],
                 [[r.question, r.answer, r.figure, r.control] for r in rows])


def scoreboard_markdown(run_dir: Path) -> list[str]:
    """The scoreboard as a Markdown table under its heading (nothing where the run has no stage's JSON)."""
    rows = scoreboard(run_dir)
    if not rows:
        return []
    return ["## Scoreboard", "", *markdown_rows(scoreboard_table(rows)), ""]


def markdown(run_dir: Path) -> str:
    """docs/results.md for a run: where it came from, its findings, every table headed by its provenance."""
    run_dir = Path(run_dir)
    summary = read(run_dir / "pipeline.json") or {}
    p = summary.get("provenance") or {}
    command, model, commit = p.get("command", "unknown"), p.get("model", "unknown"), p.get("commit", "unknown")
    heading = md(f"`{command}` · model `{model}` · commit `{commit}`")
    ran_on = md(f" It ran on {p['machine']}.") if p.get("machine") else ""
    parts = ["# Results", "",
             f"Written by `causalgear summarize RUN --markdown` from one run: {heading}. Do not edit by hand: "
             f"rerun the command.{ran_on}", ""]
    parts += scoreboard_markdown(run_dir)
    parts += ["## Findings", ""]
    parts += [f"- {md(f.sentence)}" for f in findings(run_dir)]
    seconds = summary.get("seconds")
    if seconds:
        parts += ["", md(f"Stage seconds: {', '.join(f'{k} {v:g}' for k, v in seconds.items())} "
                         f"(total {sum(seconds.values()):.0f} s).")]
    parts += ["", "## Tables", ""]
    for t in tables(run_dir):
        parts += [markdown_table(t, heading), ""]
    return "\n".join(parts)
