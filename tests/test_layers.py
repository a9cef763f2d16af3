"""The layer vocabulary: every kind compiles, costs, counts and writes out consistently.

Table-driven over :data:`nas.core.layers.LAYER_NAMES`: a kind added without an example here,
or with a cost formula, a live counter or a source that disagrees with what it builds, fails.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.shufflenetv2 import InvertedResidual, channel_shuffle

from nas import NetBuilder, get_baseline, totals
from nas.core.codegen import generate
from nas.core.layers import ACTIVATIONS, LAYER_NAMES, LAYERS, Layer, live_kind
from nas.core.netgraph import NetGraph, T
from nas.training.measure import count_macs

INPUT = (4, 8, 8)  # (C, H, W) of every example
Example = Callable[[NetBuilder, T], T]


def _conv_bn(nb: NetBuilder, x: T) -> T:
    return nb.bn(nb.conv(x, 6, 3, 1, 1, bias=False), eps=1e-3, momentum=0.01)


def _every_activation(nb: NetBuilder, x: T) -> T:
    x = nb.conv(x, 4, 1)
    for kind in ACTIVATIONS:  # each reads the last one alone: in place where it can be
        x = nb.act(x, kind)
    return nb.add(nb.act(x, "relu"), x)  # x has two readers: this ReLU must not overwrite it


# Every kind: tiny networks that use it (label, network from the input).
EXAMPLES: dict[str, list[tuple[str, Example]]] = {
    "input": [("read twice", lambda nb, x: nb.add(nb.act(x), x))],  # the input stays intact
    "conv": [
        ("3x3", lambda nb, x: nb.conv(x, 8, 3, padding=1)),
        ("grouped dilated strided", lambda nb, x: nb.conv(x, 6, 3, 2, 2, groups=2, dilation=2,
                                                          bias=False)),
        ("1x7", lambda nb, x: nb.conv(x, 5, (1, 7), padding=(0, 3))),
    ],
    "bn": [("after conv", _conv_bn), ("defaults", lambda nb, x: nb.bn(x))],
    "act": [("every activation", _every_activation)],
    "maxpool": [("3/2 ceil", lambda nb, x: nb.maxpool(x, 3, 2, 1, ceil_mode=True)),
                ("2", lambda nb, x: nb.maxpool(x, 2))],
    "avgpool": [("3/2 no pad count",
                 lambda nb, x: nb.avgpool(x, 3, 2, 1, count_include_pad=False)),
                ("3/1", lambda nb, x: nb.avgpool(x, 3, 1, 1))],
    "pad": [("shift", lambda nb, x: nb.pad(x, (-1, 1, -1, 1))),
            ("grow", lambda nb, x: nb.pad(x, (1, 2, 0, 1)))],
    "gap": [("pool", lambda nb, x: nb.global_avgpool(nb.conv(x, 8, 3, padding=1)))],
    "dropout": [("after linear", lambda nb, x: nb.dropout(nb.linear(nb.flatten(x), 3), 0.3))],
    "linear": [("two", lambda nb, x: nb.linear(nb.linear(nb.flatten(x), 7, bias=False), 3))],
    "flatten": [("flat", lambda nb, x: nb.flatten(x))],
    "add": [("three", lambda nb, x: nb.add(nb.conv(x, 4, 1), nb.act(x), nb.conv(x, 4, 3,
                                                                                   padding=1)))],
    "mul": [("squeeze-excite", lambda nb, x: nb.mul(
        x, nb.act(nb.conv(nb.global_avgpool(x), 4, 1), "sigmoid")))],
    "concat": [("two", lambda nb, x: nb.concat([nb.conv(x, 3, 1), x]))],
    "zero": [("cut", lambda nb, x: nb.add(nb.zero(nb.conv(x, 4, 1)), x))],
    "shuffle": [("between grouped convs", lambda nb, x: nb.conv(
        nb.shuffle(nb.conv(x, 6, 1, groups=2), 3), 6, 1, groups=3))],
    "slice": [("split", lambda nb, x: nb.concat(
        [nb.conv(nb.slice_channels(x, 0, 2), 2, 3, padding=1), nb.slice_channels(x, 2, 4)]))],
}
CASES = [pytest.param(kind, i, id=f"{kind}-{label}")
         for kind in LAYER_NAMES for i, (label, _) in enumerate(EXAMPLES.get(kind, [("", None)]))]


def _graph(kind: str, i: int) -> NetGraph:
    assert kind in EXAMPLES, f"layer kind {kind!r} has no example in tests/test_layers.py"
    nb = NetBuilder(INPUT)
    with nb.scope("block.0"):  # a two-level scope: codegen writes a block class for it
        out = EXAMPLES[kind][i][1](nb, nb.input())
    net = nb.build(out)
    assert kind in {a["op"] for _, a in net.nodes}, f"the {kind} example has no {kind} node"
    return net


def _randomise(model: nn.Module) -> None:
    """Non-default values in every parameter and float buffer (BN statistics included)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)


