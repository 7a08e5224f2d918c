"""The embedded default model: a small Qwen2ForCausalLM trained from scratch on TinySQL, on CPU.

Built once per recipe (`model.build`) and cached as an ordinary Hugging Face directory under
`paths.cache_dir/models/`, so the same loading code serves it and a hub model. The build is
written to a temporary directory and renamed when complete: a half-built model is never used.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from transformers import Qwen2Config, Qwen2ForCausalLM

from causalgear.data import multitable, tinysql
from causalgear.data.scoring import summarize
from causalgear.io import build_dir_atomically
from causalgear.logs import bar as progress_bar
from causalgear.logs import plain
from causalgear.models.accuracy import evaluate_model, score_predictions, summaries_by
from causalgear.models.generate import generate_sql
from causalgear.models.recipe import (  # noqa: F401 - re-exported: the recipe's key, read without torch
    ADDED_FIELDS,
    BUILDER_VERSION,
    CARD,
    embedded_dir,
    embedded_key,
    multitable_data,
    training_data_cfg,
)
from causalgear.models.shipped import shipped_dir, verify
from causalgear.models.tokenizer import train_tokenizer
from causalgear.provenance import machine

# the splits the model card reports: the test split, all-at-once shift, each graded shift and its
# validation twin, and multi-table TinySQL's test split, decoded free and under its schemas' grammar
# (`models/constrain.py`: the decoding `data=spider data.subset=tinysql` uses)
CARD_SPLITS = ("test", "test_ood", *tinysql.SHIFT_SPLITS, *tinysql.VALIDATION_SHIFT_SPLITS, "multitable_test",
               "multitable_test_schema")


def multitable_split(build, cache_dir: str | Path, split: str):
    seed, n_train_per_set, made_up = multitable_data(build)
    return multitable.load_split(seed, n_train_per_set, cache_dir, split, made_up)


def ensure_embedded(model_cfg, cache_dir: str | Path, progress: bool = True) -> Path:
    """The recipe's model: its shipped copy, verified, where one matches (`models/shipped.py`); else
    the cache's build, built there first if absent."""
    shipped = shipped_dir(model_cfg)
    if shipped is not None:
        return verify(shipped)
    final = embedded_dir(model_cfg, cache_dir)

    def complete(d: Path) -> bool:
        return (d / CARD).is_file()

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        build_embedded(model_cfg, cache_dir, tmp, progress=progress)

    if complete(final):
        return final
    return build_dir_atomically(final, build, complete)


def measure_splits(card: dict, model, tokenizer, model_cfg, cache_dir: str | Path, progress: bool = True) -> None:
    """Add to `card` the accuracy per command set of each of CARD_SPLITS it lacks (a card of an
    earlier build lacks the graded shift splits, or their validation twins)."""
    build = model_cfg.build
    data_cfg = training_data_cfg(build)
    missing = [split for split in CARD_SPLITS if f"{split}_accuracy" not in card]
    for split in missing:
        examples = (multitable_split(build, cache_dir, "test") if split.startswith("multitable_test")
                    else tinysql.load_split(data_cfg, cache_dir, split))
        examples = _per_set(examples, build.test_examples_per_set)
        report = evaluate_model(model, tokenizer, examples, max_new_tokens=64, batch_size=128, progress=progress,
                                schema_decoding=split.endswith("_schema"))
        by_set = {g: r["execution_accuracy"] for g, r in report["by_group"].items()}
        card[f"{split}_accuracy"] = by_set
        card[f"{split}_accuracy_mean"] = sum(by_set.values()) / len(by_set)


def measure_spider(card: dict, model, tokenizer, spider_dir: str | Path, progress: bool = True) -> None:
    """Add to `card` the execution accuracy on Spider's single-table dev questions
    (`data.subset=tinysql`), in all and per command set and database, decoded as that data set is
    by default (under each schema's grammar), and in all when decoded free."""
    from causalgear.config import SpiderDataConfig, SpiderSubset
    from causalgear.data import spider

    data = OmegaConf.structured(SpiderDataConfig(spider_dir=str(spider_dir), subset=SpiderSubset.tinysql))
    examples, _ = spider.load_examples(data)

    def verdicts(contexts):
        predictions = generate_sql(model, tokenizer, [e.prompt for e in examples], max_new_tokens=64, batch_size=32,
                                   progress=progress, contexts=contexts)
        return score_predictions(examples, predictions)

    def share(summary: dict) -> dict:
        return {"accuracy": summary["execution_accuracy"], "n": summary["n_scored"]}

    schema = verdicts([e.context for e in examples])
    card["spider_tinysql"] = {
        "spider_dir": str(spider_dir), "split": "dev", "decoding": "schema", **share(summarize(schema).as_dict()),
        **{f"by_{name}": {k: share(r) for k, r in summaries_by(examples, schema, key).items()}
           for name, key in (("group", lambda e: e.group), ("database", lambda e: e.db_id))},
        "free_decoding": share(summarize(verdicts(None)).as_dict())}


def _per_set(examples, n: int | None):
    if n is None:
        return examples
    counts: dict[str, int] = {}
    keep = []
    for e in examples:
        counts[e.group] = counts.get(e.group, 0) + 1
        if counts[e.group] <= n:
            keep.append(e)
    return keep


