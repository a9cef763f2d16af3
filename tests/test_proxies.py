"""Zero-cost proxies: each against a hand-computed value or an independent numpy formula on a
tiny network, determinism, every registered space, and `nas proxies` on real CIFAR-10."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nas.cli import main
from nas.commands.proxies import correlation, top_precision
from nas.core.cost import totals
from nas.core.errors import NasError
from nas.core.space import get_space, list_spaces
from nas.evaluators import proxies as px
from nas.training.data import Split, load_dataset

CIFAR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
needs_cifar = pytest.mark.skipif(not CIFAR_DIR.is_dir(), reason=f"no {CIFAR_DIR}")


# --- a tiny two-layer network and the same network in numpy ---------------------------------


def mlp(w1: np.ndarray, w2: np.ndarray, b2: np.ndarray | None = None) -> nn.Sequential:
    """x -> W1 x -> ReLU -> W2 h (+ b2): two linear layers, bias only on the second."""
    (h, d), (k, _) = w1.shape, w2.shape
    net = nn.Sequential(nn.Linear(d, h, bias=False), nn.ReLU(),
                        nn.Linear(h, k, bias=b2 is not None)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w1))
        net[2].weight.copy_(torch.from_numpy(w2))
        if b2 is not None:
            net[2].bias.copy_(torch.from_numpy(b2))
    return net


def np_forward(w1, w2, b2, x):
    z1 = x @ w1.T  # (N, H)
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2.T + b2  # (N, K)
    return z1, a1, z2


def np_grads(w1, w2, b2, x, y):
    """Mean cross-entropy's gradients w.r.t. W1, W2 and the two layers' outputs, by hand."""
    z1, a1, z2 = np_forward(w1, w2, b2, x)
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz2 = (p - np.eye(w2.shape[0])[y]) / len(x)  # (N, K)
    dw2 = dz2.T @ a1
    dz1 = (dz2 @ w2) * (z1 > 0)  # (N, H)
    dw1 = dz1.T @ x
    return dw1, dw2, z1, dz1, z2, dz2


def np_loss_grad(theta, shapes, b2, x, y):
    w1 = theta[: np.prod(shapes[0])].reshape(shapes[0])
    w2 = theta[np.prod(shapes[0]):].reshape(shapes[1])
    dw1, dw2, *_ = np_grads(w1, w2, b2, x, y)
    return np.concatenate([dw1.ravel(), dw2.ravel()])


@pytest.fixture
def tiny() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n, d, h, k = 6, 5, 7, 3
    return (rng.normal(size=(h, d)), rng.normal(size=(k, h)), rng.normal(size=k),
            rng.normal(size=(n, d)), rng.integers(0, k, size=n))


def batch_of(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.from_numpy(x), torch.from_numpy(y).long())


# --- hand-computed values -------------------------------------------------------------------


def test_synflow_by_hand() -> None:
    """|W2| |W1| 1 = [1, 2] . [|1|+|-2|, |3|+|.5|] = 3 + 7 = 10 = R; for a bias-free chain of L
    layers, sum |theta * dR/dtheta| over each layer is R, so the score is 2R = 20. Batch norm
    is bypassed and the input is all ones whatever the batch holds."""
    net = mlp(np.array([[1.0, -2.0], [3.0, 0.5]]), np.array([[-1.0, 2.0]]))
    net.insert(1, nn.BatchNorm1d(2))  # bypassed: would change R on a batch of identical rows
    batch = Split(torch.randn(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    assert px.compute("synflow", net, batch) == pytest.approx(20.0)
    assert net[0].weight[0, 1] == -2.0 and isinstance(net[1], nn.BatchNorm1d)  # untouched


def test_naswot_by_hand() -> None:
    """W1 = I: the codes are the signs of the inputs. Images (1,-1), (1,1), (-1,-1) give codes
    10, 11, 00: N_A = 2, Hamming distances 1, 1, 2, so K = [[2,1,1],[1,2,0],[1,0,2]] and
    det K = 2*4 - 1*2 + 1*(0 - 2) = 4."""
    net = mlp(np.eye(2), np.ones((3, 2)))
    x = np.array([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    assert px.compute("naswot", net, batch_of(x, np.zeros(3, int))) == pytest.approx(math.log(4))


def test_params_and_macs_by_hand() -> None:
    """Linear(2, 2) without bias + Linear(2, 3) with: 4 + 6 + 3 parameters; 4 + 6 MACs."""
    net = mlp(np.eye(2), np.ones((3, 2)), np.zeros(3)).float()
    batch = Split(torch.ones(2, 2), torch.zeros(2, dtype=torch.long))
    assert px.compute("params", net, batch) == 13
    assert px.compute("macs", net, batch) == 10
    # flops, the proxy's old name, is still understood wherever a proxy is named
    assert px.compute("flops", net, batch) == 10 and px.get_proxy("flops").name == "macs"
    assert px.parse_proxies("meco, flops") == ["meco", "macs"]
    assert px.parse_combination("meco:4,flops") == {"meco": 4.0, "macs": 1.0}


# --- against independent numpy formulas -----------------------------------------------------


def test_gradient_proxies_match_numpy(tiny) -> None:
    w1, w2, b2, x, y = tiny
    net, batch = mlp(w1, w2, b2), batch_of(x, y)
    dw1, dw2, z1, dz1, z2, dz2 = np_grads(w1, w2, b2, x, y)
    snip = np.abs(w1 * dw1).sum() + np.abs(w2 * dw2).sum()
    assert px.compute("snip", net, batch) == pytest.approx(snip, rel=1e-9)
    grad_norm = np.linalg.norm(dw1) + np.linalg.norm(dw2)
    assert px.compute("grad_norm", net, batch) == pytest.approx(grad_norm, rel=1e-9)
    fisher = sum(0.5 * ((a * g) ** 2).mean(0).sum() for a, g in ((z1, dz1), (z2, dz2)))
    assert px.compute("fisher", net, batch) == pytest.approx(fisher, rel=1e-9)


def test_grasp_matches_a_finite_difference_hessian(tiny) -> None:
    """-theta . (H g), with H g from central differences of numpy's gradient along g."""
    w1, w2, b2, x, y = tiny
    theta = np.concatenate([w1.ravel(), w2.ravel()])
    shapes = (w1.shape, w2.shape)
    g = np_loss_grad(theta, shapes, b2, x, y)
    eps = 1e-6
    hg = (np_loss_grad(theta + eps * g, shapes, b2, x, y)
          - np_loss_grad(theta - eps * g, shapes, b2, x, y)) / (2 * eps)
    expected = -(theta * hg).sum()
    assert px.compute("grasp", mlp(w1, w2, b2), batch_of(x, y)) == pytest.approx(expected,
                                                                                rel=1e-5)


