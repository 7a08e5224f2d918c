"""`causalgear features`: which SAE latents mean something, measured against TinySQL's known
concepts, beside a linear-probe ceiling and a random-model floor -> features/concepts.json and
features/features.html.

Rows are harvested tokens with their concept labels (`causalgear.data.concepts`). Fitting rows
come from training examples, held-out rows from validation examples (every tenth example, as in
SAE training): every choice (a concept's latent and threshold, a probe, a DiffMean threshold) is
made on fitting rows and reported on held-out rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from causalgear.data.concepts import BIT
from causalgear.features import references as ref
from causalgear.features.dictionary import concept_matrix, encode_rows, labelled_rows, score_dictionary
from causalgear.io import write_json
from causalgear.sae.module import is_train, is_validation
from causalgear.workbench import Workbench

MIN_POSITIVES = 10  # a concept with fewer held-out rows is not scored


def scorable(known: list[str], m_fit: torch.Tensor, m_held: torch.Tensor) -> tuple[list[str], list[str]]:
    """The token-level concepts with enough rows on both sides to fit and to score, and apart from
    them the sequence-level ones (what the whole example asks for), which stay out of coverage."""
    enough = [c for c in known if int(((m_held & BIT[c]) != 0).sum()) >= MIN_POSITIVES
              and int(((m_fit & BIT[c]) != 0).sum()) >= MIN_POSITIVES]
    return [c for c in enough if not c.startswith("seq.")], [c for c in enough if c.startswith("seq.")]


def features(cfg: DictConfig, out_dir: Path) -> dict:
    return features_on(Workbench.load(cfg, "features"), out_dir)


def latent_views(bench: Workbench, z_held: torch.Tensor, where_held: torch.Tensor,
                 effects: dict[int, dict]) -> dict[int, dict]:
    """What the feature page shows of each latent (`causalgear.features.views`); `effects`: each
    latent's measured causal effect (`views.causal_effects`)."""
    from causalgear.features import views

    out = {}
    for j in range(bench.sae.d_sae):
        value = float(bench.stats["mean_active"][j])
        lens = views.logit_lens(bench.model, bench.sae, j, value, bench.tokenizer) if value > 0 else []
        out[j] = {"histogram": views.histogram(z_held[:, j]),
                  "contexts": views.top_contexts(z_held, where_held, j, bench.tokenizer), "logit_lens": lens,
                  "causal": effects.get(j)}
    return out


def references(x_fit, lab_fit, x_held, lab_held, z_fit, z_held, concepts: list[str], seed: int,
               where_held=None) -> dict:
    out: dict[str, dict] = {}
    for c, name in enumerate(concepts):
        y_fit, y_held = lab_fit[:, c], lab_held[:, c]
        row = {"linear_probe": ref.linear_probe(x_fit, y_fit, x_held, y_held, seed, where_held),
               "diffmean": ref.diffmean(x_fit, y_fit, x_held, y_held)}
        for k in (1, 2, 5):
            row[f"k_sparse_{k}"] = ref.k_sparse_probe(z_fit, y_fit, z_held, y_held, k, seed)
        out[name] = row
    return out


def family(concept: str) -> str:
    """A concept's family: its name without the value (question.agg.sum -> question.agg)."""
    parts = concept.split(".")
    return ".".join(parts[:2]) if parts[0] in ("question", "sql") and len(parts) > 2 and parts[1] != "where" \
        else ".".join(parts[:3]) if parts[:2] == ["question", "where"] else concept


def probe_by_family(refs: dict) -> dict:
    """The linear probe's ceiling per concept family: mean F1 and AUROC, and where its false
    positives fall (pooled), so a low ceiling says whether the labels or the stream are short."""
    out: dict[str, dict] = {}
    for name, row in refs.items():
        p = row["linear_probe"]
        if p["f1"] is None:
            continue
        f = out.setdefault(family(name), {"concepts": [], "f1": [], "auroc": [], "fp": np.zeros(len(ref.PLACES))})
        f["concepts"].append(name)
        f["f1"].append(p["f1"])
        f["auroc"].append(p["auroc"])
        m = p.get("misses") or {}
        if m.get("false_positives"):
            f["fp"] += m["false_positives"] * np.array([m[place] for place in ref.PLACES])
    return {k: {"concepts": f["concepts"], "f1": round(float(np.mean(f["f1"])), 4),
                "auroc": round(float(np.mean(f["auroc"])), 4), "false_positives": int(round(f["fp"].sum())),
                **({place: round(float(n / f["fp"].sum()), 4) for place, n in zip(ref.PLACES, f["fp"], strict=True)}
                   if f["fp"].sum() else {})}
            for k, f in out.items()}


