"""docs/reference/outputs.md, generated: the files a run writes, then every result type
(`causalgear.results`) with each field's type and doc. `tests/test_results.py` keeps the page in step
with the types.

  python -m causalgear.report.reference   (rewrites docs/reference/outputs.md)
"""

from __future__ import annotations

import typing
from dataclasses import fields
from pathlib import Path

from causalgear.results import RESULT_TYPES

PAGE = Path(__file__).resolve().parents[3] / "docs" / "reference" / "outputs.md"

INTRO = """# Output files

Each stage writes into its own run dir (`outputs/STAGE/DATE/TIME/`); `causalgear pipeline` writes
them all into one, in the subdirs below. `causalgear summarize RUN` reads them back as the scoreboard, findings and
tables; `causalgear compare` as one row per run; `causalgear.read_run(RUN)` as the types below.

This page is generated from `causalgear.results` (`python -m causalgear.report.reference`)."""

# each file a run writes, and what it holds (a result type's section says the rest)
FILES = [
    ('`model/model_card.json`',
     "the embedded model's recipe, cache key, test accuracy per command set, and the same for test_ood, "
      'each graded shift split and its validation twin'),
    ('`harvest/harvest.json`',
     'the activation store: path, rows, d_in, shards, layer, site, cache hit'),
    ('`train/metrics.json`',
     'the SAE on validation rows: `mse`, `fvu`, `explained_variance`, `l0`, `density` (mean share of '
      'active codes), `dead_fraction`, `ce_loss_clean/spliced/zero`, `ce_loss_recovered`, `arch`, `d_in`, '
      '`d_sae`, `l1_coeff`, `k` (TopK family; else null), `train_seconds`, `rows_seen`'),
    ('`train/sae/cfg.json`, `sae_weights.safetensors`',
     'the SAE (SAELens format for relu/topk); `loss_curves.png`, `feature_density.png`, `csv/`, `wandb/` '
      'beside them'),
    ('`evaluate/causal.json`',
     'per coordinate: Δ accuracy on the selection split with its interval, firing rate; `chosen`, '
      '`chosen_test` (Δ, `ci_low`, `ci_high`, n on the test split), `controls` (random coordinate, random '
      'direction), `kl_prompt_positions`, `checks`, `verdict`, `top_tokens`; `select_by`, `components`, per'
      ' coordinate its component `profile`, `target_component`, `precision`, `selectivity`, and '
      "`chosen_test_profile` ([CausalChoice](#causalchoice)); `random_sae_chosen` (the random twin's "
      'coordinate chosen the same way, a [CausalChoice](#causalchoice)) and `precision_beats_random_sae`; '
      '`cause_isolate` per attribute (pairs made and kept, the latents chosen per swap on selection, '
      "`selection_full_residual` (the full residual's cause on validation pairs: the handle steer's split "
      'rule reads), per method a [CauseIsolateCell](#causeisolatecell), the top 1/2/5 latents each with its'
      ' random-SAE `twin`, and `beats_random_sae` per top-k); `transfer` with a transfer preset; '
      '`causal.png`, `profile.png`, `patching.json/png`'),
    ('`steer/steering.json`',
     "a [SplitSteering](#splitsteering): the split steered and why, every method's "
      '[SplitMethod](#splitmethod) (its twin inside it) and, per concept target, a '
      '[ConceptTarget](#concepttarget); `steering.png`, `steering_flips.png` beside it'),
    ('`steer/attributions.json`',
     'per attributed prompt: `tokens`, `token_ids`, `attributions`, `prompt_length`, '
      '`perturbed_positions`, `baseline`, `n_steps`, `layer`, `coordinate`, `F_input`, `F_baseline`, '
      '`completeness_error`; `feature_definition` says exactly what F is'),
    ('`steer/attributions.html`',
     'prompts coloured by attribution, with the unsteered and steered SQL, right or wrong'),
    ('`selection.json` (`causalgear select`)',
     'one candidate SAE on validation data only: `arch`, `d_sae`, `k`, `layer`, `health` (explained '
      'variance, L0, density, dead) with `passes_gate` and `gate_failures`; `carry` per attribute '
      '(`order_direction`, `aggregate`): `choose_pairs`, `score_pairs`, and for `sae`, `random_sae` (the '
      'latents chosen per swap, `cause` and `isolate` with Wilson intervals) and `full_residual`; '
      "`carry_score` (the rule's mean cause); `coverage` (`trained`, `random`, `delta`, `ci_low`, "
      '`ci_high`, `finding`); `absorption` for `sae` and `random_sae` (per concept `main_latents`, '
      '`probe_true_positives`, `absorption_fraction`, `full_absorption`; their means)'),
    ('`multirun/DATE/TIME/selection.md` (`causalgear compare`)',
     'the rule, every candidate ranked with every measure, the winner'),
    ('`features/concepts.json`',
     "latents against TinySQL's concepts: `coverage`, `dead_fraction`, `dense_fraction`; per concept the "
      'best latent, threshold, precision, recall, F1, AUROC and the references (`linear_probe`, `diffmean`,'
      ' `k_sparse_1/2/5`); per latent its firing rate, best concept and `high_precision_for`; '
      '`linear_probe_coverage`, `diffmean_coverage`, `k_sparse_coverage`, `random_model_floor`, '
      '`sequence_concepts`; `random_sae` (`coverage` and `k_sparse_coverage` of the frozen random-weight '
      'twin: `trained`, `random`, `delta`, `ci_low`, `ci_high`, `finding`)'),
    ('`features/features.html`, `views.json`',
     'the feature page (index and a card per latent) and the data it shows, for `notebooks/features.ipynb`'),
    ('`features.json`',
     'the top-activating tokens of the most frequent coordinates'),
    ('`seeds/seed_<S>/`',
     "each further SAE seed (`sae.seeds`; the first is the run's own `train/`): `train/` as above, "
      '`evaluate/causal.json` (the causal choice with its controls and twin, cause / isolate; no activation'
      ' patching or transfer, which read the model alone), `features/concepts.json` (`coverage`, '
      '`per_concept`, `latents`, `dead_fraction`, `dense_fraction` and `random_sae.coverage`; no references'
      ' or floor), `steer/steering.json` (`concept_steering` alone: the unsteered score and the SAE methods'
      ' with their twins)'),
    ('`seeds/seeds.json`',
     "`seeds` (the SAE seeds, the run's own first); `split_steering` (where the split steering ran: the "
      'first seed); `stability` (per pair of seeds `matched_at_0.7`, `matched_at_0.9`, `mean_max_cosine`, '
      'their means with `pw_mcc`, and the same for the random twins: the floor); `carriers` (per attribute '
      "and swap the best `k` latents of each seed, each first-seed latent's decoder `cosines` with its "
      'partner in each further seed, `recurs_in` of `seeds` where every cosine is at least `recurs_at`, '
      '`mean_cosine`; the same for the causal choice under `chosen`); `findings` (per finding: `figure`, '
      '`criterion`, `held` of `seeds`, `low`, `high`, and `per_seed` figures with whether its criterion '
      '`holds`)'),
    ('`pipeline.json`',
     "the summary: model accuracy, the SAE's health, the causal choice, `steering` (per split, per method:"
      " scale, accuracies, Δ and its interval, outputs changed, and its random-SAE `twin`'s the same), the "
      "features' coverage, `sae_seeds` (the "
      "seeds, the dictionary's stability, each finding's count and range across them), `skipped` (what the "
      'data set cannot give), `seconds` per stage, and `provenance` (`command`, `model`, `commit`: the '
      'commit of the code that ran, `-dirty` with uncommitted changes)'),
    ('`report.html`',
     'the page: the scoreboard first (one row per question, its answer, deciding figure and control, each '
      'linking to its section; the same as `causalgear summarize`), then a section per stage opening with '
      'its finding sentence, with its tables and plots; a plot with nothing to show is a sentence saying '
      'why'),
]


