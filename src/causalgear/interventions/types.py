"""Interventions as types: each is data (what to change, at which site) that knows how to apply
itself to one batch of a forward pass or a generation.

The protocol is two methods. `applied(batch)` is a context manager active while the batch runs
(a residual edit hooks the site there); `inputs_embeds(batch)` is the input embeddings to run
from instead of the token ids (None: the ids). `batch` is the tokenizer's output plus
`example_index`, the positions of its rows in the whole prompt list, so an edit may differ per
example (interchange). SAE code patches also give their change in code space (`code_delta`), which
attribution patching multiplies by the gradient. `causalgear.interventions.factory` is the one
place a mode name becomes one of these.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch

from causalgear.models.site import Site
from causalgear.sae.base import SparseAutoencoder

Edit = Callable[[torch.Tensor], torch.Tensor]


def through_codes(sae: SparseAutoencoder, h: torch.Tensor,
                  new_codes: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """h + g(z') - g(z), z = encode(h), z' = new_codes(z): only what the SAE attributes to the codes
    that change moves the stream; what it fails to reconstruct stays. Holds for any decoder g, the
    deep one included, because both decodes are computed."""
    z = sae.encode(h.float())
    # one decoder call for both codes: in generation the per-call overhead is what a step costs
    new, old = sae.decode(torch.stack([new_codes(z), z]))
    return h + (new - old).to(h.dtype)


class Intervention:
    """No change: the unedited model."""

    def applied(self, batch: dict) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def inputs_embeds(self, batch: dict) -> torch.Tensor | None:
        return None


class ResidualEdit(Intervention):
    """h -> edit(h) at `site`, at every position (generation included) or as `positions` says."""

    def __init__(self, site: Site, positions: str | torch.Tensor = "all"):
        self.site, self.positions = site, positions

    def edit(self, example_index: torch.Tensor) -> Edit:
        raise NotImplementedError

    def applied(self, batch: dict) -> contextlib.AbstractContextManager:
        return self.site.edit(self.edit(batch["example_index"]), self.positions)


class CodePatch(ResidualEdit):
    """x' = x + g(z') - g(z), z' = z except z'_j (`through_codes`): only what the SAE attributes to
    coordinate j moves the stream. `record`: a dict that receives z[..., j] and
    z'[..., j] of the first call (the prompt's pass), at no extra cost."""

    def __init__(self, site: Site, sae: SparseAutoencoder, j: int, record: dict | None = None):
        super().__init__(site)
        if not 0 <= j < sae.d_sae:
            raise ValueError(f"coordinate {j} is out of range: the SAE has {sae.d_sae} (0..{sae.d_sae - 1})")
        self.sae, self.j, self.record = sae, j, record

    def value(self, z_j: torch.Tensor, example_index: torch.Tensor) -> torch.Tensor | float:
        """What z_j becomes."""
        raise NotImplementedError

    def edit(self, example_index: torch.Tensor) -> Edit:
        sae, j = self.sae, self.j

        def patched(z: torch.Tensor) -> torch.Tensor:
            z_new = z.clone()
            z_new[..., j] = torch.as_tensor(self.value(z[..., j], example_index), dtype=z.dtype, device=z.device)
            if self.record is not None and "before" not in self.record:
                self.record["before"], self.record["after"] = z[..., j], z_new[..., j]
            return z_new

        return lambda h: through_codes(sae, h, patched)


class ZeroCode(CodePatch):
    """Ablate z_j."""

    def value(self, z_j, example_index):
        return 0.0

    @staticmethod
    def code_delta(z: torch.Tensor) -> torch.Tensor:
        return -z


class SetCode(CodePatch):
    """Set z_j to one number (its mean, or a multiple of its typical active value)."""

    def __init__(self, site: Site, sae: SparseAutoencoder, j: int, to: float, record: dict | None = None):
        super().__init__(site, sae, j, record)
        self.to = float(to)

    def value(self, z_j, example_index):
        return self.to

    @staticmethod
    def code_delta_to(values: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The code-space change of setting every coordinate j to values[j] (attribution)."""
        return lambda z: values.to(z) - z


