"""The teacher-forced SQL loss a trained steering vector descends: the SQL positions alone projected to
the vocabulary against the whole output, side by side.

    python bench/teacher_forcing.py [--steps 30] sae.path=$RUN/train [overrides]

Times `--steps` steps of what `steering.methods.trained_vector` does each step (the loss of 16 selection
prompts' gold SQL with a vector added at the site, forward and backward), the two ways alternated,
twice, on the same batches. Ends with one JSON line: the SQL-positions time as a ratio to the
whole output's, and the largest difference between the two losses and gradients (0: they change
time, not the vector).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from unittest import mock


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    args, overrides = p.parse_known_args()

    import torch

    from causalgear.models import teacher_forcing
    from causalgear.preflight import compose
    from causalgear.steering.methods.trained_vector import gold_sql_loss
    from causalgear.workbench import Workbench

    cfg = compose(overrides)
    bench = Workbench.load(cfg, "bench")
    examples = list(bench.splits().select)
    rng = random.Random(0)
    batches = [rng.sample(examples, 16) for _ in range(args.steps)]
    v = torch.zeros(bench.sae.d_in, requires_grad=True)

    def run() -> tuple[float, list[float], list[torch.Tensor]]:
        losses, grads = [], []
        began = time.perf_counter()
        for batch in batches:
            loss = gold_sql_loss(bench.model, bench.tokenizer, bench.site, batch, "all", v)
            (grad,) = torch.autograd.grad(loss, v)
            losses.append(float(loss))
            grads.append(grad)
        return time.perf_counter() - began, losses, grads

    seconds, results = {}, {}
    for _ in range(2):
        for way in ("whole output", "sql positions"):
            with mock.patch.object(teacher_forcing, "head_of_hidden", lambda _m, w=way: w == "sql positions"):
                seconds[way], *results[way] = run()
    (la, ga), (lb, gb) = results["whole output"], results["sql positions"]
    print(json.dumps({"steps": args.steps, "sql_positions_time_vs_whole": round(seconds["sql positions"] /
                                                                             seconds["whole output"], 3),
                      "max_loss_difference": max(abs(a - b) for a, b in zip(la, lb, strict=True)),
                      "max_gradient_difference": max(float((a - b).abs().max()) for a, b in zip(ga, gb, strict=True))}))


if __name__ == "__main__":
    main()