def _type_name(hint) -> str:
    """A field's type as the page says it, each result type linked to its section."""
    if isinstance(hint, type) and hint in RESULT_TYPES:
        return f"[{hint.__name__}](#{hint.__name__.lower()})"
    if hint is type(None):
        return "null"
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin is dict and args:
        return f"map of {_type_name(args[1])}"
    if origin is list and args:
        return f"list of {_type_name(args[0])}"
    if args:
        return " or ".join(_type_name(a) for a in args)
    return getattr(hint, "__name__", str(hint)).replace("Any", "any")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _section(cls) -> list[str]:
    hints = typing.get_type_hints(cls)
    out = [f"### {cls.__name__}", "", " ".join(cls.__doc__.split()), "", "| field | type | what it holds |",
           "| --- | --- | --- |"]
    for f in fields(cls):
        doc = f.metadata.get("doc")
        if not doc:
            raise ValueError(f"{cls.__name__}.{f.name} has no doc: declare it with results.documented(doc)")
        how = "; left out where null" if f.metadata.get("omit_none") else \
            "; its keys sit beside the fields" if f.metadata.get("flatten") else ""
        name = "*(beside)*" if f.metadata.get("flatten") else f"`{f.name}`"
        out.append(f"| {name} | {_type_name(hints[f.name])} | {_cell(doc + how)} |")
    return out + [""]


def page() -> str:
    """The whole page."""
    lines = [INTRO, "", "| file | what it holds |", "| --- | --- |"]
    lines += [f"| {file} | {_cell(what)} |" for file, what in FILES]
    lines += ["", "## Result types", ""]
    for cls in RESULT_TYPES:
        lines += _section(cls)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.write_text(page())
    print(f"wrote {PAGE}")
