"""GrAInS perturbation: size, place and direction, on a real (tiny) model and SAE."""

import torch

from causalgear.interventions.factory import decoder_direction
from causalgear.models.site import Site
from causalgear.sae.relu import ReLUSAE
from causalgear.steering.feature import FeatureReadout, readout_mask
from causalgear.steering.methods.grains import chosen_tokens, perturbation


def _readout(tiny_qwen2):
    model, tokenizer = tiny_qwen2
    torch.manual_seed(0)
    sae = ReLUSAE(32, 8)
    ids = tokenizer("### Instruction: show the name ### Response: SELECT name").input_ids
    return model, tokenizer, sae, ids, FeatureReadout(Site(model, 1), sae, 3)


def test_readout_from_embeddings_equals_the_token_forward(tiny_qwen2):
    model, _, sae, ids, readout = _readout(tiny_qwen2)
    ids_t = torch.tensor([ids])
    h = Site(model, 1).run(ids_t)
    expected = sae.encode_pre(h)[..., 3]
    got = readout.pre_activations(model.get_input_embeddings()(ids_t))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_readout_masks():
    assert readout_mask(3, 6, "response").tolist() == [False, False, True, True, True, False]
    assert readout_mask(3, 6, "last_prompt").tolist() == [False, False, True, False, False, False]
    assert readout_mask(3, 3, "response").tolist() == [False, False, True]


def test_perturbation_has_the_asked_size_only_at_the_chosen_tokens_and_raises_f(tiny_qwen2):
    model, _, sae, ids, readout = _readout(tiny_qwen2)
    x = model.get_input_embeddings()(torch.tensor(ids)).detach()
    f = readout.function(readout_mask(len(ids), len(ids), "last_prompt"))
    tokens = torch.tensor([1, 4, 6])
    delta = perturbation(f, x, tokens, 0.01, steps=1)
    norms = delta.norm(dim=-1)
    torch.testing.assert_close(norms[tokens], 0.01 * x[tokens].norm(dim=-1))
    assert float(norms[[i for i in range(len(ids)) if i not in tokens.tolist()]].abs().max()) == 0.0
    down_delta = perturbation(f, x, tokens, 0.01, sign=-1)
    with torch.no_grad():
        f0, up, down = (float(f((x + d)[None])) for d in (0 * delta, delta, down_delta))
    assert down < f0 < up
    multi = perturbation(f, x, tokens, 0.01, steps=3)
    with torch.no_grad():
        assert float(f((x + multi)[None])) > f0


def test_chosen_tokens_are_the_largest_absolute_prompt_attributions():
    att = torch.tensor([0.1, -0.9, 0.3, 0.5, 9.0])  # position 4 is a response token
    assert chosen_tokens(att, 4, 2).tolist() == [1, 3]
    assert chosen_tokens(att, 4, None).tolist() == [0, 1, 2, 3]


def test_additive_direction_of_a_one_layer_sae_is_its_decoder_row():
    torch.manual_seed(0)
    sae = ReLUSAE(6, 4)
    torch.testing.assert_close(decoder_direction(sae, 2, 3.0), 3.0 * sae.W_dec[2].detach())


def test_prompts_attributed_together_equal_each_attributed_alone(tiny_qwen2):
    from omegaconf import OmegaConf

    from causalgear.config.steering import SteeringConfig
    from causalgear.steering.methods.grains import Steerer

    model, tokenizer = tiny_qwen2
    torch.manual_seed(0)
    prompts = ["### Instruction: show the name ### Response:", "### Instruction: count ### Response:",
               "### Instruction: show the name and the age of every person ### Response:"]
    responses = ["SELECT name FROM people", "SELECT COUNT(*)", ""]
    s = OmegaConf.structured(SteeringConfig)
    s.grains.perturbed_tokens = 3

    def attributed(rows_per_pass: int):
        s.grains.internal_batch_size = rows_per_pass
        return Steerer(s, tokenizer, ReLUSAE(32, 8), Site(model, 1), 3).attribute_many(prompts, responses)

    torch.manual_seed(0)
    alone = attributed(s.grains.n_steps + 2)  # each prompt's rows in a pass of its own
    torch.manual_seed(0)
    together = attributed(1000)  # all three prompts in one pass, the shorter two right-padded
    for a, b in zip(alone, together, strict=True):
        assert (a.prompt_ids, a.response_ids, a.tokens.tolist()) == (b.prompt_ids, b.response_ids, b.tokens.tolist())
        torch.testing.assert_close(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(a.unit_delta, b.unit_delta, rtol=1e-4, atol=1e-6)
        assert abs(a.f_input - b.f_input) < 1e-4 and a.completeness_error is not None


def test_the_unit_perturbation_is_the_one_step_perturbation_at_scale_one(tiny_qwen2):
    from omegaconf import OmegaConf

    from causalgear.config.steering import SteeringConfig
    from causalgear.steering.methods.grains import Steerer

    model, tokenizer = tiny_qwen2
    torch.manual_seed(0)
    s = OmegaConf.structured(SteeringConfig)
    steerer = Steerer(s, tokenizer, ReLUSAE(32, 8), Site(model, 1), 3)
    a = steerer.attribute("### Instruction: show the name ### Response:", "SELECT name")
    x = model.get_input_embeddings()(torch.tensor(a.prompt_ids + a.response_ids)).detach()
    f = steerer.readout.function(readout_mask(len(a.prompt_ids), len(x), "response"))
    torch.testing.assert_close(a.unit_delta, perturbation(f, x, a.tokens, 1.0)[:len(a.prompt_ids)],
                               rtol=1e-4, atol=1e-6)
    assert float(a.unit_delta.norm(dim=-1).gt(0).sum()) == len(a.tokens) == 8
