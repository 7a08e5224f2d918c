"""Interventions as types: exact at zero strength, exactly g(z') - g(z), always removed, one factory."""

import pytest
import torch

from causalgear.interventions.factory import Interventions
from causalgear.interventions.specs import (
    AddLatent,
    AddVector,
    Clamp,
    Grains,
    Interchange,
    MeanLatent,
    MoveCodes,
    ZeroLatent,
    at_tokens,
    code_spec,
)
from causalgear.interventions.types import AddDirection, InterchangeCode, SameNormDirection, ZeroCode
from causalgear.models.blocks import decoder_layers
from causalgear.models.site import Site
from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.matryoshka import MatryoshkaSAE
from causalgear.sae.relu import ReLUSAE


def inputs(tokenizer):
    enc = tokenizer(["SELECT a FROM t", "SELECT price FROM items ORDER BY price DESC"], return_tensors="pt",
                    padding=True, padding_side="right")
    return enc["input_ids"], enc["attention_mask"]


def run_to_layer(model, ids, mask, layer):
    return Site(model, layer).run(ids, mask)


def applied(intervention, ids):
    """The intervention's context for a batch of these rows."""
    return intervention.applied({"input_ids": ids, "example_index": torch.arange(len(ids))})


def logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def firing_sae(arch, d_in=32):
    torch.manual_seed(0)
    sae = {"deep_relu": lambda: DeepReLUSAE(d_in, 16, [24, 12]), "relu": lambda: ReLUSAE(d_in, 48),
           "matryoshka": lambda: MatryoshkaSAE(d_in, 48, k=8)}[arch]()
    with torch.no_grad():  # make codes fire on these activations
        (sae.encoder[-1].bias if arch == "deep_relu" else sae.b_enc).fill_(0.5)
    return sae.eval()


@pytest.mark.parametrize("arch", ["deep_relu", "relu", "matryoshka"])
def test_zero_strength_edits_leave_the_logits_bit_identical(tiny_qwen2, arch):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    clean = logits(model, ids, mask)
    sae = firing_sae(arch)
    z = sae.encode(run_to_layer(model, ids, mask, 1))
    j = int(z.reshape(-1, z.shape[-1]).mean(0).argmax())
    site = Site(model, 1)

    class Itself(InterchangeCode):  # set z_j to itself: z' = z, so g(z') - g(z) is exactly zero
        def value(self, z_j, example_index):
            return z_j

    with applied(Itself(site, sae, j, torch.zeros(2)), ids):
        assert torch.equal(logits(model, ids, mask), clean)
    with applied(AddDirection(site, torch.randn(32), 0.0), ids):
        assert torch.equal(logits(model, ids, mask), clean)


@pytest.mark.parametrize("arch", ["deep_relu", "relu"])
def test_patching_moves_the_block_output_by_exactly_the_decoder_difference(tiny_qwen2, arch):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    sae = firing_sae(arch)
    h = run_to_layer(model, ids, mask, 1)
    z = sae.encode(h)
    j = int((z > 0).float().reshape(-1, z.shape[-1]).mean(0).argmax())
    assert (z[..., j] > 0).any()
    with applied(ZeroCode(Site(model, 1), sae, j), ids):
        patched = run_to_layer(model, ids, mask, 1)
    z_new = z.clone()
    z_new[..., j] = 0
    expected_delta = sae.decode(z_new) - sae.decode(z)
    torch.testing.assert_close(patched - h, expected_delta, rtol=1e-5, atol=1e-6)


