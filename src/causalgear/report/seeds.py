"""Each SAE finding across the run's SAE seeds: on how many its own criterion holds (its interval
clears its control) and the range of its figure, read from every seed's JSON.

Seed 0 (the run's own SAE) is the run dir's `train/`, `evaluate/`, `features/` and `steer/`; every
further seed has the same files under `seeds/seed_<S>/` (`causalgear.reseed`). Light (no torch):
the report, `summarize` and the scoreboard read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from causalgear.report.health import health
from causalgear.report.reading import read
from causalgear.report.twins import beats_twin, concept_target

SEEDS_JSON = Path("seeds") / "seeds.json"
TOP_K = (1, 2, 5)  # the latent sets cause / isolate measures (interventions.cause_isolate.TOP_K)


@dataclass(frozen=True)
class Across:
    """One finding's criterion and figure on every seed (None: not measured on that seed)."""

    figure_name: str
    criterion: str  # what holding means, e.g. "clears its random twin"
    seeds: tuple[int, ...]
    figures: tuple[float | None, ...]
    holds: tuple[bool, ...]

    @property
    def held(self) -> int:
        return sum(self.holds)

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def everywhere(self) -> bool:
        return self.held == self.n

    def range(self) -> tuple[float, float] | None:
        known = [f for f in self.figures if f is not None]
        return (min(known), max(known)) if known else None

    def count(self) -> str:
        return f"{self.held} of {self.n} seeds"

    def span(self, digits: int = 3) -> str:
        """The figure's range across seeds, "0.931–0.936" ("not measured" where no seed has it)."""
        span = self.range()
        if not span:
            return "not measured"
        between = " to " if span[0] < 0 else "–"  # "-0.277–-0.117" reads as a subtraction
        return f"{span[0]:.{digits}f}{between}{span[1]:.{digits}f}"

    def text(self, digits: int = 3) -> str:
        """"explained variance 0.931–0.936; passes the health gate on 3 of 3"."""
        return f"{self.figure_name} {self.span(digits)}; {self.criterion} on {self.held} of {self.n}"

    def as_dict(self) -> dict:
        span = self.range()
        return {"figure": self.figure_name, "criterion": self.criterion, "held": self.held, "seeds": self.n,
                "low": span[0] if span else None, "high": span[1] if span else None,
                "per_seed": [{"seed": s, "figure": f, "holds": h}
                             for s, f, h in zip(self.seeds, self.figures, self.holds, strict=True)]}


def seed_dir(run_dir: Path, seed: int) -> Path:
    """Where a further SAE seed's stages write, in a run dir."""
    return Path(run_dir) / "seeds" / f"seed_{seed}"


def seed_dirs(run_dir: Path, seeds: list[int] | None = None) -> dict[int, Path]:
    """Each SAE seed's dir, the run's own first; {} for a run of one SAE. `seeds`: the run's SAE
    seeds (default: as seeds.json lists them)."""
    run_dir = Path(run_dir)
    if seeds is None:
        seeds = (read(run_dir / SEEDS_JSON) or {}).get("seeds") or []
    if len(seeds) < 2:
        return {}
    return {seeds[0]: run_dir, **{s: seed_dir(run_dir, s) for s in seeds[1:]}}


def is_further_seed(train_dir: Path) -> bool:
    """Whether a train dir is a pipeline run's further SAE seed (`seeds/seed_<S>/train`)."""
    return train_dir.parent.name.startswith("seed_") and train_dir.parent.parent.name == "seeds"


def _files(d: Path) -> dict:
    return {"metrics": read(d / "train" / "metrics.json"), "causal": read(d / "evaluate" / "causal.json"),
            "concepts": read(d / "features" / "concepts.json"),
            "concept_steering": (read(d / "steer" / "steering.json") or {}).get("concept_steering") or {}}


def _sae(f: dict):
    m = f["metrics"]
    return (m["explained_variance"], not health(m)) if m else None