@pytest.mark.parametrize(("kind", "i"), CASES)
def test_kind_compiles_costs_counts_and_writes_out_exactly(kind: str, i: int) -> None:
    net = _graph(kind, i)
    model = net.to_module().eval()
    _randomise(model)
    cost = totals(net)
    assert sum(p.numel() for p in model.parameters()) == cost.params
    assert count_macs(model, INPUT, torch.device("cpu")) == cost.macs

    namespace: dict[str, object] = {}
    exec(compile(generate(net, "Net"), "<generated>", "exec"), namespace)  # imports only torch
    standalone = namespace["Net"]().eval()  # type: ignore[operator]
    standalone.load_state_dict(model.state_dict(), strict=True)
    assert count_macs(standalone, INPUT, torch.device("cpu")) == cost.macs

    x = torch.randn(2, *INPUT, generator=torch.Generator().manual_seed(1))
    before = x.clone()
    with torch.no_grad():
        y = model(x)
        assert torch.equal(x, before), "the network's input was overwritten"
        assert torch.equal(standalone(x), y)
    assert tuple(y.shape[1:]) == net.output_shape


# The lectures' formulas worked by hand for the examples above (input 4x8x8):
# (parameters, multiply-adds). Cost model and live count share each kind's formula, so these
# numbers are what checks the formulas themselves.
BY_HAND = {
    ("conv", 0): (8 * 4 * 9 + 8, 8 * 8 * 8 * 4 * 9),  # Co Ci K^2 (+ Co bias); H' W' Co Ci K^2
    ("conv", 1): (6 * 2 * 9, 6 * 4 * 4 * 2 * 9),  # groups 2: C_in / G = 2; span 5, stride 2: 4x4
    ("conv", 2): (5 * 4 * 7 + 5, 5 * 8 * 8 * 4 * 7),  # a 1x7 kernel
    ("bn", 0): (6 * 4 * 9 + 2 * 6, 6 * 8 * 8 * 4 * 9),  # BN: 2 C parameters, nothing to multiply
    ("maxpool", 0): (0, 4 * 5 * 5 * 9),  # ceil((8 + 2 - 3) / 2) + 1 = 5; K^2 per output
    ("avgpool", 0): (0, 4 * 4 * 4 * 9),  # floor((8 + 2 - 3) / 2) + 1 = 4
    ("gap", 0): (8 * 4 * 9 + 8, 8 * 8 * 8 * 4 * 9 + 8 * 8 * 8),  # global pooling reads C H W once
    ("linear", 0): (256 * 7 + 7 * 3 + 3, 256 * 7 + 7 * 3),  # C_in C_out (+ C_out)
    ("shuffle", 0): (2 * 6 + 2 * 6 + 6 + 6, 8 * 8 * (2 * 6 + 2 * 6)),  # shuffle: nothing
}