class InterchangeCode(CodePatch):
    """Set z_j to a counterfactual prompt's value, one per example (`values[example_index]`)."""

    def __init__(self, site: Site, sae: SparseAutoencoder, j: int, values: torch.Tensor):
        super().__init__(site, sae, j)
        self.values = values

    def value(self, z_j, example_index):
        return self.values[example_index.cpu()].unsqueeze(-1).to(z_j.device)


class MovedCodes(ResidualEdit):
    """z_S -> z_S + alpha (values - z_S) for several codes S at once: a concept's codes set toward
    their mean where it holds, without a source prompt. Only the decoded change moves the stream
    (`through_codes`), so alpha 0 leaves it bit-identical."""

    def __init__(self, site: Site, sae: SparseAutoencoder, latents: Sequence[int], values: torch.Tensor,
                 alpha: float):
        super().__init__(site)
        latents = [int(j) for j in latents]
        if not latents or not all(0 <= j < sae.d_sae for j in latents):
            raise ValueError(f"latents {latents}: one or more coordinates, each in 0..{sae.d_sae - 1}")
        if len(values) != len(latents):
            raise ValueError(f"{len(values)} values for {len(latents)} latents: one value per latent")
        self.sae, self.latents, self.values, self.alpha = sae, torch.tensor(latents), values.float(), float(alpha)

    def edit(self, example_index: torch.Tensor) -> Edit:
        sae, S, alpha = self.sae, self.latents, self.alpha

        def moved(z: torch.Tensor) -> torch.Tensor:
            z_new = z.clone()
            z_new[..., S] = z[..., S] + alpha * (self.values.to(z) - z[..., S])
            return z_new

        return lambda h: through_codes(sae, h, moved)


class AddDirection(ResidualEdit):
    """h -> h + alpha * direction: additive steering, and the direction baselines."""

    def __init__(self, site: Site, direction: torch.Tensor, alpha: float):
        super().__init__(site)
        self.direction, self.alpha = direction, alpha

    def edit(self, example_index: torch.Tensor) -> Edit:
        return lambda h: h + (self.alpha * self.direction.to(h.device)).to(h.dtype)


class AddPerExample(ResidualEdit):
    """h -> h + alpha * vectors[i] for example i (a direction chosen per prompt, e.g. by a probe)."""

    def __init__(self, site: Site, vectors: torch.Tensor, alpha: float):
        super().__init__(site)
        self.vectors, self.alpha = vectors, alpha

    def edit(self, example_index: torch.Tensor) -> Edit:
        v = self.alpha * self.vectors[example_index.cpu()].unsqueeze(1)  # [batch, 1, d]
        return lambda h: h + v.to(h)


class AtTokens(Intervention):
    """A residual edit made only at given prompt positions of each example (`tokens[i]`, counted
    from the prompt's first real token), in the prompt's pass; the generated tokens are not edited."""

    def __init__(self, inner: ResidualEdit, tokens: Sequence[torch.Tensor]):
        self.inner, self.tokens = inner, tokens

    def where(self, batch: dict) -> torch.Tensor:
        """[batch, seq] bool: the positions edited in the batch's prompt pass."""
        mask = batch["attention_mask"]
        where = torch.zeros(mask.shape, dtype=torch.bool, device=mask.device)
        for row, i in enumerate(batch["example_index"].tolist()):
            pad = mask.shape[1] - int(mask[row].sum())
            where[row, pad + torch.as_tensor(self.tokens[i], dtype=torch.long)] = True
        return where

    def applied(self, batch: dict) -> contextlib.AbstractContextManager:
        return self.inner.site.edit(self.inner.edit(batch["example_index"]), positions=self.where(batch))


class SameNormDirection(ResidualEdit):
    """At each token, a push of the same norm as `like`'s, in one fixed random direction: does
    *any* push of that size change the outcome? (the random-direction control)"""

    def __init__(self, like: ResidualEdit, seed: int):
        super().__init__(like.site, like.positions)
        self.like = like
        d_in = like.sae.d_in if isinstance(like, CodePatch) else len(like.direction)
        direction = torch.randn(d_in, generator=torch.Generator().manual_seed(seed))
        self.direction = direction / direction.norm()

    def edit(self, example_index: torch.Tensor) -> Edit:
        inner = self.like.edit(example_index)

        def pushed(h: torch.Tensor) -> torch.Tensor:
            size = (inner(h) - h).float().norm(dim=-1, keepdim=True)
            return h + (size * self.direction.to(h.device)).to(h.dtype)

        return pushed


