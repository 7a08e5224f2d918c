"""The store: cached by key, atomic under SIGKILL, corruption detected, shuffled reading bounded."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from causalgear.errors import CorruptStore
from causalgear.harvest.run import ensure_store, harvest_key, label_tokens, select_examples, store_dir
from causalgear.harvest.store import CLAUSES, ROLES, ActivationStore, ShuffledBatches
from causalgear.preflight import compose

SMALL_DATA = ["data.n_train_per_set=60", "data.n_validation_per_set=5", "data.n_test_per_set=5",
              "data.n_test_ood_per_set=5", "data.n_schemas=20"]


def cfg_for(model_dir, cache, *extra):
    return compose(["model=hf", f"model.name_or_path={model_dir}", "model.layer=1", f"paths.cache_dir={cache}",
                    "harvest.shard_tokens=1000", "harvest.max_examples=120", *SMALL_DATA, *extra])


def test_the_store_holds_every_unmasked_token_with_its_labels(tiny_qwen2_dir, tmp_path):
    cfg = cfg_for(tiny_qwen2_dir, tmp_path)
    store, hit = ensure_store(cfg, progress=False)
    assert not hit and store.n_shards > 1 and store.d_in == 32
    meta = store.metadata()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_dir)
    examples = select_examples(cfg)
    assert store.n_rows == sum(len(label_tokens(tokenizer, e)[0]) for e in examples)
    assert set(meta["role"].tolist()) == {0, 1, 2} and meta["example"].max() == len(examples) - 1
    # normalisation: scaled rows have E||x||^2 = d_in
    x = store.rows() * store.scale
    assert x.pow(2).sum(-1).mean().item() == pytest.approx(store.d_in, rel=1e-4)


def test_roles_and_sql_clauses_label_each_token(tiny_qwen2):
    _, tokenizer = tiny_qwen2
    from causalgear.data.examples import Example

    ex = Example(id="x", split="test", group="CS4", db_id="d", question="list a of t",
                 context="CREATE TABLE t (a TEXT)", sql="SELECT a FROM t WHERE a = 'x' ORDER BY a ASC", db_dir="")
    ids, roles, clauses, _ = label_tokens(tokenizer, ex)
    pieces = [(tokenizer.decode([i]), ROLES[r], CLAUSES[c]) for i, r, c in zip(ids, roles, clauses, strict=True)]
    assert "".join(t for t, r, _ in pieces if r == "response") == ex.sql
    assert "".join(t for t, r, _ in pieces if r != "response") == ex.prompt
    assert pieces[0][1] == "instruction" and pieces[-len(ex.sql):][0][1] in ("context", "response")
    # every SQL character's clause, read back from the token that holds it
    by_char = "".join(c[0] * len(t) for t, r, c in pieces if r == "response")
    expected = {"SELECT a": "s", "FROM t": "f", "WHERE a = 'x'": "w", "ORDER BY a ASC": "o"}
    for text, clause in expected.items():
        at = ex.sql.index(text)
        assert set(by_char[at + 1:at + len(text)]) == {clause}, text


def test_a_second_harvest_is_a_cache_hit_and_any_input_change_is_a_new_key(tiny_qwen2_dir, tmp_path):
    cfg = cfg_for(tiny_qwen2_dir, tmp_path)
    ensure_store(cfg, progress=False)
    start = time.monotonic()
    _, hit = ensure_store(cfg, progress=False)
    assert hit and time.monotonic() - start < 5
    key = harvest_key(cfg)[0]
    for change in (["harvest.site=mlp_out"], ["harvest.layer=0"], ["data.seed=1"], ["harvest.max_examples=50"]):
        assert harvest_key(cfg_for(tiny_qwen2_dir, tmp_path, *change))[0] != key, change


def test_a_corrupt_shard_is_detected_and_rebuilt_or_refused(tiny_qwen2_dir, tmp_path):
    cfg = cfg_for(tiny_qwen2_dir, tmp_path)
    store, _ = ensure_store(cfg, progress=False)
    shard = store.path / store.manifest["shards"][1]["file"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptStore, match="shard_00001"):
        ActivationStore(store.path)
    with pytest.raises(CorruptStore, match="harvest.rebuild=true"):
        ensure_store(cfg_for(tiny_qwen2_dir, tmp_path, "harvest.rebuild=false"), progress=False)
    rebuilt, hit = ensure_store(cfg, progress=False)
    assert not hit and rebuilt.n_rows == store.n_rows
    (rebuilt.path / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptStore, match="not valid JSON"):
        ActivationStore(rebuilt.path)


def test_sigkill_half_way_leaves_nothing_usable_and_the_rerun_completes(tiny_qwen2_dir, tmp_path):
    overrides = ["model=hf", f"model.name_or_path={tiny_qwen2_dir}", "model.layer=1", "harvest.batch_size=1",
                 "harvest.shard_tokens=200", "harvest.max_examples=3000", "data.n_train_per_set=800",
                 "data.n_schemas=40"]
    cfg = compose(overrides + [f"paths.cache_dir={tmp_path / 'cache'}"])
    final = store_dir(cfg, harvest_key(cfg)[0])
    env = {**os.environ, "CAUSALGEAR_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "causalgear", "harvest", *overrides], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(final.parent.glob(f"{final.name}.tmp-*/shard_00003.*")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the harvest finished before it could be killed"
    assert not final.exists()  # nothing half-written under the real name
    store, hit = ensure_store(cfg, progress=False)
    assert not hit and store.n_rows > 0
    ActivationStore(store.path).verify()
    assert not list(final.parent.glob("*.tmp-*"))  # the killed run's leftovers are cleaned


@pytest.mark.parametrize("buffer_rows", [512, 1_000_000], ids=["streamed", "in-memory"])
def test_shuffled_batches_yield_each_selected_row_once(tiny_qwen2_dir, tmp_path, buffer_rows):
    store, _ = ensure_store(cfg_for(tiny_qwen2_dir, tmp_path), progress=False)
    assert (store.n_rows > 512) and (store.n_rows < 1_000_000)  # one case per path
    keep = lambda shard: shard["example"] % 5 != 0  # noqa: E731 - rows split by example
    expected = store.rows(keep)
    ds = ShuffledBatches(store, batch_size=64, buffer_rows=buffer_rows, seed=3, select=keep, normalize=False)
    batches = list(ds)
    got = torch.cat(batches)
    assert all(len(b) <= 64 for b in batches) and len(got) == len(expected)
    assert torch.equal(torch.sort(got.sum(-1)).values, torch.sort(expected.sum(-1)).values)
    assert not torch.equal(got, expected)  # shuffled
    again = ShuffledBatches(store, batch_size=64, buffer_rows=buffer_rows, seed=3, select=keep, normalize=False)
    assert torch.equal(torch.cat(list(again)), got)  # seeded: the same order again
    assert not torch.equal(torch.cat(list(ds)), got)  # the next pass is the next epoch: a new order


@pytest.mark.parametrize("buffer_rows", [512, 1_000_000], ids=["streamed", "in-memory"])
def test_data_parallel_ranks_take_disjoint_equal_shares_of_one_order(tiny_qwen2_dir, tmp_path, buffer_rows):
    store, _ = ensure_store(cfg_for(tiny_qwen2_dir, tmp_path), progress=False)
    one = ShuffledBatches(store, batch_size=64, buffer_rows=buffer_rows, seed=3, normalize=False)
    full = [b for b in one if len(b) == 64]
    ranks = [list(ShuffledBatches(store, batch_size=64, buffer_rows=buffer_rows, seed=3, normalize=False,
                                  rank=r, world_size=3)) for r in range(3)]
    rounds = len(full) // 3
    assert [len(r) for r in ranks] == [rounds] * 3  # DDP needs as many steps on every rank
    assert all(len(b) == 64 for r in ranks for b in r)
    for r in range(3):  # rank r takes batches r, r+3, r+6, ... of the one seeded order
        assert all(torch.equal(got, full[3 * i + r]) for i, got in enumerate(ranks[r]))
    seen = torch.cat([b for r in ranks for b in r]).sum(-1)
    assert len(seen) == rounds * 3 * 64 and len(seen) > len(torch.cat(full)) - 3 * 64  # only one round dropped
    with pytest.raises(ValueError, match="rank=3, world_size=3"):
        ShuffledBatches(store, batch_size=64, rank=3, world_size=3)


def test_a_moved_cache_keeps_its_stores(smoke_model, tmp_path):
    """The key names the model by its content, not by where the cache (holding the embedded model) is."""
    import shutil

    base, _, _ = smoke_model
    small = ["model=tinysql_smoke", "harvest.max_examples=20", *SMALL_DATA]
    first = tmp_path / "first"
    shutil.copytree(base.paths.cache_dir, first)
    store, _ = ensure_store(compose([*small, f"paths.cache_dir={first}"]), progress=False)
    moved = tmp_path / "moved"
    first.rename(moved)
    again, hit = ensure_store(compose([*small, f"paths.cache_dir={moved}"]), progress=False)
    assert hit and again.path.name == store.path.name


def test_stale_build_dirs_of_dead_processes_go_on_the_next_open(tiny_qwen2_dir, tmp_path):
    cfg = cfg_for(tiny_qwen2_dir, tmp_path)
    store, _ = ensure_store(cfg, progress=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = store.path.parent / f"0123abcd.tmp-{int(dead.stdout)}"
    (stale / "sub").mkdir(parents=True)
    ours = store.path.parent / f"4567.tmp-{os.getpid()}"  # a live process's build stays
    ours.mkdir()
    _, hit = ensure_store(cfg, progress=False)
    assert hit and not stale.exists() and ours.exists()


def test_store_files_follow_the_umask(tiny_qwen2_dir, tmp_path):
    old = os.umask(0o022)
    try:
        store, _ = ensure_store(cfg_for(tiny_qwen2_dir, tmp_path), progress=False)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in store.path.iterdir()}
    assert set(modes.values()) == {0o644}, modes


RACE = """
import sys
from causalgear.preflight import compose
from causalgear.harvest.run import ensure_store
store, hit = ensure_store(compose(sys.argv[1:]), progress=False)
print("hit" if hit else "built", store.n_rows)
"""


def test_two_processes_rebuilding_one_corrupt_store_both_get_it_whole(tiny_qwen2_dir, tmp_path):
    overrides = ["model=hf", f"model.name_or_path={tiny_qwen2_dir}", "model.layer=1", f"paths.cache_dir={tmp_path}",
                 "harvest.shard_tokens=1000", "harvest.max_examples=120", *SMALL_DATA]
    store, _ = ensure_store(compose(overrides), progress=False)
    shard = store.path / store.manifest["shards"][0]["file"]
    shard.write_bytes(b"\0" + shard.read_bytes()[1:])
    procs = [subprocess.Popen([sys.executable, "-c", RACE, *overrides], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    results = sorted(out.split()[-2] for out, _ in outs)
    assert results == ["built", "hit"], outs  # one rebuilt it; the other waited and opened it
    assert {out.split()[-1] for out, _ in outs} == {str(store.n_rows)}
    ActivationStore(store.path).verify()
