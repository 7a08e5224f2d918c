"""A prompt pass replayed from memory: the same answers as computing it, under every kind of edit,
and only the blocks before the first edited one are ever replayed."""

import copy

import pytest
import torch

from causalgear.models.generate import generate_sql, prompt_ids
from causalgear.models.prefix import PromptPrefixes, prompt_prefixes, replayable_blocks
from causalgear.models.site import Site

PROMPTS = ["SELECT a FROM t", "SELECT price FROM items ORDER BY price DESC", "SELECT name FROM items",
           "SELECT COUNT(x) FROM y WHERE z > 3", "SELECT b, c FROM d", "SELECT MAX(e) FROM f"]


def _at_prompt(edit):
    edit.positions = "prompt"  # the prompt's pass alone, as steering.methods.positions=prompt edits
    return edit


def _edits(model) -> dict:
    from causalgear.interventions.types import AddDirection, AddPerExample, Intervention, Stacked

    site, d = Site(model, 1), model.config.hidden_size
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(len(PROMPTS), d, generator=g)
    return {"none": Intervention(), "every position": AddDirection(site, torch.randn(d, generator=g), 0.5),
            "prompt only": _at_prompt(AddDirection(site, vectors[0], 2.0)),
            "per example": AddPerExample(site, vectors, 2.0),
            "stacked": Stacked([AddPerExample(site, vectors, 4.0), AddDirection(site, vectors[1], 1.0)],
                               [len(PROMPTS), len(PROMPTS)]),
            "mlp at block 0": AddDirection(Site(model, 0, "mlp_out"), vectors[2], 3.0)}


@pytest.mark.parametrize("edit", ["none", "every position", "prompt only", "per example", "stacked",
                                  "mlp at block 0"])
def test_a_replayed_prompt_pass_writes_what_a_computed_one_writes(tiny_qwen2, edit):
    model, tokenizer = tiny_qwen2
    intervention = _edits(model)[edit]
    prompts = PROMPTS * 2 if edit == "stacked" else PROMPTS
    computed = generate_sql(model, tokenizer, prompts, max_new_tokens=12, batch_size=4, intervention=intervention)
    store = prompt_prefixes(model, 64)
    hits = store.hits
    for _ in range(2):  # remembered, then replayed
        assert generate_sql(model, tokenizer, prompts, max_new_tokens=12, batch_size=4, intervention=intervention,
                            prefix_cache_mb=64) == computed
    # an edit inside block 0 leaves no block before it to replay
    assert (store.hits > hits) == (edit != "mlp at block 0")


def test_only_the_blocks_before_the_first_edited_one_are_replayed(tiny_qwen2):
    model, _ = tiny_qwen2
    n = len(model.model.layers)
    assert replayable_blocks(model) == n  # nothing edited: every block
    with Site(model, 1).edit(lambda h: h):
        assert replayable_blocks(model) == 2  # the block's output is edited after the replay
    with Site(model, 1, "attn_out").edit(lambda h: h):
        assert replayable_blocks(model) == 1  # inside block 1: it must run
    handle = model.model.layers[0].register_forward_pre_hook(lambda _m, _i: None)
    assert replayable_blocks(model) == 0
    handle.remove()
    handle = model.get_input_embeddings().register_forward_hook(lambda _m, _i, _o: None)
    assert replayable_blocks(model) == 0  # before every block
    handle.remove()
    handle = model.register_forward_hook(lambda _m, _i, _o: None)
    assert replayable_blocks(model) == n  # on the logits, after every block
    handle.remove()


def test_new_weights_are_computed_not_replayed(tiny_qwen2):
    model, tokenizer = copy.deepcopy(tiny_qwen2[0]), tiny_qwen2[1]
    before = generate_sql(model, tokenizer, PROMPTS, max_new_tokens=12, prefix_cache_mb=64)
    store = prompt_prefixes(model, 64)
    misses = store.misses
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # in place: the same tensors, a new version
        for p in model.model.layers[0].parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    after = generate_sql(model, tokenizer, PROMPTS, max_new_tokens=12, prefix_cache_mb=64)
    assert store.misses > misses
    assert after == generate_sql(model, tokenizer, PROMPTS, max_new_tokens=12) != before


def test_a_model_in_training_mode_is_never_remembered(tiny_qwen2):
    model, tokenizer = copy.deepcopy(tiny_qwen2[0]), tiny_qwen2[1]
    model.train()
    generate_sql(model, tokenizer, PROMPTS, max_new_tokens=4, prefix_cache_mb=64)
    assert prompt_prefixes(model, 64).misses == 0 and prompt_prefixes(model, 64).bytes == 0


def test_remembered_passes_stay_within_their_bytes(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    one = PromptPrefixes(2**30)
    from causalgear.models.generate import _greedy

    batch = tokenizer(PROMPTS[:2], return_tensors="pt", padding=True, padding_side="left")
    _greedy(model, tokenizer, {**batch, "example_index": torch.arange(2)}, None, 2, one)
    size = one.bytes
    assert size > 0
    kept = PromptPrefixes(4 * size)  # room for four: a fifth pushes out the first
    for k in range(5):
        batch = tokenizer([p + " x" * k for p in PROMPTS[:2]], return_tensors="pt", padding=True,
                          padding_side="left")
        _greedy(model, tokenizer, {**batch, "example_index": torch.arange(2)}, None, 2, kept)
    assert kept.bytes <= 4 * size and kept.misses == 5 and len(kept._items) < 5


def test_prompts_are_tokenized_and_padded_as_the_tokenizer_does_it(tiny_qwen2):
    _, tokenizer = tiny_qwen2
    ids = prompt_ids(tokenizer, PROMPTS)
    assert ids == tokenizer(PROMPTS).input_ids and prompt_ids(tokenizer, PROMPTS[::-1]) == ids[::-1]
    padded = tokenizer.pad({"input_ids": ids}, padding=True, padding_side="left", return_tensors="pt")
    theirs = tokenizer(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    assert set(padded) == set(theirs) and all(torch.equal(padded[k], theirs[k]) for k in theirs)