def test_jacob_cov_and_naswot_match_numpy(tiny) -> None:
    w1, w2, b2, x, y = tiny
    net, batch = mlp(w1, w2, b2), batch_of(x, y)
    z1, _, _ = np_forward(w1, w2, b2, x)
    jac = ((np.ones(w2.shape[0]) @ w2) * (z1 > 0)) @ w1  # d(sum_k f_k)/dx, (N, D)
    lam = np.clip(np.linalg.eigvalsh(np.corrcoef(jac)), 0, None)
    expected = -np.sum(np.log(lam + 1e-5) + 1 / (lam + 1e-5))
    assert px.compute("jacob_cov", net, batch) == pytest.approx(expected, rel=1e-9)
    c = (z1 > 0).astype(float)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    assert px.compute("naswot", net, batch) == pytest.approx(np.linalg.slogdet(kernel)[1])


def test_meco_matches_numpy() -> None:
    """A 3x3 image, a 2x2 convolution to 3 channels, ReLU, a linear head: MeCo sums, over the
    conv's and the ReLU's feature maps of the first image, the smallest eigenvalue of the
    3x3 channel correlation matrix (a constant channel's correlations count 0)."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 1, 2, 2))
    w[2] = -np.abs(w[2])  # channel 2 is negative everywhere on a positive image: ReLU kills it
    net = nn.Sequential(nn.Conv2d(1, 3, 2, bias=False), nn.ReLU(), nn.Flatten(),
                        nn.Linear(12, 4)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w))
    x = np.abs(rng.normal(size=(2, 1, 3, 3)))
    conv = np.array([[[(w[c, 0] * x[0, 0, i:i + 2, j:j + 2]).sum() for j in range(2)]
                      for i in range(2)] for c in range(3)]).reshape(3, 4)

    def smallest(f: np.ndarray) -> float:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(np.corrcoef(f), nan=0.0)
        return float(np.linalg.eigvalsh(corr)[0])

    expected = smallest(conv) + smallest(np.maximum(conv, 0))
    assert smallest(np.maximum(conv, 0)) == pytest.approx(0.0, abs=1e-12)  # the dead channel
    score = px.compute("meco", net, batch_of(x, np.zeros(2, int)))
    assert score == pytest.approx(expected, rel=1e-9)


def test_degenerate_scores_rank_last() -> None:
    """A network whose output ignores its input: jacob_cov NaN, naswot -inf; both rank below
    every finite score."""
    net = mlp(np.zeros((2, 2)), np.ones((1, 2)))
    batch = batch_of(np.ones((3, 2)), np.zeros(3, int))
    assert math.isnan(px.compute("jacob_cov", net, batch))
    assert px.compute("naswot", net, batch) == -math.inf
    assert px.ranks([math.nan, 0.5, -math.inf, 2.0]).tolist() == [1.5, 3.0, 1.5, 4.0]
    assert px.rank_aggregate({"a": [1, 2, 3], "b": [3, 1, 2]}) == [2.0, 1.5, 2.5]
    assert px.rank_aggregate({"a": [1, 2, 3], "b": [3, 1, 2]}, {"a": 3, "b": 1}) == \
        [1.5, 1.75, 2.75]


# --- determinism and the networks of every space --------------------------------------------


def test_same_seed_same_score_and_the_model_is_left_alone() -> None:
    space = get_space("nasbench201")
    genome = space.from_arch_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                                 "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    small = type(space)(channels=4, cells_per_stage=1)
    gen = torch.Generator().manual_seed(0)
    batch = Split(torch.randn(8, 3, 16, 16, generator=gen), torch.arange(8) % 10)
    first = px.score_genome(small, genome, batch, px.list_proxies(), 10, seed=3)
    again = px.score_genome(small, genome, batch, px.list_proxies(), 10, seed=3)
    assert first == again and all(math.isfinite(v) for v in first.values())
    other = px.score_genome(small, genome, batch, ["naswot", "snip"], 10, seed=4)
    assert other["snip"] != first["snip"]  # other weights

    model = px.build_network(small, genome, (3, 16, 16), 10, seed=3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    alone = {name: px.compute(name, model, batch, seed=3) for name in px.list_proxies()}
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    # score_genome hands its network to the last proxy (no copy): the same scores, bit for bit
    assert alone == first
    for name in px.list_proxies():  # each proxy scoring a network it owns, in place
        owned = px.build_network(small, genome, (3, 16, 16), 10, seed=3)
        assert px.compute(name, owned, batch, seed=3, owned=True) == first[name], name


@pytest.mark.parametrize("space_name", list_spaces())
def test_every_space_is_scored(space_name: str) -> None:
    """A sampled genome of each space (the cheapest of a few that fit 32x32 images, to keep
    the test fast) gets a finite score from every proxy, and the cost baselines equal the
    exact cost model's counts."""
    space = get_space(space_name)
    rng = random.Random(0)
    fitting = []
    for _ in range(20):
        genome = space.sample(rng)
        try:
            graph = space.graph(genome, (3, 32, 32), 10)
        except NasError:
            continue
        fitting.append((totals(graph).macs, genome.id, genome, graph))
    _, _, genome, graph = min(fitting)
    gen = torch.Generator().manual_seed(0)
    batch = Split(torch.randn(4, 3, 32, 32, generator=gen), torch.tensor([0, 1, 2, 3]))
    scores = px.score_genome(space, genome, batch, px.list_proxies(), 10, seed=0)
    assert all(math.isfinite(v) for v in scores.values()), scores
    assert scores["params"] == totals(graph).params
    assert scores["macs"] == totals(graph).macs