class EmbeddingPerturbation(Intervention):
    """Run from a copy of the input embeddings with `delta(i)` [prompt_len, d] added at example
    i's real (left-padded) prompt positions (GrAInS). The embedding matrix is never touched (Qwen
    ties it to the output head)."""

    def __init__(self, embedding: torch.nn.Embedding, prompt_ids: Sequence[list[int]],
                 delta: Callable[[int], torch.Tensor]):
        self.embedding, self.prompt_ids, self.delta = embedding, prompt_ids, delta

    def inputs_embeds(self, batch: dict) -> torch.Tensor:
        with torch.no_grad():
            e = self.embedding(batch["input_ids"]).clone()
            for row, i in enumerate(batch["example_index"].tolist()):
                n = int(batch["attention_mask"][row].sum())
                if batch["input_ids"][row, -n:].tolist() != list(self.prompt_ids[i]):
                    raise RuntimeError("the batch's prompt tokens differ from the attributed ones")
                e[row, -n:] += self.delta(i).to(e.dtype)
        return e



Transfer = Callable[[torch.Tensor, torch.Tensor, list[int]], torch.Tensor]


class SpanInterchange(ResidualEdit):
    """At each example's span of prompt positions, move the stream toward an aligned source
    prompt's: h -> transfer(h, h_source, rows) there, h elsewhere (cause and isolate).
    `sources[i]`: what the site wrote for example i's source prompt [prompt_len, d], token for
    token aligned with its base prompt; `spans[i]`: (first, last) prompt position; `rows`: the
    example index of each batch row. `transfer` says which part moves: all of it
    (`full_residual`), some SAE codes (`sae_codes`), one direction per example (`along`)."""

    def __init__(self, site: Site, sources: Sequence[torch.Tensor], spans: Sequence[tuple[int, int]],
                 transfer: Transfer):
        super().__init__(site)
        self.sources, self.spans, self.transfer = sources, spans, transfer

    def applied(self, batch: dict) -> contextlib.AbstractContextManager:
        mask = batch["attention_mask"]
        rows = batch["example_index"].tolist()
        source = torch.zeros((*mask.shape, self.sources[0].shape[-1]), device=mask.device)
        where = torch.zeros(mask.shape, dtype=torch.bool, device=mask.device)
        for row, i in enumerate(rows):
            n, (first, last) = self.sources[i].shape[0], self.spans[i]
            if int(mask[row].sum()) != n:
                raise RuntimeError(f"example {i}: the source prompt has {n} tokens, the base prompt "
                                   f"{int(mask[row].sum())}; a span interchange needs them aligned")
            pad = mask.shape[1] - n
            source[row, pad:] = self.sources[i].to(source)
            where[row, pad + first:pad + last + 1] = True
        return self.site.edit(lambda h: self.transfer(h, source.to(h.dtype), rows), positions=where)


def full_residual(h: torch.Tensor, source: torch.Tensor, rows: list[int]) -> torch.Tensor:
    return source


def sae_codes(sae: SparseAutoencoder, js: Sequence[int] | torch.Tensor) -> Transfer:
    """The codes `js` take the source's values: one list for every example, or a bool mask
    [n_examples, d_sae] of each example's own. Only the decoded change moves the stream
    (`through_codes`)."""
    if not isinstance(js, torch.Tensor):
        mask = torch.zeros(sae.d_sae, dtype=torch.bool)
        mask[list(js)] = True
        js = mask.unsqueeze(0)

    def transfer(h: torch.Tensor, source: torch.Tensor, rows: list[int]) -> torch.Tensor:
        z_source = sae.encode(source.float())
        which = (js if len(js) == 1 else js[rows]).to(z_source.device).unsqueeze(1)  # [batch or 1, 1, d_sae]
        return through_codes(sae, h, lambda z: torch.where(which, z_source, z))

    return transfer