@pytest.mark.parametrize(("kind", "i"), sorted(BY_HAND))
def test_cost_formulas_are_the_lectures(kind: str, i: int) -> None:
    cost = totals(_graph(kind, i))
    assert (cost.params, cost.macs) == BY_HAND[kind, i]


def test_every_example_names_a_kind() -> None:
    assert set(EXAMPLES) == set(LAYER_NAMES)
    assert tuple(LAYERS) == LAYER_NAMES and len(set(LAYER_NAMES)) == len(LAYER_NAMES)


def test_a_kind_is_one_complete_way_of_building() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        Layer("both", "", module=lambda a, inplace: (nn.ReLU, (), {}), fn=lambda a, x: x,
              expr=lambda a, x: x)
    with pytest.raises(ValueError, match="fn and expr go together"):
        Layer("no source", "", fn=lambda a, x: x)
    with pytest.raises(ValueError, match="live and observe go together"):
        Layer("uncounted", "", module=lambda a, inplace: (nn.Conv2d, (1, 1, 1), {}),
              live=(nn.Conv2d,))


def test_constructor_source_shows_only_what_differs_from_torch_defaults() -> None:
    nb = NetBuilder(INPUT)
    x = nb.conv(nb.input(), 8, 3, padding=1, bias=False, name="c")
    x = nb.maxpool(nb.bn(x, name="b"), 3, 2, name="p")
    sources = {n: LAYERS[a["op"]].source(a) for n, a in nb.build(x).nodes if n != "x"}
    assert sources == {"c": "nn.Conv2d(4, 8, kernel_size=3, padding=1, bias=False)",
                       "b": "nn.BatchNorm2d(8)", "p": "nn.MaxPool2d(3, stride=2)"}


def test_live_modules_are_counted_by_their_kind() -> None:
    assert live_kind(nn.Conv1d(1, 1, 1)) is LAYERS["conv"]
    assert live_kind(nn.ConvTranspose2d(1, 1, 1)) is None  # not a kind of ours: counts nothing
    assert live_kind(nn.ReLU()) is None


def test_torchvision_network_is_counted_as_the_cost_model_counts_ours() -> None:
    shape = (3, 64, 64)
    torch.manual_seed(0)
    theirs = torchvision.models.resnet18(weights=None)
    ours = totals(get_baseline("resnet18").graph(shape, 1000)).macs
    assert count_macs(theirs, shape, torch.device("cpu")) == ours


def test_shufflenet_v2_unit_from_slice_and_shuffle_is_torchvisions() -> None:
    """A stride-1 ShuffleNetV2 unit (Ma et al., 2018): split the channels in two, transform
    one half, concatenate, shuffle; the same keys, weights and outputs as torchvision's."""
    c = 8
    nb = NetBuilder((c, 6, 6))
    x = nb.input()
    keep = nb.slice_channels(x, 0, c // 2)
    y = nb.slice_channels(x, c // 2, c)
    with nb.scope("branch2"):
        y = nb.act(nb.bn(nb.conv(y, c // 2, 1, bias=False, name="0"), name="1"), name="2")
        y = nb.bn(nb.conv(y, c // 2, 3, 1, 1, groups=c // 2, bias=False, name="3"), name="4")
        y = nb.act(nb.bn(nb.conv(y, c // 2, 1, bias=False, name="5"), name="6"), name="7")
    net = nb.build(nb.shuffle(nb.concat([keep, y]), 2))
    reference = InvertedResidual(c, c, 1).eval()
    _randomise(reference)
    model = net.to_module().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(3, c, 6, 6)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    assert totals(net).params == sum(p.numel() for p in reference.parameters())
    assert count_macs(reference, (c, 6, 6), torch.device("cpu")) == totals(net).macs
    z = torch.randn(2, 12, 3, 3)
    assert torch.equal(LAYERS["shuffle"].call({"groups": 3, "in_shape": (12, 3, 3)}, z),
                       channel_shuffle(z, 3))
