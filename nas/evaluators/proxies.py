"""Zero-cost proxies: a score for an untrained network from one minibatch.

A proxy scores a network at initialisation (weights as its space builds them, from a seed) on
one minibatch of the run's training data, in about the time of one or two training steps; on
NAS-Bench-201 some rank cells nearly as well as training does (Abdelfattah et al., "Zero-Cost
Proxies for Lightweight NAS", ICLR 2021; Mellor et al., "Neural Architecture Search without
Training", ICML 2021). Every proxy is a plain function ``(model, batch, seed) -> float``,
registered by name in :data:`PROXIES`; a higher score predicts a more accurate network. The
network's parameter count and multiply-adds are registered beside them: they are the
baselines every proxy must beat.

Each function works on a scratch copy of the model (in-place activations turned off, batch
norm statistics free to change), so the caller's model is left as it was; in train mode (batch
norm on batch statistics, as the reference implementations run them), with torch's random
state seeded from ``seed`` for the duration (dropout, if a network has it). Same model, batch
and seed: same score. A score that is not finite (a cell whose output does not depend on its
input has a singular NASWOT kernel, log-determinant ``-inf``) ranks below every finite one
(:func:`ranks`).

The pieces a search needs: :func:`sample_batch` (a seeded minibatch of a
:class:`~nas.training.data.DataSplits`), :func:`build_network` (a genome's network with
weights from a seed), :func:`score_genome` (several proxies of one genome),
:func:`rank_aggregate` (a combination: the weighted mean of the proxies' ranks over a pool,
weights from :func:`parse_combination`), and score files (:func:`append_scores`,
:func:`read_scores`: JSON lines, one genome each, resumable).

On 1,000 random NAS-Bench-201 cells (CIFAR-10, ``bench/proxies.py``) MeCo ranks best (Spearman
0.92), then synflow and NASWOT (0.80), then the parameter count (0.75); see ``nas proxies``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.metrics import current, metric_name
from nas.core.registry import Registry
from nas.core.space import Space
from nas.training.data import DataSplits, Split
from nas.training.measure import count_macs

ProxyFn = Callable[[nn.Module, Split, int], float]  # (model, batch, seed) -> score

# Modules whose pre-activation sign is NASWOT's binary code: the rectifiers (a unit is "on"
# when its input is positive); gates such as sigmoid are not linear regions and are left out.
RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.SiLU, nn.GELU)
JACOB_COV_K = 1e-5  # Mellor et al. (2020)'s regulariser of the correlation eigenvalues


@dataclass(frozen=True)
class Proxy:
    """A registered proxy: its name, its function and what kind of score it is."""

    name: str
    fn: ProxyFn
    summary: str  # one line: what it measures, for tables and --help
    kind: Literal["proxy", "cost"] = "proxy"  # "cost": a baseline from the cost model

    def __call__(self, model: nn.Module, batch: Split, seed: int = 0) -> float:
        return compute(self, model, batch, seed)


PROXIES: Registry[Proxy] = Registry("proxy")


def register_proxy(name: str, summary: str,
                   kind: Literal["proxy", "cost"] = "proxy") -> Callable[[ProxyFn], ProxyFn]:
    """Decorator: register ``fn(model, batch, seed) -> float`` as proxy ``name``."""

    def add(fn: ProxyFn) -> ProxyFn:
        PROXIES.register(name, Proxy(name, fn, summary, kind))
        return fn

    return add


def list_proxies() -> list[str]:
    return PROXIES.names()


def get_proxy(name: str) -> Proxy:
    """The proxy ``name`` (an old name, ``flops`` for ``macs``, is accepted)."""
    return PROXIES.get(metric_name(name))


def parse_proxies(text: str) -> list[str]:
    """``"synflow, naswot"`` -> ["synflow", "naswot"] (old names as the current ones); an
    unknown name lists the known ones."""
    names = [metric_name(n.strip()) for n in text.split(",") if n.strip()]
    if not names:
        raise NasError(f"no proxy named in {text!r}; known: {', '.join(list_proxies())}")
    for name in names:
        get_proxy(name)
    if len(set(names)) != len(names):
        raise NasError(f"a proxy is named twice in {text!r}")
    return names


def compute(proxy: Proxy | str, model: nn.Module, batch: Split, seed: int = 0, *,
            owned: bool = False) -> float:
    """``proxy``'s score of ``model`` on ``batch``, torch's random state seeded from ``seed``
    (and restored afterwards). A proxy scores a copy of ``model`` and leaves it as it was,
    unless the caller hands it over (``owned=True``: it is scored, and changed, in place;
    copying a network costs as much as a MeCo score)."""
    proxy = get_proxy(proxy) if isinstance(proxy, str) else proxy
    device = _device(model)
    batch = _channels_last(batch.to(device))
    devices = [device] if device.type == "cuda" else []
    token = _OWNED.set(model if owned else None)
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return float(proxy.fn(model, batch, seed))
    finally:
        _OWNED.reset(token)


# --- helpers ------------------------------------------------------------------------------


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _channels_last(batch: Split) -> Split:
    """Images in channels_last layout: the CPU convolutions run ~1.5x faster in it (the
    trainer uses it too)."""
    if batch.x.dim() != 4:
        return batch
    return Split(batch.x.contiguous(memory_format=torch.channels_last), batch.y)


#: The network a caller of :func:`compute` handed over (``owned=True``): scored in place.
_OWNED: ContextVar[nn.Module | None] = ContextVar("nas_proxy_owned", default=None)


def _scratch(model: nn.Module) -> nn.Module:
    """A copy to score (``model`` itself when handed over, see :func:`compute`): in-place
    activations off (so a layer's output is still the value its hooks saw), train mode, no
    stale gradients, 4-d weights in channels_last layout."""
    net = model if _OWNED.get() is model else copy.deepcopy(model)
    net = net.to(memory_format=torch.channels_last)
    for m in net.modules():
        if hasattr(m, "inplace"):  # nn.ReLU(inplace=True) and the other activations
            setattr(m, "inplace", False)  # noqa: B010 (mypy: Module has no "inplace")
    net.zero_grad(set_to_none=True)
    return net.train()


class _HardSigmoid(nn.Module):
    """relu6(x + 3) / 6: nn.Hardsigmoid's values, from ops autograd can differentiate twice
    (torch has no double derivative of hardsigmoid's own kernel)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x + 3.0) / 6.0


class _HardSwish(nn.Module):
    """x * relu6(x + 3) / 6: nn.Hardswish's values, twice differentiable (see _HardSigmoid)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * F.relu6(x + 3.0) / 6.0


def _twice_differentiable(net: nn.Module) -> nn.Module:
    """``net`` with each activation that has no double derivative in torch replaced by the
    same function built from ops that have one (GraSP's Hessian-vector product needs it)."""
    for name, m in list(net.named_modules()):
        swap = (_HardSigmoid() if isinstance(m, nn.Hardsigmoid)
                else _HardSwish() if isinstance(m, nn.Hardswish) else None)
        if swap is not None and name:
            parent, _, attr = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, attr, swap)
    return net


def _layers(net: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    """The layers with weights the gradient proxies sum over: convolutions and linears, as
    Abdelfattah et al. do (batch norm affine parameters and biases are left out)."""
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@torch.no_grad()
def _sum_abs_product(weights: Sequence[Tensor], grads: Sequence[Tensor | None]) -> float:
    """``sum |theta * g|`` over the weights that have a gradient."""
    return sum(float((w * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)


def _loss(net: nn.Module, batch: Split) -> Tensor:
    return F.cross_entropy(net(batch.x), batch.y)


def _loss_grads(net: nn.Module, batch: Split, create_graph: bool = False
                ) -> tuple[list[Tensor], list[Tensor | None]]:
    """The conv/linear weights and the gradient of the batch's cross-entropy w.r.t. each
    (None where a weight does not reach the loss)."""
    weights = [m.weight for m in _layers(net)]
    grads = torch.autograd.grad(_loss(net, batch), weights, create_graph=create_graph,
                                allow_unused=True)
    return weights, list(grads)


# --- the proxies --------------------------------------------------------------------------


@register_proxy("synflow", "synaptic flow: sum |theta * dR/dtheta|, R = sum of the output of "
                           "the |weight| network on an all-ones input (float64, no batch norm)")
def synflow(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """Synaptic flow (Tanaka et al., "Pruning neural networks without any data by iteratively
    conserving synaptic flow", NeurIPS 2020), as a NAS proxy (Abdelfattah et al. 2021).

    Every parameter is replaced by its absolute value and the network, with batch norm
    bypassed (an identity: batch statistics of a constant input would be degenerate), is run
    in float64 (the products of absolute weights through a deep network overflow float32) on
    one all-ones image. With ``R = 1^T f(1; |theta|)``, the score is
    ``S = sum_theta |theta * dR/dtheta|`` over conv and linear weights. Data-free: only the
    batch's image shape is used.
    """
    net = _scratch(model).eval()  # eval: no dropout on a constant input
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parent, _, leaf = name.rpartition(".")
            setattr(net.get_submodule(parent), leaf, nn.Identity())
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    ones = torch.ones_like(batch.x[:1], dtype=torch.float64)  # (1, C, H, W), same layout
    weights = [m.weight for m in _layers(net)]
    r = net(ones).sum()  # R
    grads = torch.autograd.grad(r, weights, allow_unused=True)
    return _sum_abs_product(weights, grads)


@register_proxy("snip", "connection sensitivity: sum |theta * dL/dtheta| on the batch")
def snip(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """SNIP's connection sensitivity (Lee et al., "SNIP: Single-shot network pruning based on
    connection sensitivity", ICLR 2019), summed over the network (Abdelfattah et al. 2021).

    The gradient of the loss w.r.t. a multiplicative mask ``c`` on each weight, at ``c = 1``,
    is ``theta * dL/dtheta``: ``S = sum_theta |theta * dL/dtheta|``, ``L`` the cross-entropy of
    the batch, over conv and linear weights.
    """
    weights, grads = _loss_grads(_scratch(model), batch)
    return _sum_abs_product(weights, grads)


@register_proxy("grad_norm", "sum over layers of the L2 norm of dL/dW")
def grad_norm(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """Gradient norm (Abdelfattah et al. 2021): ``S = sum_l ||dL/dW_l||_2``, the Euclidean
    norm of each conv or linear layer's weight gradient of the batch's cross-entropy, summed
    over layers."""
    _, grads = _loss_grads(_scratch(model), batch)
    return sum(float(g.norm()) for g in grads if g is not None)


@register_proxy("grasp", "gradient signal preservation: -sum theta * (H g)")
def grasp(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """GraSP (Wang et al., "Picking winning tickets before training by preserving gradient
    flow", ICLR 2020), summed over the network (Abdelfattah et al. 2021).

    With ``g = dL/dtheta`` and ``H`` the Hessian of the batch's loss, ``S = -sum_theta theta *
    (H g)`` over conv and linear weights; the sign makes higher better, as Abdelfattah et al.
    found it correlates with accuracy. ``H g`` is a Hessian-vector product without the
    Hessian: the gradient of ``z = g_detached^T g(theta)`` (double back-propagation through
    one forward pass).
    """
    weights, grads = _loss_grads(_twice_differentiable(_scratch(model)), batch,
                                 create_graph=True)
    used = [(w, g) for w, g in zip(weights, grads) if g is not None]
    z = sum(((g.detach() * g).sum() for _, g in used), torch.zeros((), device=batch.x.device))
    if not z.requires_grad:  # no weight reaches the loss: no gradient flow to preserve
        return 0.0
    hg = torch.autograd.grad(z, [w for w, _ in used], allow_unused=True)
    total = sum(float((w.detach() * h).sum()) for (w, _), h in zip(used, hg) if h is not None)
    return 0.0 - total  # (0.0 - 0.0 is 0.0, not -0.0)


@register_proxy("fisher", "Fisher information of every channel: sum_c 0.5 mean_n (a dL/da)^2")
def fisher(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """Fisher information (Theis et al., "Faster gaze prediction with dense networks and Fisher
    pruning", 2018; Turner et al., "BlockSwap", ICLR 2020), summed (Abdelfattah et al. 2021).

    For every output channel ``c`` of every conv or linear layer, with activations
    ``a_{n,c,h,w}`` and ``g = dL/da``: ``Delta_c = 1/2 mean_n (sum_{h,w} a g)^2``, the
    estimated loss increase from removing the channel; ``S = sum_c Delta_c``.
    """
    net = _scratch(model)
    outputs: list[Tensor] = []

    def keep(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        outputs.append(output)

    handles = [m.register_forward_hook(keep) for m in _layers(net)]
    try:
        loss = _loss(net, batch)
    finally:
        for h in handles:
            h.remove()
    grads = torch.autograd.grad(loss, outputs, allow_unused=True)
    total = 0.0
    for a, g in zip(outputs, grads):
        if g is None:
            continue
        per_channel = (a * g).flatten(2).sum(2) if a.dim() > 2 else a * g  # (N, C)
        total += float(per_channel.detach().pow(2).mean(0).mul(0.5).sum())
    return total


@register_proxy("jacob_cov", "-sum log(l + k) + 1/(l + k) over the eigenvalues l of the "
                             "correlation of the input Jacobians")
def jacob_cov(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """Jacobian covariance (Mellor et al., "Neural architecture search without training",
    arXiv:2006.04647v1, 2020; as a proxy in Abdelfattah et al. 2021).

    Each image's Jacobian ``J_n = d(sum_k f(x_n)_k)/dx_n`` (flattened), their correlation
    matrix ``Sigma_J`` (N x N) and its eigenvalues ``l_1..l_N``:
    ``S = -sum_i [log(l_i + k) + 1/(l_i + k)]``, ``k = 1e-5``. Highest when the images'
    Jacobians are uncorrelated (all ``l_i = 1``): the network tells the inputs apart. An image
    with a constant Jacobian has no correlation: the score is then NaN (ranked last).
    """
    net = _scratch(model)
    x = batch.x.detach().clone().requires_grad_(True)
    (jac,) = torch.autograd.grad(net(x).sum(), x, allow_unused=True)
    if jac is None:  # the output does not depend on the input at all
        return math.nan
    j = jac.reshape(len(x), -1).double().cpu().numpy()  # (N, C*H*W)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.corrcoef(j)  # (N, N)
    if not np.all(np.isfinite(corr)):
        return math.nan
    lam = np.clip(np.linalg.eigvalsh(corr), 0.0, None)  # symmetric: real, ascending
    k = JACOB_COV_K
    return float(-np.sum(np.log(lam + k) + 1.0 / (lam + k)))


@register_proxy("naswot", "log|K|, K_ij = units where images i and j agree on being "
                          "rectified (binary activation codes)")
def naswot(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """NASWOT (Mellor et al., "Neural architecture search without training", ICML 2021).

    Every rectified unit (the input of each ReLU-like activation, over all its channels and
    positions) gives each image a binary code ``c_n`` (1 where the unit is on). With
    ``N_A`` units, the kernel ``K_ij = N_A - d_H(c_i, c_j)`` counts where images ``i`` and
    ``j`` agree; the score is ``S = log|det K|``. Networks that put the batch's images into
    different linear regions (K far from singular) train better. One forward pass, no
    gradient; ``K`` is summed layer by layer as ``(D + s s^T) / 2`` with ``s = 2c - 1``.
    """
    net = _scratch(model)
    n = len(batch)
    kernel = torch.zeros((n, n), dtype=torch.float64, device=batch.x.device)

    def add_codes(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        units = inputs[0].detach()
        if units.dim() == 4 and units.is_contiguous(memory_format=torch.channels_last):
            units = units.permute(0, 2, 3, 1)  # (N, H, W, C): memory order, no copy
        units = units.reshape(n, -1)  # (N, D); the order of the units does not change K
        d = units.shape[1]
        # +-1 codes: s s^T = D - 2 d_H. Integer sums stay exact in float32 up to 2^24.
        dtype = torch.float32 if d <= 2**24 else torch.float64
        s = torch.where(units > 0, 1.0, -1.0).to(dtype)
        kernel.add_(((s @ s.T + d) / 2).double())

    handles = [m.register_forward_hook(add_codes) for m in net.modules()
               if isinstance(m, RECTIFIERS)]
    try:
        with torch.no_grad():
            net(batch.x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else -math.inf


@register_proxy("meco", "sum over layers of the smallest eigenvalue of the correlation of "
                        "one image's channels")
def meco(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """MeCo (Jiang et al., "MeCo: Zero-shot NAS with one data and single forward pass via
    minimum eigenvalue of correlation", NeurIPS 2023).

    One forward pass of one image (the batch's first). For every layer's output feature map
    ``f`` (C x H x W, as C rows of H*W values), its Pearson correlation matrix ``P(f)`` (C x C;
    an entry that is not finite, where a channel is constant, counts as 0), and
    ``S = sum_layers lambda_min(P(f))``. The smallest eigenvalue bounds how fast a wide network
    trains and how well it generalises; a layer whose channels are redundant scores near 0.
    The layers are the network's leaf modules (convolutions, batch norms, activations, pools;
    outputs that are not feature maps, such as the logits, have one value per row and count
    0), which is the reference's hook on every module, less its containers: a compiled
    network calls only its leaves. In train mode, as the reference: batch norm normalises
    over the image's positions (over a 1x1 map it keeps its initial statistics).
    """
    net = _scratch(model)  # train mode, as the reference: batch norm over one image's pixels
    total = torch.zeros((), dtype=torch.float64)

    def add_layer(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        if not isinstance(output, Tensor) or output.dim() < 2:
            return
        f = output[0].detach().reshape(output.shape[1], -1).double()  # (C, H*W)
        if f.shape[1] < 2:  # one value per channel: no correlation
            return
        corr = torch.nan_to_num(torch.corrcoef(f), nan=0.0, posinf=0.0, neginf=0.0)
        total += torch.linalg.eigvalsh(corr)[0].cpu()  # ascending: the smallest

    def one_value(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        # A batch norm that would see one value per channel (a 1x1 map of one image) cannot
        # use batch statistics: it uses its initial running ones, as in eval mode.
        x = inputs[0]
        module.train(x.numel() > x.shape[1])

    handles = [m.register_forward_hook(add_layer) for m in net.modules()
               if not list(m.children())]
    handles += [m.register_forward_pre_hook(one_value) for m in net.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        with torch.no_grad():
            net(batch.x[:1])
    finally:
        for h in handles:
            h.remove()
    return float(total)


@register_proxy("params", "parameters (baseline: the cost model's exact count)", kind="cost")
def params(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """The number of parameters, the baseline every proxy must beat. It equals the exact cost
    model's count (:func:`nas.core.cost.totals`): the built module holds exactly the graph's
    parameters."""
    return float(sum(p.numel() for p in model.parameters()))


@register_proxy("macs", "multiply-adds per image (baseline: the cost model's exact count)",
                kind="cost")
def macs(model: nn.Module, batch: Split, seed: int = 0) -> float:
    """Multiply-adds of one image, the other cost baseline: the exact cost model's count
    (:func:`nas.core.cost.totals`), taken with its rules from one batch-1 forward
    (:func:`nas.training.measure.count_macs`) since a module does not keep its graph. Its
    old name ``flops`` is accepted wherever a proxy is named."""
    return float(count_macs(model, tuple(batch.x.shape[1:]), _device(model)))


# --- networks, batches and pools ----------------------------------------------------------


def sample_batch(data: DataSplits, batch_size: int, seed: int = 0) -> Split:
    """``batch_size`` images of the training split, drawn without replacement with ``seed``
    (the same minibatch for every network scored with that seed)."""
    if batch_size < 2:
        raise NasError(f"a proxy batch needs at least 2 images, got {batch_size}")
    if batch_size > len(data.train):
        raise NasError(f"batch size {batch_size} is more than the {len(data.train)} training "
                       f"images of {data.name}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train), generator=g)[:batch_size].to(data.device)
    return Split(data.train.x.index_select(0, idx), data.train.y.index_select(0, idx))


def build_network(space: Space, genome: Genome, input_shape: Sequence[int],
                  num_classes: int, seed: int = 0) -> nn.Module:
    """``genome``'s network as ``space`` builds it, its weights drawn with ``seed`` (torch's
    global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(genome, tuple(input_shape), num_classes)


def score_genome(space: Space, genome: Genome, batch: Split, names: Sequence[str],
                 num_classes: int, seed: int = 0) -> dict[str, float]:
    """Every proxy in ``names`` of ``genome``'s network (built once, weights from ``seed``) on
    ``batch``; the proxies' copies leave the network untouched, so they all see the same
    initialisation. The cost baselines (which only read the network) go first and the last
    proxy scores the network itself, not a copy."""
    model = build_network(space, genome, batch.x.shape[1:], num_classes, seed)
    order = sorted(names, key=lambda n: get_proxy(n).kind != "cost")  # stable: costs first
    scores = {name: compute(name, model, batch, seed, owned=i == len(order) - 1)
              for i, name in enumerate(order)}
    return {name: scores[name] for name in names}


def ranks(scores: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``scores`` (ties share their mean rank); anything not finite (NaN,
    -inf, +inf) counts as the lowest score."""
    from scipy.stats import rankdata  # scipy costs ~0.3 s to import; only pools need it

    values = np.asarray(scores, dtype=np.float64)
    values = np.where(np.isfinite(values), values, -np.inf)
    return np.asarray(rankdata(values, method="average"), dtype=np.float64)


def parse_combination(text: str) -> dict[str, float]:
    """``"meco:4,synflow"`` -> {"meco": 4.0, "synflow": 1.0}: proxies and their weights in a
    rank combination (weight 1 when not given)."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        name = metric_name(name)
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            w = math.nan
        if not math.isfinite(w) or w <= 0:
            raise NasError(f"combination {text!r}: the weight of {name!r} must be a positive "
                           f"number, got {weight!r}")
        if name in weights:
            raise NasError(f"combination {text!r}: {name!r} is named twice")
        weights[name] = w
    parse_proxies(",".join(weights))  # unknown names list the known ones
    return weights


def combination_name(weights: Mapping[str, float]) -> str:
    """``{"meco": 4, "synflow": 1}`` -> ``rank(4*meco+synflow)``."""
    terms = (n if w == 1 else f"{w:g}*{n}" for n, w in weights.items())
    return "rank(" + "+".join(terms) + ")"


def rank_aggregate(columns: Mapping[str, Sequence[float]],
                   weights: Mapping[str, float] | None = None) -> list[float]:
    """A combination of proxies over a pool: the weighted mean of each proxy's rank (1 =
    worst; equal weights by default), per network. Scale-free (a proxy in log units and one
    in raw counts weigh the same) and needs the pool, as a prefilter has it."""
    if not columns:
        raise NasError("a combination needs at least one proxy")
    w = np.asarray([1.0 if weights is None else float(weights[n]) for n in columns])
    stacked = np.stack([ranks(v) for v in columns.values()])  # (proxies, networks)
    return (w @ stacked / w.sum()).tolist()


# --- score files --------------------------------------------------------------------------


def read_scores(path: str | Path) -> tuple[dict[str, Any], dict[Genome, dict[str, Any]]]:
    """A score file as (settings, genome -> row); see :func:`append_scores`.

    A row is ``{"scores": {proxy: float}, "seconds": {proxy or "build": float}, "cpu":
    {...}}`` (wall-clock and CPU seconds); a proxy's ``null`` (a non-finite score) reads back
    as NaN; a genome listed again adds to (and overrides) what its earlier lines said.
    """
    path = Path(path)
    settings: dict[str, Any] | None = None
    rows: dict[Genome, dict[str, Any]] = {}
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if number == 1:
                        settings = dict(record["settings"])
                        continue
                    genome = Genome.from_dict(record["genome"])
                    # each keyed by proxy: a file of an older nas has its old names renamed
                    scores = {k: math.nan if v is None else float(v)
                              for k, v in current(record["scores"]).items()}
                    seconds = {k: float(v)
                               for k, v in current(record.get("seconds", {})).items()}
                    cpu = {k: float(v) for k, v in current(record.get("cpu", {})).items()}
                except (ValueError, KeyError, TypeError) as e:
                    raise NasError(f"score file {path} line {number} is not a score record "
                                   f"({e}); remove the file or pass another one") from None
                row = rows.setdefault(genome, {"scores": {}, "seconds": {}, "cpu": {}})
                row["scores"].update(scores)
                row["seconds"].update(seconds)
                row["cpu"].update(cpu)
    except OSError as e:
        raise NasError(f"cannot read score file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise NasError(f"score file {path} is not UTF-8 text") from None
    if settings is None:
        raise NasError(f"score file {path} is empty; remove it")
    return settings, rows


def append_scores(path: str | Path, settings: Mapping[str, Any], genome: Genome,
                  scores: Mapping[str, float], seconds: Mapping[str, float],
                  cpu: Mapping[str, float], arch: str | None = None) -> None:
    """Append one genome's scores to a JSON-lines score file, starting the file with its
    ``{"settings": ...}`` line (space, options, dataset, batch size, seed: what the scores
    depend on). Every other line is ``{"genome": {...}, "arch": "...", "scores": {...},
    "seconds": {...}, "cpu": {...}}`` (``arch`` for tabular spaces; a non-finite score as
    ``null``; wall-clock and CPU seconds of building the network, ``build``, and of each
    proxy); one line per genome, flushed at once, so an interrupted run keeps what it
    scored."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    record: dict[str, Any] = {"genome": genome.to_dict()}
    if arch is not None:
        record["arch"] = arch
    record["scores"] = {k: v if math.isfinite(v) else None for k, v in scores.items()}
    record["seconds"] = {k: round(v, 4) for k, v in seconds.items()}
    record["cpu"] = {k: round(v, 4) for k, v in cpu.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        if new:
            f.write(json.dumps({"settings": dict(settings)}) + "\n")
        f.write(json.dumps(record) + "\n")