def _features(f: dict):
    c = f["concepts"]
    if not c or c.get("skipped"):
        return None
    return c["coverage"], bool(c["random_sae"]["coverage"]["finding"])


def _causal(f: dict):
    c = f["causal"]
    return (c["chosen_test"]["delta"], bool(c["beats_controls"])) if c else None


def _precision(f: dict):
    c = f["causal"]
    if not c or not c.get("random_sae_chosen"):
        return None
    return c["chosen_test_profile"]["precision"], bool(c["precision_beats_random_sae"])


def _carry(attribute: str, k: int):
    def get(f: dict):
        r = ((f["causal"] or {}).get("cause_isolate") or {}).get(attribute) or {}
        m = r.get("methods", {}).get(f"top_{k}_latents")
        if m is None or "beats_random_sae" not in r:
            return None
        return m["cause"]["rate"], bool(r["beats_random_sae"][f"top_{k}_latents"])
    return get


def _any_carry(f: dict):
    ci = (f["causal"] or {}).get("cause_isolate") or {}
    beats = [b for r in ci.values() for b in (r.get("beats_random_sae") or {}).values()]
    return (None, any(beats)) if beats else None


def _concept(target: str):
    def get(f: dict):
        r = f["concept_steering"].get(target) or {}
        if "methods" not in r:
            return None
        methods = concept_target(r).methods
        paired, beat = beats_twin(methods)
        if not paired:
            return None
        return max(methods[n].test.score.rate for n in paired), bool(beat)
    return get


def _any_concept(f: dict):
    per = [_concept(t)(f) for t in f["concept_steering"]]
    per = [p for p in per if p is not None]
    return (None, any(h for _, h in per)) if per else None


def _criteria(first: dict) -> dict[str, tuple[str, str, object]]:
    """Every finding's (figure name, criterion, how to read it from a seed's files), keyed as
    `Finding` stages and their parts are: the attributes and targets are the first seed's."""
    out = {"sae": ("explained variance", "passes the health gate", _sae),
           "features": ("coverage", "clears its random twin", _features),
           "causal": ("Δ accuracy", "clears its controls", _causal),
           "causal_precision": ("causal precision", "clears its random twin's", _precision),
           "cause_isolate": ("", "some latent set clears its random twin", _any_carry),
           "concept_steering": ("", "an SAE method clears its random twin", _any_concept)}
    for attribute in ((first["causal"] or {}).get("cause_isolate") or {}):
        for k in TOP_K:
            out[f"cause_isolate.{attribute}.top_{k}"] = (f"cause of the best {k}", "clears its random twin",
                                                         _carry(attribute, k))
    for target in first["concept_steering"]:
        out[f"concept_steering.{target}"] = ("best SAE method's score", "clears its random twin", _concept(target))
    return out


def across_seeds(run_dir: Path, seeds: list[int] | None = None) -> dict[str, Across]:
    """Every finding measured on every seed of the run, by key; {} for a run of one SAE. `seeds`: as
    `seed_dirs`."""
    dirs = seed_dirs(run_dir, seeds)
    if not dirs:
        return {}
    files = {s: _files(d) for s, d in dirs.items()}
    out = {}
    for key, (name, criterion, get) in _criteria(files[next(iter(dirs))]).items():
        read_ = {s: get(f) for s, f in files.items()}
        if read_[next(iter(dirs))] is None:  # the first seed did not measure it: no finding to count
            continue
        seeds = tuple(dirs)
        out[key] = Across(name, criterion, seeds, tuple(None if read_[s] is None else read_[s][0] for s in seeds),
                          tuple(bool(read_[s] and read_[s][1]) for s in seeds))
    return out


def _verdict(verdict: str, a: Across | None) -> str:
    """A verdict that holds on fewer than all seeds says so; one that fails on the first seed and
    holds on others says that too."""
    if a is None or a.everywhere or a.held == 0:
        return verdict
    return f"{verdict} ({'holds' if verdict in ('a finding', 'healthy') else 'but holds'} on {a.count()})"


