"""Where a run's figures come from: the command, the model and the commit of the code that ran."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SRC = Path(__file__).resolve().parent  # the package's source dir (a git checkout in development)


def _version() -> str:
    try:
        return f"causalgear {version('causalgear')}"
    except PackageNotFoundError:
        return "causalgear (not installed)"


def commit() -> str:
    """The source tree's commit (short), `-dirty` when it has uncommitted changes to tracked files;
    the package version where the code is not a git checkout (an installed wheel)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=SRC, capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return _version()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=SRC,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return _version()


def overrides() -> list[str]:
    """The user's command-line overrides of the running Hydra job (none outside one)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.startswith(("stage=", "hydra."))]


def provenance(stage: str, model: str) -> dict:
    return {"command": " ".join(["causalgear", stage, *overrides()]), "model": model, "commit": commit()}
