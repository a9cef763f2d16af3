"""The symbolic builder: shapes by the lecture's formula, clear rejections, exact compile."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from nas import NetBuilder, ShapeError, get_space, totals
from nas.core.netgraph import dropped_pixels, out_size


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "d", "ceil"),
    [(size, k, s, p, d, ceil) for size in (5, 7, 8, 13, 32, 55, 56, 224, 227)
     for k in (1, 2, 3, 5, 7, 11) for s in (1, 2, 3, 4) for p in (0, 1, 2, 3) for d in (1, 2)
     for ceil in (False, True) if p <= k // 2 and d * (k - 1) + 1 <= size + 2 * p],
)
def test_out_size_matches_torch(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> None:
    x = torch.empty(1, 1, size, size)
    if ceil:
        y = nn.functional.max_pool2d(x, k, s, p, dilation=d, ceil_mode=True)
    else:
        y = nn.functional.conv2d(x, torch.empty(1, 1, k, k), stride=s, padding=p, dilation=d)
    assert out_size(size, k, s, p, d, ceil_mode=ceil) == y.shape[-1]


def test_lecture_stride_that_does_not_fit_is_rejected_naming_the_layer() -> None:
    # Lecture 004: a 7x7 input with a 3x3 filter at stride 3 "doesn't fit": (7-3)/3+1 = 2.33.
    nb = NetBuilder((3, 7, 7), where="demo")
    with nb.scope("stage1"), pytest.raises(ShapeError, match=r"demo layer stage1.conv: "
                                                            r"stride 3 does not fit.*2\.33"):
        nb.conv(nb.input(), 8, 3, stride=3, name="conv")


def test_padding_and_stride_gaps_are_not_rejections() -> None:
    assert dropped_pixels(224, 11, 4, 2) == 0  # AlexNet at 224: the leftover is padding
    assert dropped_pixels(56, 1, 2, 0) == 0  # ResNet downsample: stride > filter skips anyway
    assert dropped_pixels(56, 3, 2, 1) == 0
    assert dropped_pixels(7, 3, 3, 0) == 1
    assert dropped_pixels(7, 2, 2, 0) == 1


def test_shrinking_below_one_pixel_is_rejected() -> None:
    nb = NetBuilder((3, 4, 4))
    x = nb.maxpool(nb.input(), 2, name="p1")
    x = nb.maxpool(x, 2, name="p2")
    with pytest.raises(ShapeError, match="layer p3: the image shrinks below 1x1"):
        nb.maxpool(x, 2, name="p3")
    with pytest.raises(ShapeError, match="below 1x1"):
        nb.conv(x, 4, 3, name="c")


def test_group_mismatch_and_bad_add_are_rejected() -> None:
    nb = NetBuilder((6, 8, 8))
    x = nb.input()
    with pytest.raises(ShapeError, match="4 groups do not divide 6"):
        nb.conv(x, 8, 3, padding=1, groups=4)
    a = nb.conv(x, 8, 3, padding=1, name="a")
    b = nb.conv(x, 4, 3, padding=1, name="b")
    with pytest.raises(ShapeError, match="cannot add"):
        nb.add(a, b)


def _tiny_residual() -> tuple[NetBuilder, object]:
    nb = NetBuilder((3, 16, 16))
    x = nb.input()
    x = nb.act(nb.bn(nb.conv(x, 8, 3, padding=1, bias=False, name="conv1"), name="bn1"))
    with nb.scope("layer1.0"):
        y = nb.act(nb.bn(nb.conv(x, 8, 3, padding=1, bias=False, name="conv1"), name="bn1"))
        y = nb.bn(nb.conv(y, 8, 3, padding=1, bias=False, name="conv2"), name="bn2")
        se = nb.global_avgpool(y, name="se.pool")
        se = nb.act(nb.conv(se, 2, 1, name="se.fc1"))
        se = nb.act(nb.conv(se, 8, 1, name="se.fc2"), "sigmoid")
        y = nb.act(nb.add(nb.mul(y, se), x))
    y = nb.concat([y, x])
    y = nb.flatten(nb.global_avgpool(y, name="avgpool"))
    return nb, nb.linear(y, 10, name="fc")


def test_compiled_module_has_qualified_names_and_matches_the_cost_model() -> None:
    nb, out = _tiny_residual()
    net = nb.build(out)  # type: ignore[arg-type]
    model = net.to_module()
    keys = set(model.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv2.weight",
            "layer1.0.se.fc1.bias", "fc.weight"} <= keys
    assert sum(p.numel() for p in model.parameters()) == totals(net).params
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = model(x)
    assert y.shape == (4, 10)
    y.sum().backward()  # the residual input must not have been overwritten in place
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_inplace_only_where_nothing_else_reads_the_input() -> None:
    nb, out = _tiny_residual()
    model = nb.build(out).to_module()  # type: ignore[arg-type]
    relus = {n: m for n, m in model.named_modules() if isinstance(m, nn.ReLU)}
    # relu0 follows bn1, read once: in place; the block's last relu feeds the residual
    # branch and the concat, but its own input (the add) is read once: in place too.
    assert all(isinstance(m.inplace, bool) for m in relus.values())
    # the stem ReLU's output x is read by layer1.0.conv1, the add and the concat; the ReLU
    # itself may still run in place (its input, bn1, has one reader)
    assert relus["relu0"].inplace


def test_duplicate_layer_names_are_a_bug_not_silent() -> None:
    nb = NetBuilder((3, 8, 8))
    x = nb.conv(nb.input(), 4, 3, padding=1, name="c")
    with pytest.raises(ValueError, match="used twice"):
        nb.conv(x, 4, 3, padding=1, name="c")


def test_shuffle_and_slice_check_their_arguments_naming_the_layer() -> None:
    nb = NetBuilder((6, 4, 4), where="demo")
    x = nb.input()
    with pytest.raises(ShapeError, match="demo layer s: 4 groups do not divide 6 channels"):
        nb.shuffle(x, 4, name="s")
    with pytest.raises(ShapeError, match="feature map"):
        nb.shuffle(nb.flatten(x), 2)
    for start, stop in ((0, 0), (3, 2), (-1, 2), (4, 7)):
        with pytest.raises(ShapeError, match=f"channels {start}:{stop} are not a non-empty "
                                             "part of the 6 channels of x"):
            nb.slice_channels(x, start, stop)
    assert nb.shuffle(x, 3).shape == (6, 4, 4)
    assert nb.slice_channels(x, 2, 6).shape == (4, 4, 4)


def test_space_compiles_the_graph_it_described_once() -> None:
    space = get_space("resnet")
    genome = space.sample(random.Random(0))
    graph = space.graph(genome, (3, 32, 32), 10)
    torch.manual_seed(0)
    once = space.module(graph)
    torch.manual_seed(0)
    twice = space.build(genome, (3, 32, 32), 10)
    assert once.state_dict().keys() == twice.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(once.state_dict().values(),
                                                 twice.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="space 'vgg' cannot build a graph described by "
                                         "'resnet'"):
        get_space("vgg").module(graph)
