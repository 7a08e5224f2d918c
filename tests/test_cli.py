"""The command line: stages listed, bad config values stopped early with one clear line."""

import subprocess
import sys
import time

import pytest

from causalgear.stages import STAGES


def run_cli(*args, cwd, env_cache):
    env = {"CAUSALGEAR_CACHE": str(env_cache), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "causalgear", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc, time.monotonic() - start


def test_help_lists_every_stage_with_one_line(tmp_path):
    proc, _ = run_cli("--help", cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode == 0
    for name in STAGES:
        assert f"  {name} " in proc.stdout


BAD = [
    (["model.layer=999"], "model.layer=999", "0..3"),
    (["model.layer=-1"], "model.layer=-1", "0..3"),
    (["sae.k=0"], "sae.k=0", "> 0"),
    (["sae.l1_coeff=-0.1"], "sae.l1_coeff=-0.1", ">= 0"),
    (["data.command_sets=[CS1,CS9]"], "data.command_sets[1]: Invalid value 'CS9'", "CS1, CS2, CS3, CS4"),
    (["data=spider", "data.spider_dir=/nonexistent/spider"], "/nonexistent/spider", "existing directory"),
    (["model=hf", "model.name_or_path=/nonexistent/model"], "model.name_or_path='/nonexistent/model'",
     "a model folder holding config.json (no such path)"),
    (["model.dtype=float8"], "model.dtype: Invalid value 'float8'", "float32, bfloat16, float16"),
    (["harvest.site=logits"], "harvest.site: Invalid value 'logits'", "resid, mlp_out, attn_out"),
    (["sae.arch=mystery"], "sae.arch='mystery'", "one of relu, topk, deep_relu, deep_topk"),
    (["sae=deep_relu", "sae.k=64"], "sae.k=64", "deep_relu has no k (its width is sae.d_sae)"),
    # a typo with `+` would compose (Hydra adds the key) and be ignored: λ would stay 1e-3
    (["+sae.l1_coef=1e-2"], "sae.l1_coef=0.01", "a key of sae: one of"),
    (["+nonsense=1"], "nonsense=1", "a key of the root config"),
    (["sae.l1_coeff=nan"], "sae.l1_coeff=nan", "a finite number"),
    (["exec.timeout_s=nan"], "exec.timeout_s=nan", "a finite number"),
    (["steering.grains.scales=[nan]"], "steering.grains.scales[0]=nan", "a finite number"),
    # a key steering's groups do not declare: one line naming the keys there; a value given to a group
    (["steering.scale=0.1"], "steering.scale is not a config key", "steering has concepts, grains"),
    (["steering.concepts=[aggregate:MAX]"], "steering.concepts is a group of keys, not a value",
     "latents, methods, patch, patch_share, prompts, targets"),
    (["steering.methods.alphas=[1.0,inf]"], "steering.methods.alphas[1]=inf", "a finite number"),
    (["exec.max_rows=-1"], "exec.max_rows=-1", "> 0"),
    (["harvest.max_examples=0"], "harvest.max_examples=0", "> 0"),
    (["harvest.batch_size=0"], "harvest.batch_size=0", "> 0"),
    (["harvest.split=nope"], "harvest.split='nope'", "train, validation, test, test_ood"),
    # each architecture checks its own fields
    (["sae=deep_relu", "sae.hidden_sizes=[0]"], "sae.hidden_sizes=[0]", "integers > 0 (deep_relu's encoder widths"),
    (["sae=topk", "sae.d_sae=64", "sae.k=65"], "sae.k=65", "at most sae.d_sae=64"),
    # a key the chosen architecture does not read is refused, never silently ignored
    (["sae.hidden_sizes=[0]"], "sae.hidden_sizes=[0]", "sae.arch=topk does not read it"),
    (["sae=relu", "sae.hidden_sizes=[8,4]"], "sae.hidden_sizes=[8, 4]", "sae.arch=relu does not read it"),
    # Hydra's composition errors: one line and exit 2 too
    (["sae.l1_coef=1e-2"], "sae.l1_coef is not a config key", "l1_coeff"),
    (["sae.k=abc"], "sae.k", "could not be converted to Integer"),
    (["sae=nope"], "sae/nope", "batchtopk, deep_relu, deep_topk, jumprelu, matryoshka, relu, topk"),
    (["model.layer=[1"], "config error", "[1"),
    (["-m", "sae.l1_coeff=1e-3,nan"], "sae.l1_coeff=nan", "a finite number"),
]


@pytest.mark.parametrize(("overrides", "named", "allowed"), BAD)
def test_a_bad_value_fails_fast_with_one_line(tmp_path, monkeypatch, capsys, overrides, named, allowed):
    """`causalgear harvest BAD` as `main` runs it, in this process: the refusal comes before Hydra
    starts, so nothing of the command line's path is left out (the subprocess below runs a few)."""
    from causalgear.cli import main

    monkeypatch.setenv("CAUSALGEAR_CACHE", str(tmp_path / "c"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["harvest", *overrides])
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert named in lines[0] and allowed in lines[0]
    assert not (tmp_path / "c").exists()  # no data or model work happened


# one of each kind of refusal, as a user's shell runs it: a value validate() refuses, a `+` typo,
# a value given to a group, Hydra's composition error, a sweep
THROUGH_THE_SHELL = [case for case in BAD if case[0] in (
    ["model.layer=999"], ["+sae.l1_coef=1e-2"], ["steering.concepts=[aggregate:MAX]"], ["sae=nope"],
    ["-m", "sae.l1_coeff=1e-3,nan"])]


@pytest.mark.parametrize(("overrides", "named", "allowed"), THROUGH_THE_SHELL)
def test_a_bad_value_stops_the_command_in_one_line_and_exit_2(tmp_path, overrides, named, allowed):
    proc, seconds = run_cli("harvest", *overrides, cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert named in lines[0] and allowed in lines[0]
    assert "Traceback" not in proc.stderr
    assert seconds < 30  # interpreter + Hydra start; no data or model work happened
    assert not (tmp_path / "c").exists()


def test_spider_dir_without_tables_json_is_refused(tmp_path):
    (tmp_path / "spider").mkdir()
    proc, _ = run_cli("data", "data=spider", f"data.spider_dir={tmp_path / 'spider'}", cwd=tmp_path,
                      env_cache=tmp_path / "c")
    assert proc.returncode == 2 and "tables.json" in proc.stderr


def test_unknown_stage_and_unknown_key_are_refused(tmp_path):
    proc, _ = run_cli("frobnicate", cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode == 2 and "unknown stage" in proc.stderr
    proc, _ = run_cli("harvest", "sae.nonsense=1", cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode != 0 and "nonsense" in proc.stderr


def test_hydra_flags_work_after_the_stage(tmp_path):
    proc, _ = run_cli("data", "--cfg", "job", "sae.d_sae=77", cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode == 0 and "d_sae: 77" in proc.stdout
    for args in (["--info"], ["sae.d_sae=3", "--info"], ["--info", "defaults", "sae.d_sae=3"]):  # bare --info last too
        proc, _ = run_cli("data", *args, cwd=tmp_path, env_cache=tmp_path / "c")
        assert proc.returncode == 0 and "Defaults List" in proc.stdout, (args, proc.stderr)


def test_the_data_stage_writes_into_its_run_dir(tmp_path):
    proc, _ = run_cli("data", "data.n_train_per_set=20", "data.n_schemas=10", cwd=tmp_path,
                      env_cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    out_line = proc.stdout.strip().splitlines()[-1]
    assert out_line.startswith("outputs: ")
    run_dir = tmp_path / out_line.removeprefix("outputs: ")
    assert (run_dir / "data.json").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()


@pytest.mark.parametrize("stage", ["evaluate", "steer", "serve"])
def test_a_stage_that_needs_an_sae_says_what_to_set_before_loading_anything(tmp_path, monkeypatch, capsys, stage):
    from causalgear.cli import main

    monkeypatch.setenv("CAUSALGEAR_CACHE", str(tmp_path / "c"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main([stage])
    said = capsys.readouterr()
    assert stopped.value.code != 0 and "sae.path is not set" in said.err
    assert not (tmp_path / "c").exists()  # nothing was built or harvested
    assert "outputs:" not in said.out


def test_a_stage_that_needs_an_sae_says_so_through_the_shell(tmp_path):
    proc, _ = run_cli("steer", cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode != 0 and "sae.path is not set" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists() and "outputs:" not in proc.stdout


# the same refusal for both stages that train: the train stage's case runs with -m slow
@pytest.mark.parametrize("stage", [pytest.param("train", marks=pytest.mark.slow), "pipeline"])
def test_ddp_in_a_sweep_is_refused_before_any_work(tmp_path, stage):
    # Lightning's DDP launcher re-runs the command line per rank; under -m that line is the whole sweep
    proc, _ = run_cli(stage, "-m", "trainer=ddp", "trainer.accelerator=cpu", "sae.d_sae=32,64",
                      cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode == 1 and "2 job(s) failed" in proc.stderr
    assert "trainer.strategy='ddp'" in proc.stderr and "one process per job" in proc.stderr
    assert not (tmp_path / "c").exists()  # refused before building a model or harvesting


def test_cfg_job_prints_an_invalid_config_then_says_it_is_invalid(tmp_path):
    proc, _ = run_cli("train", "sae.k=0", "--cfg", "job", cwd=tmp_path, env_cache=tmp_path / "c")
    assert "k: 0" in proc.stdout  # printed as asked
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "causalgear train: the config printed above is invalid: config error: sae.k=0 is not allowed: an integer > 0"]


def test_two_runs_started_in_the_same_second_get_their_own_run_dirs(tmp_path):
    # the seconds this run can start in are taken already, as by a run started just before it
    from datetime import datetime, timedelta

    now = datetime.now()
    taken = [tmp_path / "outputs" / "data" / (now + timedelta(seconds=s)).strftime("%Y-%m-%d/%H-%M-%S")
             for s in range(0, 30)]
    for d in taken:
        d.mkdir(parents=True)
        (d / "data.json").write_text("{}")
    proc, _ = run_cli("data", "data.n_train_per_set=20", "data.n_schemas=10", cwd=tmp_path, env_cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / proc.stdout.strip().splitlines()[-1].removeprefix("outputs: ")
    assert run_dir.name.endswith("-1") and run_dir.with_name(run_dir.name[:-2]) in taken
    assert (run_dir / "data.json").read_text() != "{}"
    assert all((d / "data.json").read_text() == "{}" for d in taken)  # nobody's result was overwritten