def _recurs(carried: dict, attribute: str) -> str:
    """"its best 2 latents per swap recur in 1 of 3 seeds (2 swaps; mean decoder cosine 0.66)": the
    range over the attribute's swaps of the seeds (the first counted) whose best latents match the
    first seed's (`reseed.carriers`)."""
    swaps = [r for r in ((carried.get("attributes") or {}).get(attribute) or {}).values()]
    if not swaps:
        return ""
    low, high = min(r["recurs_in"] for r in swaps), max(r["recurs_in"] for r in swaps)
    cosines = [c for r in swaps for row in r["cosines"].values() for c in row]
    mean = f"; mean decoder cosine {sum(cosines) / len(cosines):.2f}" if cosines else ""
    return (f"; its best {carried.get('k', 2)} latents per swap recur (every decoder cosine >= "
            f"{swaps[0]['recurs_at']}) in {low if low == high else f'{low}–{high}'} of {swaps[0]['seeds']} seeds "
            f"({len(swaps)} swap{'s' if len(swaps) > 1 else ''}{mean})")


def _comes_back(s: dict) -> str:
    """Does the dictionary come back: the matched shares and PW-MCC, beside the random twins'."""
    twins = s.get("random_twins") or {}
    return (f"{s['matched_at_0.7']:.3f} of its latents match one to one between seeds at decoder "
            f"cosine >= 0.7, {s['matched_at_0.9']:.3f} at >= 0.9, PW-MCC {s['pw_mcc']:.3f}"
            + (f" (random twins: {twins['matched_at_0.7']:.3f}, {twins['matched_at_0.9']:.3f}, {twins['pw_mcc']:.3f})"
               if "pw_mcc" in twins else ""))


def annotate(found: list, run_dir: Path) -> list:
    """The run's findings, each SAE finding with its count and range across the run's SAE seeds."""
    from dataclasses import replace

    across = across_seeds(run_dir)
    if not across:
        return found
    record = read(Path(run_dir) / SEEDS_JSON) or {}
    n = len(record.get("seeds", []))
    head = f" Across {n} SAE seeds: "
    out = []
    for f in found:
        extra, key = "", f.stage
        if f.stage in ("sae", "features"):
            extra = across[key].text() if key in across else ""
            if f.stage == "sae" and record.get("stability"):
                extra += "; " + _comes_back(record["stability"])
        elif f.stage == "causal" and key in across:
            extra = across[key].text()
            if "causal_precision" in across:
                extra += "; " + across["causal_precision"].text()
            chosen = (record.get("carriers") or {}).get("chosen") or {}
            if chosen:
                extra += f" (the chosen latent by seed: {', '.join(map(str, chosen['coordinates'].values()))}; " \
                         f"decoder cosine to the first's {chosen['mean_cosine']:.2f})"
        elif f.stage == "cause_isolate":
            parts = []
            for a_key, a in across.items():
                if a_key.startswith("cause_isolate.") and a_key.endswith(".top_2"):
                    attribute = a_key.split(".")[1]
                    # where it carries on the first seed: do the latents that carry it come back
                    recurs = _recurs(record.get("carriers") or {}, attribute) if a.holds[0] else ""
                    parts.append(f"{attribute}: {a.text(2)}{recurs}")
            extra = "the best two latents, " + "; ".join(parts) if parts else ""
        elif f.stage == "concept_steering" and key in across:
            per = [f"{k.split('.', 1)[1]} {a.count()}" for k, a in across.items()
                   if k.startswith("concept_steering.")]
            extra = f"an SAE method clears its random twin on {across[key].count()}" + \
                (f" (by target: {', '.join(per)})" if per else "")
        elif f.stage == "steering":
            f = replace(f, sentence=f.sentence + f" Its SAE methods ran on the first of {n} SAE seeds only.")
        if extra:
            f = replace(f, sentence=f.sentence + head + extra + ".", verdict=_verdict(f.verdict, across.get(key)))
        out.append(f)
    return out