def test_unknown_proxy_and_bad_batch_are_clear_errors() -> None:
    with pytest.raises(NasError, match=r"unknown proxy 'synflw'; known: .*synflow"):
        px.parse_proxies("synflw")
    with pytest.raises(NasError, match="named twice"):
        px.parse_proxies("snip,snip")
    weights = px.parse_combination("meco:4, synflow")
    assert weights == {"meco": 4.0, "synflow": 1.0}
    assert px.combination_name(weights) == "rank(4*meco+synflow)"
    for bad, why in (("meco:0", "positive"), ("meco:x", "positive"), ("meco,meco", "twice"),
                     ("mecco:2", "unknown proxy")):
        with pytest.raises(NasError, match=why):
            px.parse_combination(bad)
    digits = load_dataset("digits")
    with pytest.raises(NasError, match="at least 2 images"):
        px.sample_batch(digits, 1)
    with pytest.raises(NasError, match="more than the"):
        px.sample_batch(digits, 10**6)
    first, again = px.sample_batch(digits, 16, seed=5), px.sample_batch(digits, 16, seed=5)
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    assert not torch.equal(first.x, px.sample_batch(digits, 16, seed=6).x)


# --- correlations and the command -----------------------------------------------------------


def test_correlation_and_top_precision() -> None:
    acc = list(range(20))
    assert correlation(acc, acc)[:2] == pytest.approx((1.0, 1.0))
    assert correlation([-a for a in acc], acc)[:2] == pytest.approx((-1.0, -1.0))
    assert top_precision(acc, acc) == 1.0  # the two best are the two best
    assert top_precision([0] * 18 + [5, 6], list(range(19, -1, -1))) == 0.0


