"""DIAGNOSTIC: how large L_self's gradient on the encoder is beside L_cls's in MS²L's Jointly.

Jointly (Eq. (5)) optimises L_cls + ω·L_self with one Adam. Adam scales each parameter's
step by the running root mean square of its whole gradient, so where L_self's gradient on
the encoder f is k times L_cls's, L_cls moves f about k times less than it does in Rand-S
(C alone, same lr). This script measures k: it trains Jointly exactly as the validation
curves do (``benchmarks/ms2l/validate.py --curve jointly``: view 1, a random encoder, the
default optimiser and ``--base``) and, every ``--every`` iterations, takes the gradient of
each term on f (the parameters both terms reach) before the step: its norm and the cosine
between the two. It trains on view 1 and scores nothing; it chooses nothing.

    python benchmarks/ms2l/diagnostics/jointly_gradients.py --seeds 3,4,5 --base $STACK

Found (seeds 3-5, ``results/nwucla_ms2l_jointly_gradients.md``): ‖∇_f L_self‖ / ‖∇_f L_cls‖
is 13.8 ± 0.6 over the first 80 iterations, 3.8 ± 0.3 over the next 80, then 2.6, 2.2 and
1.6 ± 0.1 by iterations 320-399, and the two gradients are nearly orthogonal (cosine
0.03-0.05): with one Adam, L_cls moves f a fraction of what it does in Rand-S while C
learns fastest.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import torch

# run as a script: the repo root on the path, so that `benchmarks` imports as a package
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.common import (
    NWUCLA_ROOT,
    REPO,
    machine,
    mean_std_text,
    require_nwucla,
    write_json,
    write_markdown,
)
from benchmarks.ms2l.table import STRATEGY_DEFAULTS, load_splits, random_method, strategy_settings
from skelssl.evaluation import ms2l as strategies
from skelssl.report import markdown_table

STEM = "nwucla_ms2l_jointly_gradients"


def term_gradients(optimisers, terms) -> dict[str, float]:
    """``{cls, self, ratio, cosine}``: the norms of L_cls's and ω·L_self's gradients on f
    (the parameters both reach), their ratio self/cls and their cosine."""
    params = [p for o in optimisers for p in o.parameters]
    grads = {
        term: torch.autograd.grad(terms[term], params, retain_graph=True, allow_unused=True)
        for term in ("cls", "self")
    }
    shared = [i for i, (a, b) in enumerate(zip(grads["cls"], grads["self"])) if a is not None
              and b is not None]  # fmt: skip
    flat = {t: torch.cat([grads[t][i].flatten() for i in shared]) for t in grads}
    norms = {t: float(v.norm()) for t, v in flat.items()}
    cosine = float(torch.dot(flat["cls"], flat["self"]) / (norms["cls"] * norms["self"] + 1e-12))
    return {**norms, "ratio": norms["self"] / max(norms["cls"], 1e-12), "cosine": cosine}


def measure(args, seed: int) -> list[dict]:
    """Jointly on view 1 for ``args.epochs`` epochs: the term gradients every ``args.every``
    iterations, as ``[{iteration, cls, self, ratio, cosine}, ...]``."""
    config, train_data, val_data, _ = load_splits(args, [], validate=True)
    samples, calls = [], [0]
    optimise = strategies._optimise

    def measured(optimisers, terms, clip_grad):
        if calls[0] % args.every == 0:
            samples.append({"iteration": calls[0], **term_gradients(optimisers, terms)})
        calls[0] += 1
        optimise(optimisers, terms, clip_grad)

    settings = strategy_settings(args, config, "jointly")
    with mock.patch.object(strategies, "_optimise", measured):
        strategies.train_recognition(
            "jointly", random_method(config, train_data, seed), train_data, val_data, settings,
            seed=seed,
        )  # fmt: skip
    return samples


def by_block(runs: dict[int, list[dict]], per_block: int) -> list[dict]:
    """Mean ± std over seeds of each seed's mean per block of ``per_block`` iterations (the
    last block may be partial)."""
    rows = []
    blocks = -(-(min(run[-1]["iteration"] for run in runs.values()) + 1) // per_block)
    for block in range(blocks):
        low, high = block * per_block, (block + 1) * per_block
        means = {key: [np.mean([s[key] for s in run if low <= s["iteration"] < high])
                       for run in runs.values()] for key in ("cls", "self", "ratio", "cosine")}  # fmt: skip
        rows.append(
            {
                "iterations": f"{low}-{high - 1}",
                **{k: mean_std_text(v, digits=2) for k, v in means.items()},
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(NWUCLA_ROOT))
    parser.add_argument("--seeds", default="3,4,5")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of Jointly measured")
    parser.add_argument("--every", type=int, default=4, help="iterations between samples")
    parser.add_argument("--block", type=int, default=80, help="iterations a table row averages")
    parser.add_argument("--base", nargs="*", default=[], help="key=value under every run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "ms2l" / "results")
    parser.add_argument("--stem", default=STEM)
    cli = parser.parse_args()
    require_nwucla(cli.root)
    args = SimpleNamespace(**{**STRATEGY_DEFAULTS, "strategy_epochs": cli.epochs}, root=cli.root,
                           base=cli.base, quick=False, every=cli.every)  # fmt: skip
    machine_line = machine()
    seeds = [int(s) for s in cli.seeds.split(",")]
    runs = {seed: measure(args, seed) for seed in seeds}
    rows = by_block(runs, cli.block)
    command = "python benchmarks/ms2l/diagnostics/jointly_gradients.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:]
    )
    write_json(cli.out / f"{cli.stem}.json",
               {"command": command, "machine": machine_line, "seeds": seeds, "rows": rows,
                "samples": {str(s): r for s, r in runs.items()}})  # fmt: skip
    columns = ["iterations", "cls", "self", "ratio", "cosine"]
    headers = ["iterations", "‖∇_f L_cls‖", "‖∇_f ω·L_self‖", "ratio self/cls", "cosine"]
    write_markdown(cli.out / f"{cli.stem}.md", [
        "# DIAGNOSTIC: the two terms' gradients on the encoder in MS²L's Jointly "
        "(view 1, one Adam)", "",
        f"Machine: {machine_line}. Mean ± std over seeds {seeds} of each seed's mean per "
        f"{cli.block} iterations (sampled every {cli.every}); {cli.epochs} epochs of Jointly "
        "as the validation curves train it, before each step.",
        f"Command: `{command}`", "",
        markdown_table(rows, columns, headers),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
