"""The table of docs/findings/reseed.md: pipeline runs of one recipe built with different model
seeds, side by side. Per build: the model card's headline accuracies, and each scoreboard question's
answer with its deciding figure; then, per question, on how many builds it is answered yes. Read from
the runs' JSON (nothing typed by hand). Ends with one JSON line.

  python bench/reseed_table.py RUN [RUN ...] --label "seed 0" --label "seed 1" ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from causalgear.report.findings import shift_accuracies
from causalgear.report.reading import read
from causalgear.report.scoreboard import scoreboard
from causalgear.report.tables import Table, markdown_rows


def card_row(label: str, card: dict) -> list[str]:
    per_set = card.get("test_accuracy") or {}
    shifts = shift_accuracies(card)
    return [label, str(card["recipe"].get("seed")), *(f"{per_set.get(cs, float('nan')):.3f}"
                                                     for cs in ("CS1", "CS2", "CS3", "CS4")),
            f"{card['test_accuracy_mean']:.3f}", f"{card.get('test_ood_accuracy_mean', float('nan')):.3f}",
            f"{sum(shifts.values()) / len(shifts):.3f}" if shifts else "n/a",
            f"{card.get('multitable_test_schema_accuracy_mean', float('nan')):.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--label", action="append", help="one per run, in order (default: the run dir's name)")
    args = parser.parse_args()
    labels = args.label or [r.name for r in args.runs]
    cards = Table("Model card (test split)", ["build", "model.build.seed", "CS1", "CS2", "CS3", "CS4", "test mean",
                                              "test_ood", "one element shifted (mean)",
                                              "multi-table test, schema decoding"],
                  [card_row(label, read(run / "model" / "model_card.json")) for label, run in
                   zip(labels, args.runs, strict=True)])
    boards = {label: {r.question: r for r in scoreboard(run)} for label, run in zip(labels, args.runs, strict=True)}
    questions = list(next(iter(boards.values())))
    rows = []
    for q in questions:
        answers = [boards[label][q] for label in labels]
        measured = [a for a in answers if a.answer != "not measured"]
        if not measured:
            continue
        yes = sum(a.answer == "yes" for a in answers)
        rows.append([q, *(f"{a.answer}: {a.figure}" for a in answers),
                     "the recipe (every build)" if yes == len(answers) else "no build" if not yes and not any(
                         a.answer == "partly" for a in answers) else f"{yes} of {len(answers)} builds yes"])
    findings = Table("Findings per build (the scoreboard's answer and deciding figure)",
                     ["question", *labels, "a property of"], rows)
    for t in (cards, findings):
        print(f"### {t.title}\n")
        print("\n".join(markdown_rows(t)) + "\n")
    print(json.dumps({"builds": labels, "questions": {r[0]: r[-1] for r in rows}}))


if __name__ == "__main__":
    main()
