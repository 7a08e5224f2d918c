"""The table of docs/findings/reseed.md: pipeline runs of one recipe built with different model
seeds, side by side. Per build: the model card's headline accuracies and what any interchange at the
site can do (the full residual's cause); each headline finding (holds or not on the first SAE seed,
its figure, on how many SAE seeds it holds); then on how many builds it holds. Read from the runs'
JSON (nothing typed by hand). Ends with one JSON line.

  python bench/reseed_table.py RUN [RUN ...] --label "seed 0" --label "seed 1" ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from causalgear.report.findings import shift_accuracies
from causalgear.report.reading import read
from causalgear.report.seeds import across_seeds
from causalgear.report.tables import Table, markdown_rows

# the headline findings, by their key in `report.seeds.across_seeds`
HEADLINES = {"sae": "the SAE passes the health gate", "features": "coverage clears its random twin",
             "causal": "one latent's ablation clears its controls",
             "causal_precision": "its causal precision clears the twin's",
             "cause_isolate.order_direction.top_2": "two latents carry ORDER BY direction (cause)",
             "cause_isolate.aggregate.top_2": "two latents carry the aggregate function (cause)",
             "concept_steering.order_direction:DESC": "latents force DESC beyond the twin (best score)",
             "concept_steering.aggregate:MAX": "latents force MAX beyond the twin (best score)",
             "concept_steering.order_direction:ASC": "latents force ASC beyond the twin (best score)"}


def full_residual(causal: dict, attribute: str) -> str:
    """The full residual's cause at the site on the attribute's test pairs: the ceiling of any interchange."""
    m = ((causal.get("cause_isolate") or {}).get(attribute) or {}).get("methods", {}).get("full_residual")
    return "n/a" if m is None else f"{m['cause']['rate']:.2f}"


def card_row(label: str, card: dict, causal: dict) -> list[str]:
    per_set = card.get("test_accuracy") or {}
    shifts = shift_accuracies(card)
    return [label, str(card["recipe"].get("seed")), *(f"{per_set.get(cs, float('nan')):.3f}"
                                                     for cs in ("CS1", "CS2", "CS3", "CS4")),
            f"{card['test_accuracy_mean']:.3f}", f"{card.get('test_ood_accuracy_mean', float('nan')):.3f}",
            f"{sum(shifts.values()) / len(shifts):.3f}" if shifts else "n/a",
            f"{card.get('multitable_test_schema_accuracy_mean', float('nan')):.3f}",
            full_residual(causal, "order_direction"), full_residual(causal, "aggregate")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--label", action="append", help="one per run, in order (default: the run dir's name)")
    args = parser.parse_args()
    labels = args.label or [r.name for r in args.runs]
    title = "Each build: its card (test split) and the full residual's cause at the site (the ceiling)"
    cards = Table(title, ["build", "model.build.seed", "CS1", "CS2", "CS3", "CS4", "test mean", "test_ood",
                          "one element shifted (mean)", "multi-table test, schema decoding",
                          "full residual's cause: ORDER BY direction", "aggregate"],
                  [card_row(label, read(run / "model" / "model_card.json"), read(run / "evaluate" / "causal.json"))
                   for label, run in zip(labels, args.runs, strict=True)])
    across = {label: across_seeds(run) for label, run in zip(labels, args.runs, strict=True)}
    rows = []
    for key, name in HEADLINES.items():
        per = [across[label].get(key) for label in labels]
        if all(a is None for a in per):
            continue
        cells = [("not measured" if a is None else
                  f"{'holds' if a.holds[0] else 'not'} ({a.figures[0]:.3f}); {a.held} of {a.n} SAE seeds")
                 for a in per]
        held = sum(bool(a and a.holds[0]) for a in per)
        seeds = sum(bool(a and a.everywhere) for a in per)
        rows.append([name, *cells, "the recipe (every build)" if held == len(per) else
                     "no build" if not held else f"{held} of {len(per)} builds",
                     f"{seeds} of {len(per)} builds"])
    findings = Table("Headline findings per build (on the first SAE seed, its figure; on how many SAE seeds it holds)",
                     ["finding", *labels, "holds on the first SAE seed of", "holds on every SAE seed of"], rows)
    for t in (cards, findings):
        print(f"### {t.title}\n")
        print("\n".join(markdown_rows(t)) + "\n")
    print(json.dumps({"builds": labels, "findings": {r[0]: r[-2:] for r in rows}}))


if __name__ == "__main__":
    main()
