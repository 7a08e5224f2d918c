import shutil
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "run"  # a pipeline run's JSON, without its pictures


@pytest.fixture
def run(tmp_path):
    """A copy of the fixture run, for a test to change."""
    d = tmp_path / "run"
    shutil.copytree(FIXTURE, d)
    return d