@needs_cifar
def test_nas_proxies_on_real_cifar10(tmp_path: Path, monkeypatch, capsys) -> None:
    """A handful of NAS-Bench-201 cells (narrow network, small batch) on real CIFAR-10 images:
    the JSON summary, the plots, the score file, and a second run that reuses it."""
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["proxies", "--space", "nasbench201", "--space-option", "channels=4",
            "--space-option", "cells_per_stage=1", "--dataset", "imagefolder", "--data-dir",
            str(CIFAR_DIR), "--limit", "100", "--cells", "5", "--batch-size", "16",
            "--proxies", "synflow,naswot,params", "--combine", "synflow:2,naswot",
            "--plot-dir", str(tmp_path / "plots"),
            "--save", str(tmp_path / "scores.jsonl"), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cells"] == 5 and len(out["scores"]) == 5
    assert set(out["proxies"]) == {"synflow", "naswot", "params", "rank(2*synflow+naswot)"}
    assert all(-1 <= row["spearman"] <= 1 for row in out["proxies"].values())
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "naswot.png", "params.png", "rank_2_synflow_naswot.png", "synflow.png"]
    settings, rows = px.read_scores(tmp_path / "scores.jsonl")
    assert settings["batch_size"] == 16 and len(rows) == 5

    assert main(argv) == 0  # every cell comes from the score file: same scores
    again = json.loads(capsys.readouterr().out)
    assert again["scores"] == out["scores"]
    assert {k: v["spearman"] for k, v in again["proxies"].items()} == \
        {k: v["spearman"] for k, v in out["proxies"].items()}
    changed = [a if a != "16" else "8" for a in argv]
    assert main(changed) == 2
    assert "other settings: batch_size 16 (now 8)" in capsys.readouterr().err


@needs_cifar
def test_nas_proxies_without_a_table_prints_scores(tmp_path: Path, monkeypatch,
                                                   capsys) -> None:
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["proxies", "--space", "nasnet", "--dataset", "imagefolder", "--data-dir",
                 str(CIFAR_DIR), "--limit", "100", "--cells", "2", "--batch-size", "8",
                 "--proxies", "synflow,naswot,macs"]) == 0
    out = capsys.readouterr().out
    assert "2 nasnet genomes" in out and "s / cell" in out and "naswot" in out


def test_nas_proxies_bad_input_is_one_line(capsys) -> None:
    assert main(["proxies", "--proxies", "nope"]) == 2
    assert "unknown proxy 'nope'" in capsys.readouterr().err
    assert main(["proxies", "--space", "nasnet", "--cells", "all", "--dataset", "digits"]) == 2
    assert "--cells all needs a table" in capsys.readouterr().err
    assert main(["proxies", "--combine", "synflow", "--dataset", "digits"]) == 2
    assert "two or more" in capsys.readouterr().err


@pytest.mark.slow
@needs_cifar
def test_proxy_bench_quick(tmp_path: Path) -> None:
    """bench/proxies.py end to end at toy size: two scoring processes, the merge, the table."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "NAS_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "bench/proxies.py", "--quick", "--out",
                           str(tmp_path / "out")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Spearman rho" in done.stdout and "grasp" in done.stdout
    assert "command: nas proxies" in done.stdout
    _, rows = px.read_scores(tmp_path / "out" / "nb201-cifar10-b8-s0-quick-4.jsonl")
    assert len(rows) == 4 and all(len(r["scores"]) == 9 for r in rows.values())


def test_grasp_differentiates_hard_activations_twice() -> None:
    """MobileNetV3's hardswish and hardsigmoid gate have no double derivative in torch; GraSP
    scores them through the same functions built from ops that have one."""
    torch.manual_seed(0)
    hard = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Hardswish(),
                               torch.nn.Conv2d(4, 4, 1), torch.nn.Hardsigmoid(),
                               torch.nn.Flatten(), torch.nn.LazyLinear(3))
    x = torch.randn(4, 3, 8, 8)
    hard(x)  # materialise the lazy layer
    soft = px._twice_differentiable(copy.deepcopy(hard))
    assert torch.equal(hard(x), soft(x))
    batch = Split(x, torch.tensor([0, 1, 2, 0]))
    assert math.isfinite(px.compute("grasp", hard, batch)) and px.compute("grasp", hard, batch) != 0
