"""Where a run's figures come from: the command, the model, the commit of the code that ran and the
machine it ran on (its processor and the numerical libraries: the embedded model's build is
deterministic on one machine, and floating point differs between processors and library versions)."""

from __future__ import annotations

import platform
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


def machine() -> str:
    """The processor and the libraries whose arithmetic a figure depends on, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:  # Linux names the model there; platform.processor() often does not
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    libraries = []
    for name in ("torch", "transformers"):
        try:
            libraries.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return ", ".join([cpu or "unknown processor", *libraries])


def provenance(stage: str, model: str) -> dict:
    return {"command": " ".join(["causalgear", stage, *overrides()]), "model": model, "commit": commit(),
            "machine": machine()}
