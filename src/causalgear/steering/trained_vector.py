"""A steering vector trained by gradient descent: the strongest baseline a steering method must
beat (ReFT-r1 and RePS in spirit). One vector v (rank 1: its direction and its norm) is added at the
site, h -> h + v, at the positions the residual methods edit, and trained to raise the
log-likelihood of the selection prompts' gold SQL under teacher forcing (the objective: mean
cross-entropy of the gold SQL tokens, Adam from v = 0, the model frozen). Only selection prompts
and their gold SQL are read; the test side never is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from causalgear.data.examples import Example
from causalgear.models.site import Site, position_ids
from causalgear.models.teacher_forcing import prompt_sql_batch


def _prompt_mask(tokenizer, examples: Sequence[Example], ids: torch.Tensor) -> torch.Tensor:
    """[batch, seq]: each row's prompt positions (the batch is right-padded, prompt first)."""
    lengths = [len(p) for p in tokenizer([e.prompt for e in examples], add_special_tokens=False).input_ids]
    return torch.arange(ids.shape[1], device=ids.device)[None, :] < torch.tensor(lengths, device=ids.device)[:, None]


def train_vector(model, tokenizer, site: Site, examples: Sequence[Example], positions: str, steps: int,
                 lr: float, seed: int, batch_size: int = 16) -> torch.Tensor:
    """v after `steps` Adam steps on the gold SQL loss of `examples` with h + v at `positions`
    ("all": every position of prompt and SQL, as in generation; "prompt": the prompt's alone).
    `lr`: the step, as a share of the site's median activation norm on these prompts."""
    device = next(model.parameters()).device
    examples = list(examples)
    rng = random.Random(seed)
    with torch.no_grad():
        ids, mask, _ = prompt_sql_batch(tokenizer, examples[:batch_size], device)
        h = site.run(ids, mask)
        scale = float(h[mask.bool()].float().norm(dim=-1).median())
    v = torch.zeros(h.shape[-1], device=device, requires_grad=True)
    opt = torch.optim.Adam([v], lr=lr * scale)
    for _ in range(steps):
        batch = rng.sample(examples, min(batch_size, len(examples)))
        ids, mask, labels = prompt_sql_batch(tokenizer, batch, device)
        where = "all" if positions == "all" else _prompt_mask(tokenizer, batch, ids) & mask.bool()
        with site.edit(lambda x: x + v.to(x.dtype), where):
            logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits[:, :-1]
        target = labels[:, 1:]
        keep = target != -100
        loss = torch.nn.functional.cross_entropy(logits[keep].float(), target[keep])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return v.detach()
