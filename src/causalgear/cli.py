"""`causalgear STAGE [hydra overrides...] [-m]`: one entry point, one Hydra app per stage."""

from __future__ import annotations

import sys
from pathlib import Path

from causalgear.stages import STAGES, resolve


def usage() -> str:
    width = max(len(n) for n in STAGES)
    lines = [
        "usage: causalgear STAGE [hydra overrides...] [-m]",
        "",
        "stages:",
        *(f"  {s.name:<{width}}  {s.summary}" for s in STAGES.values()),
        "",
        "Hydra's flags work after the stage: --cfg job, --info, --help, -m (multirun).",
        "Example: causalgear train sae.l1_coeff=1e-3 sae.k=64",
    ]
    return "\n".join(lines)


def _fail(stage: str, message: str, code: int = 2) -> None:
    print(f"causalgear {stage}: {message}", file=sys.stderr)
    sys.exit(code)


def run_hydra_stage(name: str, args: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from causalgear.config import CONF_DIR, ConfigError, register_configs, validate
    from causalgear.errors import CausalgearError

    register_configs()
    stage = STAGES[name]
    failed: list[str] = []

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
    def task(cfg: DictConfig) -> None:
        hc = HydraConfig.get()
        out_dir = Path(hc.runtime.output_dir)
        try:
            validate(cfg)
            resolve(stage)(cfg, out_dir)
        except Exception as err:
            known = isinstance(err, ConfigError | CausalgearError | FileNotFoundError | NotADirectoryError)
            message = f"config error: {err}" if isinstance(err, ConfigError) else str(err)
            if hc.mode != RunMode.MULTIRUN:
                if known:
                    _fail(name, message)
                raise
            # One failed job of a sweep is reported and the others go on.
            import traceback

            (out_dir / "error.txt").write_text(traceback.format_exc())
            failed.append(f"job {hc.job.num} ({' '.join(hc.overrides.task)}): {message.splitlines()[0]}")
            print(f"causalgear {name}: job {hc.job.num} failed: {message.splitlines()[0]}", file=sys.stderr)
            return
        print(f"outputs: {out_dir}")

    # Hydra reads sys.argv; the stage name rides along as a config value and the job name.
    # argparse takes overrides as one contiguous run, and a bare `--info` would swallow a word
    # after it: so ours go right after the user's last override (or first, if there is none).
    ours = [f"stage={name}"]
    if not any(a.startswith("hydra.job.name=") for a in args):
        ours.append(f"hydra.job.name={name}")
    last = max((i for i, a in enumerate(args) if "=" in a and not a.startswith("-")), default=-1)
    # argv[0] is a script that runs this CLI: Lightning's DDP launcher starts each further rank as
    # `python argv[0] argv[1:]`, which main() takes up again through the stage= override
    sys.argv = [str(Path(__file__).with_name("__main__.py")), *args[:last + 1], *ours, *args[last + 1:]]
    task()
    if failed:
        print(f"causalgear {name}: {len(failed)} job(s) failed (error.txt in each job dir):", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    relaunched = [a.removeprefix("stage=") for a in argv if a.startswith("stage=")]
    if name not in STAGES and relaunched and relaunched[0] in STAGES:
        # a further DDP rank, started by Lightning with our own sys.argv (run_hydra_stage)
        name = relaunched[0]
        rest = [a for a in argv if a not in (f"stage={name}", f"hydra.job.name={name}")]
    if name not in STAGES:
        print(f"causalgear: unknown stage {name!r}; one of: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    stage = STAGES[name]
    if not stage.hydra:
        return int(resolve(stage)(rest) or 0)
    run_hydra_stage(name, rest)
    return 0
