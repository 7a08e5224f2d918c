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
        "Example: causalgear train sae.l1_coeff=1e-3 sae.d_sae=64",
    ]
    return "\n".join(lines)


def _fail(stage: str, message: str, code: int = 2) -> None:
    print(f"causalgear {stage}: {message}", file=sys.stderr)
    sys.exit(code)


# Hydra flags that print something instead of running: the preflight leaves them to Hydra.
_INFO_FLAGS = ("--cfg", "-c", "--info", "-i", "--help", "-h", "--hydra-help", "--resolve", "--package", "-p",
               "--shell-completion", "-sc")


def composition_message(err: Exception) -> str:
    """One line for a Hydra composition error, naming the key and what is allowed. Hydra's own
    text spans several lines and, for a mistyped key, suggests `+`, which would add the typo."""
    import dataclasses

    cause = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    key, schema = getattr(cause, "full_key", None), getattr(cause, "object_type", None)
    if type(cause).__name__ == "ConfigAttributeError" and key and dataclasses.is_dataclass(schema):
        fields = ", ".join(sorted(f.name for f in dataclasses.fields(schema)))
        return f"{key} is not a config key: {key.rsplit('.', 1)[0] if '.' in key else 'the root'} has {fields}"
    if type(cause).__name__ == "ConfigTypeError" and key and dataclasses.is_dataclass(schema):
        # a value where the schema has a group of keys (`steering.concepts=[...]`): name the keys
        fields = ", ".join(sorted(f.name for f in dataclasses.fields(schema)))
        return f"{key} is a group of keys, not a value: set one of them ({key}.KEY=...): {fields}"
    if type(cause).__name__ == "ValidationError" and key:
        return f"{key}: {str(cause).splitlines()[0]}"
    text = str(err)
    if "Available options in" in text:  # a group option that does not exist: name the options
        first, _, rest = text.partition("Available options in")
        group, _, options = rest.partition(":")
        names = [o.strip() for o in options.split("Config search path")[0].split() if not o.endswith("_schema")]
        return f"{first.strip()}; options in {group.strip()}: {', '.join(names)}"
    return " ".join(line.strip() for line in text.splitlines() if line.strip() and "hydra.cc" not in line)


def job_overrides(args: list[str]) -> list[list[str]]:
    """The overrides of every job the command line asks for (one without -m, the sweep's product
    with it), leaving out Hydra's own keys."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if "=" in a and not a.startswith("-") and not a.lstrip("+~").startswith("hydra")]
    choices = []
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.get_key_element()
        if o.is_sweep_override() and o.is_discrete_sweep():
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(job) for job in itertools.islice(itertools.product(*choices), 1000)]


def preflight(name: str, args: list[str], printed: bool = False) -> None:
    """Compose and validate every job's config before Hydra starts, so that a composition error
    (an unknown key, a wrong type, a missing group option) is one line with exit 2, as
    validate()'s errors are, and no job of a sweep starts when one of them cannot. `printed`:
    Hydra has just printed the config (`--cfg job`), which must not pass for a valid one."""
    from causalgear.config import ConfigError
    from causalgear.errors import CausalgearError
    from causalgear.preflight import compose, validate

    if printed:
        name = f"{name}: the config printed above is invalid"
    try:
        jobs = job_overrides(args)
    except Exception as err:  # noqa: BLE001 - Hydra's grammar errors: their message is the story
        _fail(name, f"config error: {composition_message(err)}")
    for overrides in jobs:
        try:
            cfg = compose(overrides, stage=name)
        except Exception as err:  # noqa: BLE001 - any composition failure
            _fail(name, f"config error: {composition_message(err)}")
        try:
            validate(cfg, overrides)
        except ConfigError as err:
            _fail(name, f"config error: {err}")
        except CausalgearError as err:
            _fail(name, str(err))


def run_hydra_stage(name: str, args: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from causalgear.config import CONF_DIR, ConfigError, register_configs
    from causalgear.errors import CausalgearError
    from causalgear.inputs import check_inputs
    from causalgear.logs import copy_stdout_to
    from causalgear.preflight import validate

    register_configs()
    stage = STAGES[name]
    failed: list[str] = []

    @hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
    def task(cfg: DictConfig) -> None:
        hc = HydraConfig.get()
        out_dir = Path(hc.runtime.output_dir)
        try:
            validate(cfg, list(hc.overrides.task))
            check_inputs(cfg)
            with copy_stdout_to(out_dir / f"{hc.job.name}.log"):
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

    info = any(a in _INFO_FLAGS for a in args)
    if not info:
        preflight(name, args)
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
    if info and any(a in ("--cfg", "-c") for a in args):
        preflight(name, args, printed=True)
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
    from causalgear.logs import quiet_libraries

    quiet_libraries()
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
