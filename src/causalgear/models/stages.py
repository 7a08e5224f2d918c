"""`causalgear build-model` and `causalgear accuracy`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from omegaconf import DictConfig

from causalgear.data.loading import load_split
from causalgear.data.sources import source
from causalgear.data.sqlexec import budget_of
from causalgear.io import read_json, write_json


def build_model(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.config import SHIFT_ELEMENTS
    from causalgear.models.embedded import (
        CARD,
        CARD_SPLITS,
        embedded_dir,
        ensure_embedded,
        measure_spider,
        measure_splits,
    )
    from causalgear.models.loading import ModelLoadError
    from causalgear.models.shipped import shipped_dir

    if cfg.model.name_or_path != "embedded":
        raise ModelLoadError(f"model={cfg.model.name} is not built here: build-model builds the embedded "
                             "models (model=tinysql_multitable, tinysql or tinysql_smoke)")
    start = time.monotonic()
    shipped = shipped_dir(cfg.model) is not None
    hit = shipped or (embedded_dir(cfg.model, cfg.paths.cache_dir) / CARD).is_file()
    path = ensure_embedded(cfg.model, cfg.paths.cache_dir)
    card = read_json(path / CARD, f"delete {path} to rebuild the model")
    how = "shipped" if shipped else "cache hit" if hit else "built"
    print(f"{how}: {path} ({time.monotonic() - start:.1f}s)")
    spider_dir = source(cfg.data, cfg.paths.cache_dir).spider_dir or os.environ.get("CAUSALGEAR_SPIDER")
    spider_due = bool(spider_dir) and (card.get("spider_tinysql", {}).get("spider_dir") != str(spider_dir)
                                       or "free_decoding" not in card["spider_tinysql"])
    stale = any(f"{split}_accuracy" not in card for split in CARD_SPLITS)  # a card of an earlier build
    if stale or spider_due:
        from causalgear.models.loading import load_model

        model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
        measure_splits(card, model, tokenizer, cfg.model, cfg.paths.cache_dir)
        if spider_due:
            measure_spider(card, model, tokenizer, spider_dir)
        if not shipped:  # the shipped files keep their recorded hashes: the run's copy of the card has the rest
            write_json(path / CARD, card)
    if not shipped:
        _compare_with_shipped(path, cfg.model, out_dir)
    write_json(out_dir / "model_card.json", card)
    print("test accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in card["test_accuracy"].items())
          + f"; mean {card['test_accuracy_mean']:.3f}; test_ood mean {card['test_ood_accuracy_mean']:.3f}")
    for side in ("test", "validation"):
        print(f"graded shift (one phrasing element held out), {side}, mean accuracy: " + ", ".join(
            f"{e} {card[f'{side}_shift.{e}_accuracy_mean']:.3f}" for e in SHIFT_ELEMENTS))
    for split, how in (("multitable_test", "free"), ("multitable_test_schema", "schema")):
        print(f"multi-table test accuracy, {how} decoding: " + ", ".join(
            f"{k} {v:.3f}" for k, v in card[f"{split}_accuracy"].items()))
    if "spider_tinysql" in card:
        sp = card["spider_tinysql"]
        print(f"Spider single-table dev questions, schema decoding: {sp['accuracy']:.3f} of {sp['n']}; " + ", ".join(
            f"{g} {r['accuracy']:.3f} ({r['n']})" for g, r in sp["by_group"].items())
            + f"; free decoding: {sp['free_decoding']['accuracy']:.3f}")
    return card


def _compare_with_shipped(built: Path, model_cfg, out_dir: Path) -> None:
    """Print, and write to card_comparison.json, how a build from the recipe compares with the
    shipped model of its name, split by split."""
    from dataclasses import asdict

    from causalgear.models.shipped import compare_with_shipped, describe_differences

    comparison = compare_with_shipped(built, model_cfg)
    if comparison is None:
        return
    recipe = "the same recipe" if comparison["same_recipe"] else "another recipe"
    weights = "identical weights" if comparison["identical_weights"] else "different weights"
    print(f"against the shipped {model_cfg.name} ({recipe}, built on {comparison['shipped_built_on']}): "
          f"{weights}; {comparison['n_differ']} of {comparison['n_figures']} card figures differ")
    for line in describe_differences(comparison["figures"]):
        print(line)
    write_json(out_dir / "card_comparison.json", {**comparison, "figures": [asdict(f) for f in comparison["figures"]]})


def accuracy(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.models.accuracy import evaluate_model
    from causalgear.models.constrain import schema_decoding
    from causalgear.models.loading import load_model, model_source

    examples = load_split(cfg)
    model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
    start = time.monotonic()
    constrained = schema_decoding(cfg.data)
    report = evaluate_model(model, tokenizer, examples, max_new_tokens=cfg.generation.max_new_tokens,
                            batch_size=cfg.generation.batch_size,
                            budget=budget_of(cfg.exec),
                            progress=True, schema_decoding=constrained)
    report = {"model": cfg.model.name, "source": model_source(cfg.model, cfg.paths.cache_dir),
              "data": cfg.data.name, "split": cfg.data.eval_split, "decoding": "schema" if constrained else "free",
              "seconds": round(time.monotonic() - start, 1),
              **report}
    examples_out = report.pop("examples")
    write_json(out_dir / "accuracy.json", report)
    with open(out_dir / "predictions.jsonl", "w") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in examples_out)
    by_group = ", ".join(f"{g} {r['execution_accuracy']:.3f}" for g, r in report["by_group"].items())
    print(f"execution accuracy {report['execution_accuracy']:.4f} ({report['n_correct']}/{report['n_scored']}); "
          f"{by_group}; {report['decoding']} decoding; errors {report['counts']['error']}, "
          f"timeouts {report['counts']['timeout']}, empty gold {report['empty_gold']}, gold errors "
          f"{report['counts']['gold_error']}")
    if report["counts"]["gold_error"]:
        print(f"warning: {report['counts']['gold_error']} gold queries fail on their own database and are scored "
              "wrong: predictions.jsonl names them (kind gold_error)")
    return report
