"""Does the dictionary come back: two SAEs that share a known set of decoder rows (in another order,
at another scale) are matched on exactly those, at 0.7 and at 0.9; random twins are the floor."""

import torch

from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.random_twin import random_twin
from causalgear.sae.relu import ReLUSAE
from causalgear.sae.stability import decoder_directions, matched, recurrence, stability

D_IN, D_SAE, SHARED = 128, 32, 12


def planted() -> tuple[ReLUSAE, ReLUSAE, list[int]]:
    """a, b, and where b holds each of a's first SHARED rows."""
    torch.manual_seed(0)
    a, b = ReLUSAE(D_IN, D_SAE), ReLUSAE(D_IN, D_SAE)
    order = torch.randperm(D_SAE)[:SHARED]
    with torch.no_grad():  # b holds SHARED of a's rows, shuffled and rescaled; its other rows its own
        b.W_dec[order] = 3.0 * a.W_dec[:SHARED]
    return a, b, order.tolist()


def planted_pair() -> tuple[ReLUSAE, ReLUSAE]:
    a, b, _ = planted()
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


def test_a_carrying_pair_recurs_where_its_partners_are_among_the_other_seeds_carriers():
    a, b, where = planted()
    rows = {0: decoder_directions(a), 1: decoder_directions(b), 2: decoder_directions(a)}
    carried = [0, 1]  # two of a's shared rows; b carries with them (in another order), a third seed with others
    found = recurrence(rows, 0, carried, {1: [where[1], where[0]], 2: [5, 9]})
    assert found["cosines"]["1"] == [1.0, 1.0] and max(found["cosines"]["2"]) < 0.7
    assert found["recurs_in"] == 2 and found["seeds"] == 3  # the first seed and seed 1
    assert recurrence(rows, 0, carried, {1: []})["cosines"]["1"] == [0.0, 0.0]  # a seed that carries it with none