def test_moving_several_codes_sets_them_part_of_the_way_and_nothing_at_zero(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    sae = firing_sae("relu")
    h = run_to_layer(model, ids, mask, 1)
    z = sae.encode(h)
    latents, values = (3, 7, 11), torch.tensor([2.0, 0.0, 5.0])
    made = Interventions(Site(model, 1), sae, {"mean": torch.zeros(48), "mean_active": torch.ones(48)})
    with applied(made.make(MoveCodes(latents, values, 0.0)), ids):
        assert torch.equal(run_to_layer(model, ids, mask, 1), h)
    for alpha in (0.5, 1.0):
        with applied(made.make(MoveCodes(latents, values, alpha)), ids):
            moved = run_to_layer(model, ids, mask, 1)
        z_new = z.clone()
        z_new[..., list(latents)] += alpha * (values - z[..., list(latents)])  # at 1: the codes are the values
        torch.testing.assert_close(moved - h, sae.decode(z_new) - sae.decode(z), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"latents \[3, 48\]: one or more coordinates, each in 0..47"):
        made.make(MoveCodes((3, 48), torch.zeros(2), 1.0))
    with pytest.raises(ValueError, match="1 values for 2 latents"):
        made.make(MoveCodes((3, 4), torch.zeros(1), 1.0))


def test_the_hook_is_gone_after_exit_and_after_an_exception(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    block = decoder_layers(model)[1]
    before = len(block._forward_hooks)
    site = Site(model, 1)
    with site.edit(lambda h: h * 2):
        assert len(block._forward_hooks) == before + 1
    assert len(block._forward_hooks) == before
    with pytest.raises(RuntimeError, match="boom"), site.edit(lambda h: h * 2):
        raise RuntimeError("boom")
    assert len(block._forward_hooks) == before
    ids, mask = inputs(tokenizer)
    assert torch.equal(logits(model, ids, mask), logits(model, ids, mask))


def test_a_mask_edits_only_the_chosen_positions(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    h = run_to_layer(model, ids, mask, 0)
    where = torch.zeros_like(mask, dtype=torch.bool)
    where[:, 0] = True
    with Site(model, 0).edit(lambda x: x + 1.0, positions=where):
        edited = run_to_layer(model, ids, mask, 0)
    torch.testing.assert_close(edited[:, 0], h[:, 0] + 1.0)
    assert torch.equal(edited[:, 1:], h[:, 1:])


def test_bad_patch_arguments_name_the_value(tiny_qwen2):
    model, _ = tiny_qwen2
    sae = firing_sae("relu")
    made = Interventions(Site(model, 1), sae, {"mean": torch.zeros(48), "mean_active": torch.ones(48)})
    with pytest.raises(ValueError, match="coordinate 48 is out of range"):
        made.make(ZeroLatent(48))
    with pytest.raises(ValueError, match="intervention mode 'swap': one of zero, mean, clamp, interchange"):
        code_spec("swap", 0)
    with pytest.raises(ValueError, match="interchange needs the counterfactual"):
        made.make(Interchange(0))
    with pytest.raises(ValueError, match="Grains on latent 3 needs a perturber attributed to it"):
        made.make(Grains(3, 1.0))
    with pytest.raises(ValueError, match="positions 'middle'"):
        made.make(AddLatent(3, 1.0, positions="middle"))
    with pytest.raises(TypeError, match="is not an intervention spec"):
        made.make("zero")


def test_the_factory_builds_each_spec_with_its_value(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    sae = firing_sae("relu")
    stats = {"mean": torch.arange(48.0), "mean_active": torch.arange(48.0) + 1}
    made = Interventions(Site(model, 1), sae, stats, counterfactual=torch.arange(96.0).reshape(2, 48))
    assert made.make(MeanLatent(5)).to == 5.0
    assert made.make(Clamp(5, 3.0)).to == 18.0  # 3 x the mean active value 6
    assert made.make(code_spec("clamp", 5, 3.0)).to == 18.0
    interchange = made.make(Interchange(5))
    assert interchange.value(torch.zeros(2, 7), torch.tensor([1])).tolist() == [[53.0]]  # row 1's z_5
    additive = made.make(AddLatent(5, 2.0))
    torch.testing.assert_close(additive.direction, 6.0 * sae.W_dec[5].detach())  # W_dec[j] * mean active value
    assert additive.alpha == 2.0
    # in code space: zero is -z; clamp sets every coordinate to strength x its mean active value
    z = torch.rand(3, 48)
    torch.testing.assert_close(made.code_delta("zero")(z), -z)
    torch.testing.assert_close(made.code_delta("clamp", 2.0)(z), 2.0 * stats["mean_active"].float() - z)
    torch.testing.assert_close(made.code_delta("interchange")(z), torch.arange(24.0, 72.0) - z)


def test_the_random_direction_control_pushes_as_far_as_the_patch_per_token(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    sae = firing_sae("relu")
    h = run_to_layer(model, ids, mask, 1)
    patch = ZeroCode(Site(model, 1), sae, 3)
    control = SameNormDirection(patch, seed=0)
    idx = torch.arange(2)
    pushed, moved = control.edit(idx)(h) - h, patch.edit(idx)(h) - h
    torch.testing.assert_close(pushed.norm(dim=-1), moved.norm(dim=-1), rtol=1e-4, atol=1e-6)
    rows = pushed.reshape(-1, 32)
    cosine = torch.nn.functional.cosine_similarity(rows, control.direction.expand(len(rows), 32))
    assert (cosine[rows.norm(dim=-1) > 1e-6] > 0.999).all()  # one fixed direction


def span_batch(tokenizer, prompts):
    enc = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    return {**enc, "example_index": torch.arange(len(prompts))}


@pytest.mark.parametrize("how", ["full_residual", "sae_codes", "along"])
def test_a_span_interchange_from_the_base_prompt_itself_reproduces_the_base_output(tiny_qwen2, how):
    """Interchange at zero change: the source is the base prompt, so the generated text is the
    unedited model's, token for token, and the prompt's logits agree to float precision."""
    from causalgear.interventions.cause_isolate import site_rows
    from causalgear.interventions.types import SpanInterchange, along, full_residual, sae_codes
    from causalgear.models.generate import generate_sql

    model, tokenizer = tiny_qwen2
    prompts = ["SELECT price FROM items ORDER BY price", "SELECT a FROM t"]
    site, sae = Site(model, 1), firing_sae("relu")
    sources = site_rows(site, tokenizer, prompts)
    transfer = {"full_residual": full_residual, "sae_codes": sae_codes(sae, range(sae.d_sae)),
                "along": along(torch.randn(2, 32, generator=torch.Generator().manual_seed(0)))}[how]
    swap = SpanInterchange(site, sources, [(1, 3), (0, 1)], transfer)
    unedited = generate_sql(model, tokenizer, prompts, max_new_tokens=8)
    assert generate_sql(model, tokenizer, prompts, max_new_tokens=8, intervention=swap) == unedited
    batch = span_batch(tokenizer, prompts)
    clean = logits(model, batch["input_ids"], batch["attention_mask"])
    with swap.applied(batch):
        assert torch.allclose(logits(model, batch["input_ids"], batch["attention_mask"]), clean, atol=1e-5)


def test_a_span_interchange_moves_only_its_span_and_only_along_its_direction(tiny_qwen2):
    from causalgear.interventions.types import SpanInterchange, along

    model, tokenizer = tiny_qwen2
    prompts = ["SELECT price FROM items ORDER BY price", "SELECT a FROM t"]
    batch = span_batch(tokenizer, prompts)
    site = Site(model, 1)
    h = site.run(batch["input_ids"], batch["attention_mask"])
    sources = [torch.randn(int(n), 32) for n in batch["attention_mask"].sum(1)]
    u = torch.randn(2, 32)
    seen = {}
    swap = SpanInterchange(site, sources, [(2, 3), (0, 0)], along(u))
    with swap.applied(batch), Site(model, 1).read() as out:
        logits(model, batch["input_ids"], batch["attention_mask"])
        seen["h"] = out["h"]
    moved = seen["h"] - h
    pad = batch["input_ids"].shape[1] - len(sources[0])
    assert moved[0, :pad + 2].abs().max() == 0 and moved[0, pad + 4:].abs().max() == 0
    unit = u[0] / u[0].norm()
    at = moved[0, pad + 2]
    assert torch.allclose(at, (at @ unit) * unit, atol=1e-5)  # parallel to the direction
    assert torch.allclose(seen["h"][0, pad + 2] @ unit, sources[0][2] @ unit, atol=1e-4)  # took the source's value


def test_a_span_interchange_refuses_prompts_that_do_not_align(tiny_qwen2):
    from causalgear.interventions.types import SpanInterchange, full_residual

    model, tokenizer = tiny_qwen2
    batch = span_batch(tokenizer, ["SELECT a FROM t"])
    swap = SpanInterchange(Site(model, 1), [torch.zeros(2, 32)], [(0, 0)], full_residual)
    with pytest.raises(RuntimeError, match="aligned"), swap.applied(batch):
        pass


def test_an_edit_at_tokens_moves_each_example_only_at_its_own_prompt_positions(tiny_qwen2):
    from causalgear.interventions.types import AddPerExample, AtTokens

    model, tokenizer = tiny_qwen2
    enc = tokenizer(["SELECT a FROM t", "SELECT price FROM items ORDER BY price DESC"], return_tensors="pt",
                    padding=True, padding_side="left")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    site = Site(model, 0)
    h = site.run(ids, mask)
    vectors = torch.stack([torch.full((32,), 1.0), torch.full((32,), 2.0)])
    tokens = [torch.tensor([0]), torch.tensor([1, 3])]  # from each prompt's first real token, left padding aside
    batch = {"input_ids": ids, "attention_mask": mask, "example_index": torch.arange(2)}
    with AtTokens(AddPerExample(site, vectors, 1.0), tokens).applied(batch):
        edited = site.run(ids, mask)
    moved = (edited - h).abs().sum(-1) > 0
    pad = (mask == 0).sum(1)
    expected = torch.zeros_like(moved)
    expected[0, pad[0] + 0] = expected[1, pad[1] + 1] = expected[1, pad[1] + 3] = True
    assert torch.equal(moved, expected)
    torch.testing.assert_close(edited[1, pad[1] + 3], h[1, pad[1] + 3] + 2.0)
    with AtTokens(AddPerExample(site, vectors, 1.0), [torch.tensor([], dtype=torch.long)] * 2).applied(batch):
        assert torch.equal(site.run(ids, mask), h)  # no token: no edit


def test_a_spec_is_edited_at_the_positions_it_names(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    ids, mask = inputs(tokenizer)
    site = Site(model, 1)
    made = Interventions(site, firing_sae("relu"), {})
    push = torch.ones(model.config.hidden_size)
    assert made.make(AddVector(push, 1.0)).positions == "all"
    assert made.make(AddVector(push, 1.0, positions="prompt")).positions == "prompt"
    # per-example tokens: only token 1 of example 0 and token 0 of example 1 move
    at = made.make(AddVector(push, 1.0, positions=at_tokens([[1], [0]])))
    batch = {"input_ids": ids, "attention_mask": mask, "example_index": torch.arange(2)}
    with site.read() as seen:
        model(input_ids=ids, attention_mask=mask)
    plain = seen["h"].clone()
    with at.applied(batch), site.read() as seen:  # the read hook after the edit sees the edited stream
        model(input_ids=ids, attention_mask=mask)
    moved = (seen["h"] - plain).abs().sum(-1) > 0
    pad = [mask.shape[1] - int(m.sum()) for m in mask]
    expected = torch.zeros_like(moved)
    expected[0, pad[0] + 1] = expected[1, pad[1] + 0] = True
    assert torch.equal(moved, expected)


def test_stacked_interventions_generate_what_each_generates_alone(tiny_qwen2):
    """A grid's points run as one prompt list (each row edited by its own part), in batches that mix
    the parts: every output is the one its part gives alone; parts that cannot stack are refused."""
    from causalgear.interventions.types import (
        AddPerExample,
        AtTokens,
        EmbeddingPerturbation,
        SetCode,
        Stacked,
        stackable,
    )
    from causalgear.models.generate import generate_sql

    model, tokenizer = tiny_qwen2
    prompts = ["SELECT a FROM t", "SELECT price FROM items ORDER BY price DESC", "SELECT name FROM items"]
    site, sae = Site(model, 1), firing_sae("relu")
    direction = torch.randn(32, generator=torch.Generator().manual_seed(1))
    vectors = torch.randn(3, 32, generator=torch.Generator().manual_seed(2))
    ids = [tokenizer(p).input_ids for p in prompts]
    grids = {
        "residual": [AddDirection(site, direction, a) for a in (0.5, 4.0, 16.0)] + [SetCode(site, sae, 3, 6.0)],
        "at tokens": [AtTokens(AddPerExample(site, vectors, a), [torch.tensor([len(i) - 1]) for i in ids])
                      for a in (0.0, 3.0)],
        "inputs": [EmbeddingPerturbation(model.get_input_embeddings(), ids,
                                         lambda i, s=s: s * torch.ones(len(ids[i]), 32)) for s in (0.0, 0.05)],
    }
    for kind, parts in grids.items():
        alone = [generate_sql(model, tokenizer, prompts, max_new_tokens=8, intervention=p) for p in parts]
        together = generate_sql(model, tokenizer, prompts * len(parts), max_new_tokens=8, batch_size=4,
                                intervention=Stacked(parts, [len(prompts)] * len(parts)))
        assert together == [o for out in alone for o in out], kind
        assert len({tuple(out) for out in alone}) > 1, kind  # the parts differ: rows were not mixed up
    assert not stackable([grids["residual"][0], grids["at tokens"][0]])

    class OwnWay(AddDirection):  # applies itself its own way (as SpanInterchange does): never stacked
        def applied(self, batch):
            return super().applied(batch)

    assert not stackable([OwnWay(site, direction, 1.0)] * 2) and stackable(grids["residual"][:2])
    with pytest.raises(ValueError, match="same positions"):
        Stacked([grids["residual"][0], grids["inputs"][0]], [3, 3])
