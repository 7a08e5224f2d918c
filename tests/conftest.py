import os
from pathlib import Path

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from causalgear.models.tokenizer import train_tokenizer
from causalgear.preflight import compose

REPO = Path(__file__).resolve().parents[1]
SPIDER_DIR = Path(os.environ.get("CAUSALGEAR_SPIDER", REPO.parent / "shared" / "spider"))


@pytest.fixture
def spider_dir() -> Path:
    if not (SPIDER_DIR / "tables.json").is_file():
        pytest.skip(f"Spider not found at {SPIDER_DIR} (set CAUSALGEAR_SPIDER)")
    return SPIDER_DIR


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A private cache, so tests never read or write the user's ~/.cache/causalgear."""
    d = tmp_path / "cache"
    monkeypatch.setenv("CAUSALGEAR_CACHE", str(d))
    return d

TEXTS = [
    "### Instruction: show the name and age from people ### Context: CREATE TABLE people (name TEXT, "
    "age INTEGER) ### Response: SELECT name, age FROM people",
    "### Instruction: list price of items sorted by price descending ### Context: CREATE TABLE items "
    "(price REAL, stock INTEGER) ### Response: SELECT price FROM items ORDER BY price DESC",
    "numbers 12345 0.75 -3 and words with ünïcödé",
]


def save_tiny_qwen2(path, hidden_size: int = 32):
    """A Qwen2 of tiny random config with its own tokenizer, saved at `path` like a hub download."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer(TEXTS * 5, vocab_size=300)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                         num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    Qwen2ForCausalLM(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory):
    return save_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def smoke_model(tmp_path_factory):
    """The embedded model's code path with the seconds-to-build recipe, in a private cache."""
    from causalgear.models.loading import load_model

    cache = tmp_path_factory.mktemp("cache")
    cfg = compose(["model=tinysql_smoke", f"paths.cache_dir={cache}"])
    model, tokenizer = load_model(cfg.model, cache)
    return cfg, model, tokenizer


@pytest.fixture(scope="session")
def tiny_qwen2(tiny_qwen2_dir):
    from transformers import AutoTokenizer

    model = Qwen2ForCausalLM.from_pretrained(tiny_qwen2_dir).eval().requires_grad_(False)
    return model, AutoTokenizer.from_pretrained(tiny_qwen2_dir)


SMOKE_SMALL = ["data.n_train_per_set=40", "data.n_test_per_set=4", "data.n_validation_per_set=2",
               "data.n_test_ood_per_set=2", "data.n_schemas=12", "harvest.max_examples=40", "causal.n_select=6",
               "causal.n_test=8", "causal.n_boot=200", "generation.max_new_tokens=24"]


@pytest.fixture(scope="session")
def smoke_sae(smoke_model, tmp_path_factory):
    """(overrides, root): the smoke model with a firing one-layer SAE of 8 codes at layer 1, and a
    small TinySQL, as the overrides a stage needs; root holds the SAE's train dir."""
    from causalgear.sae.io import save_sae
    from causalgear.sae.relu import ReLUSAE

    cfg, model, _ = smoke_model
    root = tmp_path_factory.mktemp("smoke-sae")
    torch.manual_seed(0)
    sae = ReLUSAE(model.config.hidden_size, 8)
    with torch.no_grad():
        sae.b_enc.fill_(0.1)
    save_sae(sae, root / "train" / "sae", layer=1, site="resid", model_name="tinysql_smoke")
    return ["model=tinysql_smoke", f"paths.cache_dir={cfg.paths.cache_dir}", f"sae.path={root / 'train'}",
            *SMOKE_SMALL], root


def write_user_jsonl(folder: Path, n: int = 60) -> Path:
    """A user's own data as `data=jsonl` reads it: `n` rows over one SQLite file beside the JSONL."""
    import json
    import sqlite3

    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(folder / "shop.sqlite") as conn:
        conn.execute("CREATE TABLE items (name TEXT, price REAL, stock INTEGER)")
        conn.execute("CREATE TABLE people (name TEXT, age INTEGER)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [(f"item{i}", 1.5 * i, i % 7) for i in range(12)])
        conn.executemany("INSERT INTO people VALUES (?, ?)", [(f"person{i}", 20 + i) for i in range(12)])
    context = "CREATE TABLE items (name TEXT, price REAL, stock INTEGER) CREATE TABLE people (name TEXT, age INTEGER)"
    shapes = [("show the {c} of items", "SELECT {c} FROM items", ("name", "price", "stock")),
              ("list the {c} of people sorted by {c} descending", "SELECT {c} FROM people ORDER BY {c} DESC",
               ("name", "age")),
              ("how many items have a stock above {v}", "SELECT COUNT(*) FROM items WHERE stock > {v}", range(6))]
    rows = []
    for i in range(n):
        question, sql, values = shapes[i % len(shapes)]
        v = list(values)[(i // len(shapes)) % len(values)]
        rows.append({"question": question.format(c=v, v=v), "context": context, "sql": sql.format(c=v, v=v),
                     "db": "shop.sqlite", "group": ["plain", "ordered", "counted"][i % len(shapes)]})
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def chromium_dom(page: Path, profile: Path, width: int | None = None) -> str:
    """The DOM of `page` as headless Chromium renders it (the test skips where no Chromium is installed).
    With `width`, the window is that wide and the body carries `data-scroll-width` and `data-width`:
    the page's scroll width and its visible width, measured after layout."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no headless Chromium on this machine")
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
    if width is not None:
        measured = page.with_name(page.stem + ".measured.html")
        measure = ("<script>window.addEventListener('load', () => {const e = document.documentElement; "
                   "document.body.dataset.scrollWidth = e.scrollWidth; document.body.dataset.width = e.clientWidth;});"
                   "</script>")
        measured.write_text(page.read_text().replace("</body>", measure + "</body>"))
        args += [f"--window-size={width},900", "--virtual-time-budget=5000"]
        page = measured
    proc = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
