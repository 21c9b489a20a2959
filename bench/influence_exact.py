"""EK-FAC (kronfluence) self-influence against the exact damped Gauss-Newton value on a tiny
GPT-NeoX: per scope and seed, Spearman rank correlation and relative error.

    python bench/influence_exact.py [--seeds 0 1 2 3 4] [--out bench/influence_exact.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.influence.exact import (exact_gauss_newton, exact_gradients, exact_self_influence,  # noqa: E402
                                   markov_batches, spearman, tiny_lm, train_briefly)


def compare(scope: str, seed: int, n_fit: int = 64, n_query: int = 32, strategy: str = "ekfac") -> dict:
    from kronfluence.analyzer import prepare_model
    from kronfluence.arguments import FactorArguments, ScoreArguments

    from paramem.influence.factors import fit_factors, self_scores
    from paramem.influence.task import CausalLMTask, LocalState, tracked_names

    vocab = 24
    model = tiny_lm(vocab=vocab, seed=seed)
    fit = markov_batches(n_fit, vocab, 16, 8, seed=seed)
    query = markov_batches(n_query, vocab, 16, 8, seed=seed + 100)
    train_briefly(model, fit)
    names = tracked_names(model, scope, 1)
    plain = copy.deepcopy(model)
    t0 = time.perf_counter()
    G = exact_gauss_newton(plain, names, fit)
    grads = exact_gradients(plain, names, query)
    damping = 0.1 * float(G.diagonal().mean())  # the heuristic's scale: 0.1 x mean eigenvalue
    exact = exact_self_influence(G, grads, damping)
    t_exact = time.perf_counter() - t0

    task = CausalLMTask(names)
    model = prepare_model(model, task)
    state = LocalState(torch.device("cpu"))
    fargs = FactorArguments(strategy=strategy, covariance_max_examples=None, lambda_max_examples=None)
    sargs = ScoreArguments(damping_factor=damping)
    t0 = time.perf_counter()
    factors = fit_factors(model, task, fit, fargs, state, seed=seed)
    approx = self_scores(model, task, query, factors, fargs, sargs, state)
    t_kf = time.perf_counter() - t0
    tracin = self_scores(model, task, query, {}, FactorArguments(strategy="identity"), sargs, state)
    rel = ((approx - exact).abs() / exact.abs()).median().item()
    return {"scope": scope, "seed": seed, "strategy": strategy, "n_params": G.shape[0], "damping": damping,
            "spearman": spearman(approx, exact), "median_rel_error": rel,
            "spearman_tracin_vs_exact": spearman(tracin, exact),
            "tracin_max_rel_error": ((tracin - grads.pow(2).sum(1)).abs() / grads.pow(2).sum(1)).max().item(),
            "exact_s": t_exact, "kronfluence_s": t_kf}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--scopes", nargs="+", default=["head", "layers"])
    ap.add_argument("--strategies", nargs="+", default=["ekfac"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for scope in args.scopes:
        for strategy in args.strategies:
            for seed in args.seeds:
                r = compare(scope, seed, strategy=strategy)
                rows.append(r)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
