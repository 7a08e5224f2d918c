"""`causalgear data`: build (or find) the configured data set and write its summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig


def run(cfg: DictConfig, out_dir: Path) -> dict:
    if cfg.data.name == "tinysql":
        from causalgear.data import tinysql

        root = tinysql.ensure_dataset(cfg.data, cfg.paths.cache_dir)
        summary = {"name": "tinysql", "path": str(root), "splits": {}}
        for split in tinysql.SPLITS:
            examples = tinysql.load_split(cfg.data, cfg.paths.cache_dir, split)
            summary["splits"][split] = dict(Counter(e.group for e in examples))
    else:
        from causalgear.data import spider

        examples, counts = spider.load_examples(cfg.data)
        summary = {"name": "spider", "path": str(cfg.data.spider_dir), **counts,
                   "by_group": dict(Counter(e.group for e in examples))}
    (out_dir / "data.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return summary
