"""`causalgear harvest`: the configured prompts (with their gold SQL) through the model up to
block `layer`, captured at `site`, into the cached store keyed by everything that shapes it."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from causalgear.data.concepts import (
    CONCEPTS,
    SQL_CONCEPTS,
    prompt_spans,
    sequence_mask,
    sql_parts,
    sql_spans,
    token_masks,
)
from causalgear.data.examples import Example
from causalgear.data.loading import load_split
from causalgear.data.sources import of
from causalgear.harvest.store import CLAUSES, ROLES, STORE_VERSION, ActivationStore, CorruptStore, StoreWriter
from causalgear.io import build_dir_atomically, cache_key, cache_lock, remove_stale_builds, sha256_file
from causalgear.logs import bar as progress_bar
from causalgear.models.context import check_fits
from causalgear.models.loading import MODEL_FILES, WEIGHT_FILES, model_source
from causalgear.models.site import Site

_CLAUSE_RE = re.compile(r"\b(SELECT|FROM|WHERE|GROUP BY|HAVING|ORDER BY|LIMIT)\b", re.IGNORECASE)


def harvest_layer(cfg: DictConfig) -> int:
    return cfg.model.layer if cfg.harvest.layer is None else cfg.harvest.layer


def model_identity(cfg: DictConfig) -> dict:
    """What makes two models the same for caching, read without loading the weights."""
    source = model_source(cfg.model, cfg.paths.cache_dir)
    ident = {"source": source, "revision": cfg.model.revision, "dtype": cfg.model.dtype,
             "quantization": cfg.model.quantization}
    if os.path.isdir(source):
        # a local model is known by its content, not its path: a moved or copied cache (which holds
        # the embedded model) keeps its stores
        del ident["source"]
        ident["sha256"] = {f: sha256_file(Path(source) / f) for f in (*WEIGHT_FILES, *MODEL_FILES)
                           if (Path(source) / f).is_file()}
    return ident


def data_identity(cfg: DictConfig) -> dict:
    return of(cfg).identity()


def harvest_key(cfg: DictConfig) -> tuple[str, dict]:
    h = cfg.harvest
    inputs = {"model": model_identity(cfg), "data": data_identity(cfg), "layer": harvest_layer(cfg),
              "site": h.site, "split": h.split, "max_examples": h.max_examples, "max_norm_ratio": h.max_norm_ratio,
              "shard_tokens": h.shard_tokens, "seed": cfg.seed, "store_version": STORE_VERSION,
              "concepts": cache_key(" ".join(CONCEPTS))}
    return cache_key(inputs), inputs


def select_examples(cfg: DictConfig) -> list[Example]:
    examples = load_split(cfg, cfg.harvest.split)
    if len(examples) > cfg.harvest.max_examples:
        keep = sorted(random.Random(cfg.seed).sample(range(len(examples)), cfg.harvest.max_examples))
        examples = [examples[i] for i in keep]
    return examples


def _starts(text: str, offsets) -> list[int]:
    # a byte-level token " FROM" starts at its space; label it by its first visible character
    out = []
    for a, b in offsets:
        while a < b and text[a].isspace():
            a += 1
        out.append(a)
    return out


def label_tokens(tokenizer, example: Example, phrasing_known: bool = True) -> tuple[list[int], ...]:
    """Token ids of prompt + gold SQL (tokenized apart, as in generation), with role, clause and the
    concept bit mask of each (`causalgear.data.concepts`; the prompt's only for TinySQL)."""
    prompt, sql = example.prompt, example.sql
    p = tokenizer(prompt, return_offsets_mapping=True, add_special_tokens=False)
    s = tokenizer(sql, return_offsets_mapping=True, add_special_tokens=False)
    # question (0) up to the context marker, then context (1); response = the SQL itself
    question_end = example.question_span[1]
    roles = [0 if a < question_end else 1 for a in _starts(prompt, p["offset_mapping"])]
    marks = [(m.start(), CLAUSES.index(m.group(1).lower().replace(" ", "_"))) for m in _CLAUSE_RE.finditer(sql)]
    clauses = [0] * len(p["input_ids"])
    for a in _starts(sql, s["offset_mapping"]):
        clauses.append(next((c for at, c in reversed(marks) if at <= a), 0))
    roles += [ROLES.index("response")] * len(s["input_ids"])
    spans = prompt_spans(example.question, example.context, sql, phrasing_known)
    concepts = token_masks(prompt, p["offset_mapping"], spans) + token_masks(sql, s["offset_mapping"], sql_spans(sql))
    if phrasing_known:  # every token of the example carries what the whole example asks for
        whole = sequence_mask(sql_parts(sql))
        concepts = [m | whole for m in concepts]
    return p["input_ids"] + s["input_ids"], roles, clauses, concepts


def harvest_into(path: Path, cfg: DictConfig, model, tokenizer, examples: list[Example], key: str, inputs: dict,
                 progress: bool = True) -> dict:
    h, layer = cfg.harvest, harvest_layer(cfg)
    device = next(model.parameters()).device
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    d_in = model.config.get_text_config().hidden_size
    writer = StoreWriter(path, d_in, h.shard_tokens)
    site = Site(model, layer, h.site)
    dropped_norm, masked, tokens_seen, start = 0, 0, 0, time.monotonic()
    phrasing_known = "question_concepts" in of(cfg).supports
    labelled = [label_tokens(tokenizer, e, phrasing_known) for e in examples]
    check_fits(model, [row[0] for row in labelled], lambda i: f"example {examples[i].id} (its prompt and gold SQL)")
    bar = progress_bar(total=sum(len(row[0]) for row in labelled), desc="harvest", unit="tok", progress=progress)
    for b in range(0, len(examples), h.batch_size):
        chunk = labelled[b:b + h.batch_size]
        width = max(len(row[0]) for row in chunk)
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        role = torch.zeros_like(ids, dtype=torch.int8)
        clause = torch.zeros_like(ids, dtype=torch.int8)
        concepts = torch.zeros_like(ids)
        for i, (t, r, c, k) in enumerate(chunk):
            ids[i, :len(t)], mask[i, :len(t)] = torch.tensor(t), 1
            role[i, :len(t)], clause[i, :len(t)] = torch.tensor(r, dtype=torch.int8), torch.tensor(c, dtype=torch.int8)
            concepts[i, :len(t)] = torch.tensor(k, dtype=torch.long)
        acts = site.run(ids.to(device), mask.to(device)).float().cpu()
        keep = mask.bool() & ~torch.isin(ids, special)
        masked += int(mask.sum() - keep.sum())
        if h.max_norm_ratio is not None:
            norms = acts.norm(dim=-1)
            limit = h.max_norm_ratio * norms[keep].median()
            sink = keep & (norms > limit)
            dropped_norm += int(sink.sum())
            keep &= ~sink
        example = torch.arange(b, b + len(chunk)).unsqueeze(1).expand_as(ids)
        position = torch.arange(width).unsqueeze(0).expand_as(ids)
        writer.add(acts[keep], {"example": example[keep], "position": position[keep], "token_id": ids[keep],
                                "role": role[keep], "clause": clause[keep], "concepts": concepts[keep]})
        bar.update(int(mask.sum()))
        tokens_seen += int(mask.sum())
    bar.close()
    seconds = time.monotonic() - start
    info = {"key": key, "inputs": inputs, "layer": layer, "site": h.site, "seconds": round(seconds, 2),
            "tokens_seen": tokens_seen, "tokens_per_second": round(tokens_seen / max(seconds, 1e-9)),
            "masked_special": masked, "dropped_norm": dropped_norm, "concepts": list(CONCEPTS),
            # which concepts a row can carry: all for TinySQL; the SQL's alone where the phrasing is unknown
            "concepts_known": list(CONCEPTS) if phrasing_known else list(SQL_CONCEPTS)}
    ex_rows = [{"index": i, "id": e.id, "split": e.split, "group": e.group, "db_id": e.db_id}
               for i, e in enumerate(examples)]
    return writer.finish(info, ex_rows)


def store_dir(cfg: DictConfig, key: str) -> Path:
    return Path(cfg.paths.cache_dir).expanduser() / "activations" / key


def ensure_store(cfg: DictConfig, model=None, tokenizer=None, progress: bool = True) -> tuple[ActivationStore, bool]:
    """The store for this config: opened and verified if cached, else harvested. (store, cache_hit)"""
    key, inputs = harvest_key(cfg)  # hashes the weights: once per call
    final = store_dir(cfg, key)
    remove_stale_builds(final.parent)
    store = _open_store(final, cfg.harvest.rebuild)
    if store is not None:
        return store, True
    with cache_lock(final):  # one process rebuilds; another waits, then opens what it built
        store = _open_store(final, cfg.harvest.rebuild, discard_corrupt=True)
        if store is not None:
            return store, True
        if model is None:
            from causalgear.models.loading import load_model

            model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
        build_dir_atomically(final, lambda tmp: harvest_into(tmp, cfg, model, tokenizer, select_examples(cfg), key,
                                                             inputs, progress=progress),
                             lambda d: (d / "manifest.json").is_file(), locked=True)
    return ActivationStore(final), False


def _open_store(final: Path, rebuild: bool, discard_corrupt: bool = False) -> ActivationStore | None:
    """The verified store at `final`; None where there is none or (rebuild allowed) it is corrupt."""
    if not final.exists():
        return None
    try:
        return ActivationStore(final)
    except FileNotFoundError as missing:
        if not discard_corrupt:  # removed while read by a process rebuilding it: wait for it under the lock
            return None
        problem = CorruptStore(f"{final} lacks {missing.filename}")
    except CorruptStore as err:
        problem = err
    if not rebuild:
        raise CorruptStore(f"{problem}; rerun with harvest.rebuild=true to rebuild it") from problem
    if discard_corrupt:
        print(f"rebuilding: {problem}")
        shutil.rmtree(final)
    return None


def run(cfg: DictConfig, out_dir: Path) -> dict:
    start = time.monotonic()
    store, hit = ensure_store(cfg)
    m = store.manifest
    summary = {"path": str(store.path), "cache_hit": hit, "rows": m["n_rows"], "d_in": m["d_in"],
               "shards": len(m["shards"]), "layer": m["layer"], "site": m["site"],
               "harvest_seconds": m["seconds"], "tokens_per_second": m["tokens_per_second"],
               "dropped_norm": m["dropped_norm"], "seconds": round(time.monotonic() - start, 2)}
    (out_dir / "harvest.json").write_text(json.dumps(summary, indent=2) + "\n")
    status = "cache hit" if hit else "harvested"
    print(f"{status}: {store.path} rows={m['n_rows']} d_in={m['d_in']} shards={len(m['shards'])} "
          f"seconds={summary['seconds']} tokens/s={m['tokens_per_second']}"
          + (f" dropped_norm={m['dropped_norm']}" if cfg.harvest.max_norm_ratio is not None else ""))
    return summary