def _lr_at(step: int, build) -> float:
    if step < build.warmup_steps:
        return build.lr * (step + 1) / build.warmup_steps
    progress = (step - build.warmup_steps) / max(1, build.steps - build.warmup_steps)
    return build.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _encode(tokenizer, examples, max_len: int) -> list[tuple[list[int], int]]:
    """(prompt + response + eos ids, prompt length). Prompt and SQL are tokenized apart, as at
    inference, where the prompt ends at '### Response: ' and the model writes the SQL."""
    if not examples:  # a recipe without multi-table data; the tokenizer refuses an empty batch
        return []
    prompts = tokenizer([e.prompt for e in examples]).input_ids
    responses = tokenizer([e.sql for e in examples]).input_ids
    out = []
    for p, r in zip(prompts, responses, strict=True):
        ids = p + r + [tokenizer.eos_token_id]
        if len(ids) <= max_len:
            out.append((ids, len(p)))
    return out


def training_rows(tinysql_rows: list, multitable_rows: list, gen: torch.Generator) -> tuple[list, list]:
    """(all rows, TinySQL's rows) in the order batches take them: windows of a length-sorted list,
    so padding wastes little, shuffled first so that each window is a random mix of command sets
    and schemas. The second list is the same order with the multi-table rows left out, for the
    steps of a curriculum that train on TinySQL alone (`tinysql_final_steps`)."""
    rows = tinysql_rows + multitable_rows
    order = torch.randperm(len(rows), generator=gen).tolist()
    order.sort(key=lambda i: len(rows[i][0]))
    return [rows[i] for i in order], [rows[i] for i in order if i < len(tinysql_rows)]


def _batch(rows, pad_id: int):
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        input_ids[i, :len(ids)] = torch.tensor(ids)
        mask[i, :len(ids)] = 1
        labels[i, n_prompt:len(ids)] = torch.tensor(ids[n_prompt:])  # loss on the response only
    return input_ids, mask, labels


def _response_loss(model, input_ids, mask, labels) -> torch.Tensor:
    """Next-token loss on response tokens, with the LM head run only where the loss looks: the
    response is a fraction of each row, and the head plus softmax over the vocabulary would
    otherwise be a large share of each step."""
    hidden = model.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def build_embedded(model_cfg, cache_dir: str | Path, out_dir: Path, progress: bool = True) -> dict:
    build = model_cfg.build
    if build.threads:
        torch.set_num_threads(build.threads)
    torch.manual_seed(build.seed)
    data_cfg = training_data_cfg(build)
    train = tinysql.load_split(data_cfg, cache_dir, "train")
    validation = tinysql.load_split(data_cfg, cache_dir, "validation")
    train_multitable = []
    if build.multitable_examples_per_set:
        train_multitable = multitable_split(build, cache_dir, "train")
        validation += multitable_split(build, cache_dir, "validation")

    tokenizer = train_tokenizer((e.prompt + e.sql for e in train + train_multitable), build.vocab_size)
    gen = torch.Generator().manual_seed(build.seed)
    rows, final_rows = training_rows(_encode(tokenizer, train, build.max_seq_len),
                                     _encode(tokenizer, train_multitable, build.max_seq_len), gen)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=build.hidden_size, intermediate_size=build.intermediate_size,
        num_hidden_layers=build.num_layers, num_attention_heads=build.num_heads,
        num_key_value_heads=build.num_heads, max_position_embeddings=max(256, build.max_seq_len),
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, rope_theta=10000.0)
    model = Qwen2ForCausalLM(config)
    model.max_context = model_cfg.get("max_context")  # the card's splits run as the stages will (models/context.py)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": build.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}], lr=build.lr, betas=(0.9, 0.95))
    val_subset = validation[:: max(1, len(validation) // build.eval_examples)][: build.eval_examples]

    history, tokens_seen, start = [], 0, time.monotonic()
    bar = progress_bar(range(build.steps), desc=f"build {model_cfg.name}", unit="step", progress=progress)
    for step in bar:
        model.train()
        pool = final_rows if step >= build.steps - build.tinysql_final_steps else rows
        first = int(torch.randint(max(1, len(pool) - build.batch_size), (1,), generator=gen))
        input_ids, mask, labels = _batch(pool[first:first + build.batch_size], tokenizer.pad_token_id)
        for group in optim.param_groups:
            group["lr"] = _lr_at(step, build)
        loss = _response_loss(model, input_ids, mask, labels)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        tokens_seen += int(mask.sum())
        postfix = {"loss": f"{loss.item():.3f}", "tok/s": f"{tokens_seen / (time.monotonic() - start):.0f}"}
        if (step + 1) % build.eval_every == 0 or step + 1 == build.steps:
            model.eval()
            val = evaluate_model(model, tokenizer, val_subset, max_new_tokens=48)
            history.append({"step": step + 1, "loss": loss.item(), "val_accuracy": val["execution_accuracy"]})
            postfix["val_acc"] = f"{val['execution_accuracy']:.3f}"
            if progress:
                plain(f"build {model_cfg.name}: step {step + 1}/{build.steps}, "
                      + ", ".join(f"{k} {v}" for k, v in postfix.items()))
        bar.set_postfix(postfix)
    train_seconds = time.monotonic() - start

    model.eval()
    card = {"name": model_cfg.name, "recipe": OmegaConf.to_container(build, resolve=True),
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "train_examples": len(rows), "training_seconds": round(train_seconds, 1),
            "tokens_seen": tokens_seen, "tokens_per_second": round(tokens_seen / train_seconds),
            "history": history, "data_key": tinysql.data_key(data_cfg),
            # the same recipe builds the same model on one machine, not on every one (floating point)
            "built_on": machine()}
    card_start = time.monotonic()
    measure_splits(card, model, tokenizer, model_cfg, cache_dir, progress)
    card["card_seconds"] = round(time.monotonic() - card_start, 1)
    card["test_accuracy_mean_cs1_cs3"] = sum(card["test_accuracy"][c] for c in ("CS1", "CS2", "CS3")) / 3
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card