def coverage_on(bench: Workbench, out_dir: Path, fit_rows: int = 60_000) -> dict:
    """Another SAE seed's measure: the dictionary's coverage beside its own random twin's, on the rows
    and concepts `features_on` scores (the references and the floor read the model, not the SAE).
    Writes concepts.json in features_on's shape, less what it does not measure."""
    cfg, store = bench.cfg, bench.store
    x_fit, m_fit, _ = labelled_rows(store, is_train, fit_rows, cfg.seed)
    x_held, m_held, _ = labelled_rows(store, is_validation, fit_rows, cfg.seed)
    concepts, _ = scorable(store.manifest.get("concepts_known", []), m_fit, m_held)
    if not concepts:
        result = {"concepts": [], "coverage": None, "skipped": f"no concept has {MIN_POSITIVES} labelled rows"}
    else:
        from causalgear.features.against_random import coverage_against_twin

        lab_fit, lab_held = concept_matrix(m_fit, concepts), concept_matrix(m_held, concepts)
        z_fit, z_held = encode_rows(bench.sae, x_fit, x_held)
        result = {"concepts": concepts, "d_sae": bench.sae.d_sae, "sae": bench.sae_path,
                  **score_dictionary(z_fit, lab_fit, z_held, lab_held, concepts)}
        result["random_sae"], _ = coverage_against_twin(bench.twin, x_fit, lab_fit, x_held, lab_held, concepts,
                                                        result, cfg.seed)
    write_json(out_dir / "concepts.json", result)
    return result


def features_on(bench: Workbench, out_dir: Path, fit_rows: int = 60_000, floor_examples: int = 800) -> dict:
    from causalgear.features.views import causal_effects

    start = time.monotonic()
    cfg, sae, store = bench.cfg, bench.sae, bench.store
    effects = causal_effects(bench.sae_path)  # read first: a damaged causal.json stops the stage before its work
    known = store.manifest.get("concepts_known", [])
    x_fit, m_fit, _ = labelled_rows(store, is_train, fit_rows, cfg.seed)
    x_held, m_held, where_held = labelled_rows(store, is_validation, fit_rows, cfg.seed)
    concepts, sequence = scorable(known, m_fit, m_held)
    if not concepts:
        result = {"concepts": [], "coverage": None, "skipped": f"no concept has {MIN_POSITIVES} labelled rows on both "
                  f"the fitting and the held-out side ({len(x_fit)} and {len(x_held)} rows; known: {len(known)})"}
        write_json(out_dir / "concepts.json", result)
        print(f"features: skipped: {result['skipped']}")
        return result
    lab_fit, lab_held = concept_matrix(m_fit, concepts), concept_matrix(m_held, concepts)
    z_fit, z_held = encode_rows(sae, x_fit, x_held)
    result = {"concepts": concepts, "fit_rows": len(x_fit), "held_out_rows": len(x_held), "d_sae": sae.d_sae,
              "sae": bench.sae_path,
              "sae_verified": bench.sae_verified, **score_dictionary(z_fit, lab_fit, z_held, lab_held, concepts)}
    if sequence:
        seq = score_dictionary(z_fit, concept_matrix(m_fit, sequence), z_held, concept_matrix(m_held, sequence),
                               sequence)
        result["sequence_concepts"] = {"coverage": seq["coverage"], "per_concept": seq["per_concept"]}
    refs = references(x_fit.numpy(), lab_fit.numpy(), x_held.numpy(), lab_held.numpy(), z_fit.numpy(),
                      z_held.numpy(), concepts, cfg.seed, where_held[:, :2].numpy())
    for name, row in refs.items():
        result["per_concept"][name]["references"] = row

    def mean_f1(key: str) -> float | None:
        vals = [r[key]["f1"] for r in refs.values() if r[key]["f1"] is not None]
        return float(np.mean(vals)) if vals else None

    result["linear_probe_coverage"] = mean_f1("linear_probe")
    result["linear_probe_by_family"] = probe_by_family(refs)
    result["diffmean_coverage"] = mean_f1("diffmean")
    result["k_sparse_coverage"] = {k: mean_f1(f"k_sparse_{k}") for k in (1, 2, 5)}
    from causalgear.features.against_random import random_sae_figures

    result["random_sae"] = random_sae_figures(bench.twin, x_fit, lab_fit, x_held, lab_held, concepts, result, refs,
                                              cfg.seed)
    from causalgear.features.floor import random_model_floor

    result["random_model_floor"] = random_model_floor(bench, concepts, out_dir, floor_examples, fit_rows)
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "concepts.json", result)
    from causalgear.report.features_page import write_features_page

    views = latent_views(bench, z_held, where_held, effects)
    write_json(out_dir / "views.json", {str(j): v for j, v in views.items()})
    write_features_page(out_dir / "features.html", result, views)
    families = {f: [c for c in concepts if c.startswith(f)] for f in ("question.order", "question.agg",
                                                                       "question.where.op", "sql.direction",
                                                                       "sql.agg")}
    detected = {f: sorted({c for r in result["latents"] for c in r["high_precision_for"] if c in cs})
                for f, cs in families.items()}
    twin = result["random_sae"]["coverage"]
    print(f"features: coverage {result['coverage']:.3f} (random SAE {twin['random']:.3f}, trained minus random "
          f"{twin['delta']:+.3f} [{twin['ci_low']:+.3f}, {twin['ci_high']:+.3f}]; "
          f"linear probe {result['linear_probe_coverage']:.3f}, "
          f"DiffMean {result['diffmean_coverage']:.3f}, random-model floor "
          f"{result['random_model_floor']['coverage']:.3f}); dead {result['dead_fraction']:.3f}, dense "
          f"{result['dense_fraction']:.3f}; high-precision detectors by family: "
          + "; ".join(f"{f} {len(v)}" for f, v in detected.items()) + f"; {result['seconds']}s")
    return result
