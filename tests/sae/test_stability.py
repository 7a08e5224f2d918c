"""Does the dictionary come back: two SAEs that share a known set of decoder rows (in another order,
at another scale) are matched on exactly those, at 0.7 and at 0.9; random twins are the floor."""

import torch

from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.random_twin import random_twin
from causalgear.sae.relu import ReLUSAE
from causalgear.sae.stability import decoder_directions, matched, stability

D_IN, D_SAE, SHARED = 128, 32, 12


def planted_pair() -> tuple[ReLUSAE, ReLUSAE]:
    torch.manual_seed(0)
    a, b = ReLUSAE(D_IN, D_SAE), ReLUSAE(D_IN, D_SAE)
    order = torch.randperm(D_SAE)[:SHARED]
    with torch.no_grad():  # b holds SHARED of a's rows, shuffled and rescaled; its other rows its own
        b.W_dec[order] = 3.0 * a.W_dec[:SHARED]
    return a, b


def test_the_shared_rows_and_only_they_are_matched():
    a, b = planted_pair()
    figures = stability([a, b])
    assert figures["seeds"] == 2 and list(figures["pairs"]) == ["0-1"]
    assert figures["matched_at_0.9"] == SHARED / D_SAE and figures["matched_at_0.7"] == SHARED / D_SAE
    m = matched(decoder_directions(a), decoder_directions(b))
    assert torch.allclose(m[:SHARED], torch.ones(SHARED, dtype=torch.float64))
    assert float(m[SHARED:].max()) < 0.7
    assert SHARED / D_SAE < figures["pw_mcc"] < 1


def test_an_sae_against_itself_matches_everything_and_random_twins_are_the_floor():
    a, b = planted_pair()
    assert stability([a, a])["matched_at_0.9"] == 1.0
    twins = [random_twin(a, seed=1), random_twin(b, seed=2)]
    figures = stability([a, b], twins)
    floor = figures["random_twins"]
    assert floor["matched_at_0.7"] == 0.0 and floor["pw_mcc"] < figures["pw_mcc"]


def test_a_deep_decoder_is_read_through_what_it_writes():
    torch.manual_seed(0)
    sae = DeepReLUSAE(D_IN, 16)
    rows = decoder_directions(sae)
    assert rows.shape == (16, D_IN) and torch.allclose(rows.norm(dim=-1), torch.ones(16), atol=1e-5)
    assert stability([sae, sae])["matched_at_0.9"] == 1.0