def along(directions: torch.Tensor) -> Transfer:
    """The stream's component along example i's direction (`directions[i]`, made unit) takes
    the source's value; the rest stays."""
    units = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def transfer(h: torch.Tensor, source: torch.Tensor, rows: list[int]) -> torch.Tensor:
        u = units[rows].to(h).unsqueeze(1)  # [batch, 1, d]
        return h + ((source - h) * u).sum(-1, keepdim=True) * u

    return transfer


class Stacked(Intervention):
    """Several interventions run as one prompt list: part k is its own prompt list (of `sizes[k]`
    prompts, indexed from 0 as the part was built for), placed after the parts before it. A batch
    may hold rows of several parts; each row is edited exactly as its own part edits it alone, so
    a grid's points are generated together, in fewer decoding steps than one after another. The
    parts are all residual edits at the same positions, all edits at given tokens, or all input
    perturbations (`stackable`)."""

    def __init__(self, parts: Sequence[Intervention], sizes: Sequence[int]):
        if not stackable(parts):
            raise ValueError("Stacked: the parts must be all residual edits at the same positions, all edits "
                             f"at given tokens, or all input perturbations, not {[type(p).__name__ for p in parts]}")
        self.parts, self.starts = list(parts), torch.tensor([0, *sizes]).cumsum(0)

    def _split(self, batch: dict):
        """(part, its rows in the batch, the batch of those rows as the part indexes them)."""
        m = batch["example_index"].cpu()
        part_of = torch.searchsorted(self.starts, m, right=True) - 1
        for k in part_of.unique().tolist():
            rows = (part_of == k).nonzero().squeeze(1)
            sub = {key: v[rows.to(v.device)] for key, v in batch.items() if key != "example_index"}
            yield self.parts[k], rows, {**sub, "example_index": m[rows] - self.starts[k]}

    def inputs_embeds(self, batch: dict) -> torch.Tensor | None:
        parts = list(self._split(batch))
        embeds = [(rows, part.inputs_embeds(sub)) for part, rows, sub in parts]
        if embeds[0][1] is None:
            return None
        out = torch.empty((len(batch["example_index"]), *embeds[0][1].shape[1:]), dtype=embeds[0][1].dtype,
                          device=embeds[0][1].device)
        for rows, e in embeds:
            out[rows.to(out.device)] = e
        return out

    def applied(self, batch: dict) -> contextlib.AbstractContextManager:
        parts = list(self._split(batch))
        first = parts[0][0]
        if not isinstance(first, ResidualEdit | AtTokens):
            return contextlib.nullcontext()  # input perturbations: all in inputs_embeds
        inner = (lambda p: p.inner) if isinstance(first, AtTokens) else (lambda p: p)
        edits = [(rows, inner(part).edit(sub["example_index"])) for part, rows, sub in parts]

        def edited(h: torch.Tensor) -> torch.Tensor:
            out = h.clone()
            for rows, edit in edits:
                r = rows.to(h.device)
                out[r] = edit(h[r])
            return out

        if isinstance(first, AtTokens):
            where = torch.zeros(batch["attention_mask"].shape, dtype=torch.bool, device=batch["attention_mask"].device)
            for part, rows, sub in parts:
                where[rows.to(where.device)] = part.where(sub)
            return first.inner.site.edit(edited, positions=where)
        return first.site.edit(edited, first.positions)


def _kind(part: Intervention) -> str | None:
    """What `Stacked` may stack a part with; None: a type that applies itself its own way."""
    if isinstance(part, EmbeddingPerturbation) and type(part).applied is Intervention.applied:
        return "inputs"
    if isinstance(part, AtTokens) and type(part).applied is AtTokens.applied:
        return f"tokens at {id(part.inner.site)}"
    if isinstance(part, ResidualEdit) and type(part).applied is ResidualEdit.applied \
            and isinstance(part.positions, str):
        return f"{part.positions} at {id(part.site)}"
    return None


def stackable(parts: Sequence[Intervention]) -> bool:
    """Whether `Stacked` can run `parts` as one prompt list: all of one kind, at one site."""
    kinds = {_kind(p) for p in parts}
    return len(kinds) == 1 and None not in kinds
