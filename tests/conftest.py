import os
from pathlib import Path

import pytest

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
