"""Execution accuracy on multi-table questions by context length, decoded free and under the schema.

    python bench/multitable_length.py model=tinysql_multitable [--databases 60]

Contexts hold the tables of one, two or three generated multi-table databases put together
(names unique), so the questions stay the same kind and only the context grows. Generated data
only: it asks whether a model's reach stops at the context lengths it trained on, and what schema
decoding (`models/constrain.py`) adds and costs: both decodings run side by side on the same
questions in one process, and their time is given as a ratio.
Ends with one JSON line: prompt tokens (median, max), accuracy per decoding and the time ratio
per context size.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--databases", type=int, default=60, help="contexts per size; four questions each")
    args, overrides = p.parse_known_args()

    from causalgear.data import multitable as MT
    from causalgear.data.examples import Example
    from causalgear.models.accuracy import evaluate_model
    from causalgear.models.loading import load_model
    from causalgear.preflight import compose

    cfg = compose(overrides)
    model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
    rng, root, results = random.Random(cfg.seed), Path(tempfile.mkdtemp()), {}
    for k in (1, 2, 3):
        examples = []
        for i in range(args.databases):
            tables, seen = [], set()
            for j in range(k):
                for t in MT.make_database(rng, f"x{j}").tables:
                    if t.name.lower() not in seen:
                        seen.add(t.name.lower())
                        tables.append(t)
            rng.shuffle(tables)
            db = MT.Database(f"size{k}_{i}", tuple(tables))
            (root / db.db_id).mkdir()
            MT.write_database(root / db.db_id / f"{db.db_id}.sqlite", db, cfg.seed)
            for group in MT.GROUPS:
                question, sql = MT.make_example(rng, db, group)
                examples.append(Example(id=f"{db.db_id}-{group}", split="bench", group=group, db_id=db.db_id,
                                        question=question, context=db.context, sql=sql, db_dir=str(root / db.db_id)))
        lengths = sorted(len(tokenizer(e.prompt).input_ids) for e in examples)
        accuracy, seconds = {}, {}
        for decoding in ("free", "schema"):
            start = time.perf_counter()
            report = evaluate_model(model, tokenizer, examples, max_new_tokens=64, batch_size=32,
                                    schema_decoding=decoding == "schema")
            accuracy[decoding], seconds[decoding] = report["execution_accuracy"], time.perf_counter() - start
        ratio = seconds["schema"] / seconds["free"]
        results[f"{k}_databases"] = {"n": len(examples), "prompt_tokens_median": lengths[len(lengths) // 2],
                                     "prompt_tokens_max": lengths[-1], "accuracy": accuracy,
                                     "schema_time_ratio": round(ratio, 2)}
        print(f"{k} database(s) per context: prompt tokens median {lengths[len(lengths) // 2]}, "
              f"max {lengths[-1]}; accuracy free {accuracy['free']:.3f}, schema {accuracy['schema']:.3f} "
              f"of {len(examples)}; schema decoding takes {ratio:.2f}x the time (scoring included)")
    print(json.dumps({"model": cfg.model.name, **results}))


if __name__ == "__main__":
    main()
