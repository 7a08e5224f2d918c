"""The scoreboard: one row per question a researcher asks of a run, answered from its JSON.

Each row: the answer (yes / partly / no / not measured, with why), the figure that decides it with
its interval, and the control it is held against with that control's figure. The rules are the
findings' own (an interval clears its control), written here once:

- the model does the task: test accuracy >= 0.5; "partly" where out of distribution or with a
  phrasing element held out it falls below that;
- the SAE is healthy: the health gate (report.health);
- latents match known concepts: coverage's interval over its random-SAE twin's is above 0;
- a single latent matters: the chosen coordinate's test interval clears both controls';
- two latents carry an attribute: the best two latents' cause interval clears their random twin's,
  on every attribute with test pairs (yes), on some (partly);
- steering repairs the failing split: an SAE-based method's interval clears 0 and its random-SAE
  twin's, and its in-distribution interval reaches 0 (yes); another method clears 0 (partly);
- latents force a value: an SAE method's score interval clears its random-SAE twin's, on every
  target (yes), on some (partly);
- the feature transfers: its interval on the other data clears the random direction's.

With several SAE seeds (`sae.seeds`), each SAE row says on how many its rule holds, and its figure's
range; a "yes" that fails on a seed, and a "no" that holds on one, is "partly".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from causalgear.report.findings import interval, rate, shift_accuracies
from causalgear.report.health import gate_text, health
from causalgear.report.reading import read
from causalgear.report.twins import (
    acts_through_latents,
    beats_twin,
    cause_isolate_methods,
    clears_twin,
    concept_target,
    split_methods,
)
from causalgear.results import SplitMethod

ANSWERS = ("yes", "partly", "no", "not measured")
WORKS = 0.5  # accuracy at which the model is said to do the task


@dataclass(frozen=True)
class Row:
    question: str
    answer: str  # one of ANSWERS
    figure: str  # the deciding figure with its interval (or why it was not measured)
    control: str  # what it is held against, with its figure
    section: str  # the id of its section in report.html


def _answer(all_: bool, some: bool) -> str:
    return "yes" if all_ else "partly" if some else "no"


def model_row(card: dict | None) -> Row:
    q = "Does the model do the task, and where does it fail?"
    if card is None:
        return Row(q, "not measured", "no model card (a hub model: `causalgear accuracy` measures it)", "", "model")
    test = card["test_accuracy_mean"]
    weak = shift_accuracies(card)
    if "test_ood_accuracy_mean" in card:
        weak["out of distribution"] = card["test_ood_accuracy_mean"]
    failing = {k: v for k, v in weak.items() if v < WORKS}
    figure = f"test accuracy {test:.3f}"
    if failing:
        worst = min(failing, key=failing.get)
        figure += f"; fails {len(failing)} of {len(weak)} shifts, worst: {worst} {failing[worst]:.3f}"
    return Row(q, "no" if test < WORKS else _answer(not failing, True), figure,
               f"{WORKS} accuracy, in distribution and on each held-out element", "model")


def sae_row(m: dict | None) -> Row:
    q = "Is the SAE healthy?"
    if m is None:
        return Row(q, "not measured", "no SAE was trained", "", "sae")
    failed = health(m)
    figure = (f"explained variance {m['explained_variance']:.3f}, L0 {m['l0']:.1f}, dead {m['dead_fraction']:.3f}"
              + (f"; fails: {'; '.join(failed)}" if failed else ""))
    return Row(q, "no" if failed else "yes", figure, f"the health gate: {gate_text()}", "sae")


def features_row(c: dict | None) -> Row:
    q = "Do its latents match known concepts, beyond a random SAE?"
    if c is None or c.get("skipped"):
        return Row(q, "not measured", f"skipped: {c['skipped']}" if c else "the features stage did not run", "",
                   "features")
    twin = (c.get("random_sae") or {}).get("coverage")
    figure = f"coverage {c['coverage']:.3f} over {len(c['per_concept'])} concepts"
    if not twin:
        return Row(q, "not measured", figure + " (no random-SAE twin)", "", "features")
    return Row(q, _answer(twin["finding"], False), f"{figure}; minus its twin {interval(twin)}",
               f"random-SAE twin {twin['random']:.3f}", "features")


def causal_row(c: dict | None) -> Row:
    q = "Does a single latent matter to the answers?"
    if c is None:
        return Row(q, "not measured", "evaluate did not run", "", "causal")
    ctrl = c["controls"]
    return Row(q, _answer(c["beats_controls"], False),
               f"{c['mode']} latent {c['chosen']}: Δ accuracy {interval(c['chosen_test'])}",
               f"random latent {interval(ctrl['random_coordinate'])}, random direction "
               f"{interval(ctrl['random_direction'])}", "causal")


def cause_isolate_row(c: dict | None, k: int = 2) -> Row:
    q = f"Which attributes do {k} latents carry?"
    name = f"top_{k}_latents"
    found = {a: r for a, r in ((c or {}).get("cause_isolate") or {}).items() if name in r.get("methods", {})}
    if not found:
        return Row(q, "not measured", "no attribute had test pairs" if c else "evaluate did not run", "",
                   "cause-isolate")
    ci = {a: cause_isolate_methods(r)[name] for a, r in found.items()}
    carried = [a for a, r in found.items() if r.get("beats_random_sae", {}).get(name)]
    shown = carried or list(ci)
    figure = "; ".join(f"{a} {rate(ci[a].cause)}" for a in shown)
    if carried and len(carried) < len(ci):
        figure += f" (not: {', '.join(a for a in ci if a not in carried)})"
    control = "random-SAE twin " + "; ".join(f"{ci[a].twin.cause.rate:.2f}" if ci[a].twin else "n/a" for a in shown)
    return Row(q, _answer(len(carried) == len(ci), bool(carried)), "cause " + figure, control, "cause-isolate")


def steering_row(s: dict | None) -> Row:
    q = "Does steering repair the split where the model fails, beyond its controls, without harm?"
    if s is None:
        return Row(q, "not measured", "steer did not run", "", "steering")
    methods = split_methods(s)
    split = s.get("data_split") or "the evaluation split"
    clears = [n for n, m in methods.items() if m.test.ci_low > 0]
    through = [n for n in clears if acts_through_latents(methods[n])]
    found = [n for n in through if clears_twin(methods[n]) and _no_harm(methods[n])]
    shown = found or through or clears

    def said(n: str) -> str:
        m = methods[n]
        harm = f" (in distribution {interval(m.in_distribution)})" if m.in_distribution else ""
        return f"{n} {interval(m.test)}{harm}"

    figure = f"{split}: " + (f"above 0: {', '.join(clears)}" if clears else "no method's interval clears 0")
    if shown and shown != clears:
        figure += "; through latents: " + "; ".join(said(n) for n in shown)
    elif shown:
        figure = f"{split}: above 0: " + "; ".join(said(n) for n in shown)
    controls = [f"{n}'s random-SAE twin {interval(methods[n].twin.test)}" for n in shown if methods[n].twin]
    if "random_direction" in methods:
        controls.append(f"random direction {interval(methods['random_direction'].test)}")
    return Row(q, "yes" if found else "partly" if clears else "no", figure, "; ".join(controls) or "0", "steering")


def _no_harm(m: SplitMethod) -> bool:
    return m.in_distribution is None or m.in_distribution.ci_high >= 0


def concept_steering_row(s: dict | None) -> Row:
    q = "Can latents force a value at the words that say it?"
    targets = {t: concept_target(r) for t, r in ((s or {}).get("concept_steering") or {}).items() if "methods" in r}
    if not targets:
        return Row(q, "not measured", "concept steering did not run", "", "concept-steering")
    against = {t: beats_twin(r.methods) for t, r in targets.items()}  # (methods with a twin, those above it)
    targets = {t: r for t, r in targets.items() if against[t][0]}
    if not targets:
        return Row(q, "not measured", "no random-SAE twins to hold the methods against", "", "concept-steering")
    found = {target: against[target][1] for target in targets}
    held = [t for t, names in found.items() if names]
    figure = "; ".join(f"{t}: {len(found[t])} SAE method(s), e.g. {found[t][0]} "
                       f"{rate(targets[t].methods[found[t][0]].test.score)}" for t in held) \
        or "no SAE method's score clears its twin's"
    control = "; ".join(f"{t}: random-SAE twin "
                        f"{rate(targets[t].methods[found[t][0]].twin.test.score)}" for t in held)
    if held and len(held) < len(targets):
        figure += f" (not: {', '.join(t for t in targets if t not in held)})"
    return Row(q, _answer(len(held) == len(targets), bool(held)), "score " + figure if held else figure,
               control or "each method's random-SAE twin", "concept-steering")


def transfer_row(c: dict | None) -> Row:
    q = "Does the feature transfer to other data?"
    t = {k: v for k, v in ((c or {}).get("transfer") or {}).items() if "skipped" not in v}
    if not t:
        return Row(q, "not measured", "not run: experiment=transfer runs it", "", "transfer")
    moved = [n for n, r in t.items() if r["chosen"]["ci_high"] < r["random_direction"]["ci_low"]
             or r["chosen"]["ci_low"] > r["random_direction"]["ci_high"]]
    return Row(q, _answer(len(moved) == len(t), bool(moved)),
               "; ".join(f"{n}: Δ accuracy {interval(r['chosen'])}" for n, r in t.items()),
               "; ".join(f"{n}: random direction {interval(r['random_direction'])}" for n, r in t.items()), "transfer")


def across_seeds_rows(rows: list[Row], run_dir: Path) -> list[Row]:
    """Each SAE row with on how many of the run's SAE seeds it holds: a "yes" that fails on a seed,
    and a "no" that holds on one, is "partly"; the split steering says it ran on the first seed only."""
    from dataclasses import replace

    from causalgear.report.seeds import across_seeds

    across = across_seeds(run_dir)
    if not across:
        return rows
    n = next(iter(across.values())).n
    keys = {"sae": ["sae"], "features": ["features"], "causal": ["causal"],
            "cause-isolate": [k for k in across if k.startswith("cause_isolate.") and k.endswith(".top_2")],
            "concept-steering": ["concept_steering"]}
    out = []
    for r in rows:
        held = [(k, across[k]) for k in keys.get(r.section, []) if k in across]
        if held and r.answer != "not measured":
            said = "; ".join((f"{k.split('.')[1]} " if k.startswith("cause_isolate.") else "") + a.count()
                             + (f" ({a.span()})" if a.range() else "") for k, a in held)
            everywhere, somewhere = all(a.everywhere for _, a in held), any(a.held for _, a in held)
            answer = "partly" if (r.answer == "yes" and not everywhere) or (r.answer == "no" and somewhere) \
                else r.answer
            r = replace(r, answer=answer,
                        figure=f"{r.figure}; holds on {said}")
        elif r.section == "steering" and r.answer != "not measured":
            r = replace(r, figure=f"{r.figure}; the first of {n} SAE seeds only")
        out.append(r)
    return out


def scoreboard(run_dir: Path) -> list[Row]:
    """The questions this run dir has any stage's JSON for, in pipeline order. A file that is not
    the shape its stage writes makes its rows say so (the report of a broken run still opens)."""
    run_dir = Path(run_dir)
    paths = {"card": run_dir / "model" / "model_card.json", "metrics": run_dir / "train" / "metrics.json",
             "concepts": run_dir / "features" / "concepts.json", "causal": run_dir / "evaluate" / "causal.json",
             "steering": run_dir / "steer" / "steering.json"}
    data = {k: read(p) for k, p in paths.items()}
    if all(v is None for v in data.values()):
        return []
    rows = []
    for build, key in ((model_row, "card"), (sae_row, "metrics"), (features_row, "concepts"),
                       (causal_row, "causal"), (cause_isolate_row, "causal"), (steering_row, "steering"),
                       (concept_steering_row, "steering"), (transfer_row, "causal")):
        try:
            rows.append(build(data[key]))
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as err:
            blank = build(None)
            rows.append(Row(blank.question, "not measured", f"{paths[key]} is not the shape its stage writes "
                            f"(no {err})", "", blank.section))
    return across_seeds_rows(rows, run_dir)
