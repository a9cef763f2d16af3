"""The ``resnet`` space: its blocks cost the lecture's formulas, and what it adds to torchvision
(squeeze-and-excitation, the CIFAR stem, searched widths and groups) is exact too.

The classics themselves are checked against torchvision in ``test_classics_resnets.py``; the
generic conformance suite (sampled genomes build, run, round-trip) is ``test_spaces.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torchvision
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.ops import SqueezeExcitation

from nas import NasError, NetBuilder, create_space, get_baseline, get_space, totals
from nas.core.cost import layer_table
from nas.core.netgraph import T
from search_spaces.resnet import basic_block, bottleneck

H = W = 56  # the lecture's stage-1 resolution
C = 64  # the lecture's C (a bottleneck block's planes)


def _block_costs(block: Callable[..., T], in_shape: tuple[int, int, int],
                 **kw: Any) -> tuple[dict[str, int], int]:
    """MACs per conv of one block (by its name) and the block's total, from the layer table."""
    nb = NetBuilder(in_shape)
    with nb.scope("block"):
        out = block(nb, nb.input(), **kw)
    graph = nb.build(out)
    convs = {r.layer.removeprefix("block."): r.macs for r in layer_table(graph)
             if r.op == "conv"}
    return convs, totals(graph).macs


# --- the lecture's block formulas -------------------------------------------------------------


def test_basic_block_costs_18_hwc2() -> None:
    convs, total = _block_costs(basic_block, (C, H, W), planes=C, stride=1)
    assert convs == {"conv1": 9 * H * W * C**2, "conv2": 9 * H * W * C**2}
    assert total == 18 * H * W * C**2  # bn, relu and the add cost no multiply-adds


def test_bottleneck_block_costs_17_hwc2() -> None:
    convs, total = _block_costs(bottleneck, (4 * C, H, W), planes=C, stride=1)
    assert convs == {"conv1": 4 * H * W * C**2, "conv2": 9 * H * W * C**2,
                     "conv3": 4 * H * W * C**2}
    assert total == 17 * H * W * C**2


@pytest.mark.parametrize(("groups", "c"), [(32, 4), (4, 24)])  # the lecture's two examples
def test_resnext_block_costs_hwg_8cc_9c2(groups: int, c: int) -> None:
    # At planes 64 (output 256) an inner width of G * c is the fraction G * c / 256.
    inner = groups * c
    convs, total = _block_costs(bottleneck, (4 * C, H, W), planes=C, stride=1, groups=groups,
                                inner=inner / (4 * C))
    assert convs["conv2"] == 9 * H * W * inner**2 // groups  # a grouped conv costs 1/G
    assert total == H * W * groups * (8 * C * c + 9 * c**2)
    # ... which is the plain bottleneck's 17 HWC^2 when 9Gc^2 + 8GCc - 17C^2 = 0 (about).
    assert total == pytest.approx(17 * H * W * C**2, rel=0.01)


# --- exactness of what torchvision's ResNet does not ship ------------------------------------


def _se_channels(c: int) -> int:
    return max(8, c // 16)  # Hu et al.'s reduction 16, no narrower than 8


class _SEBasicBlock(BasicBlock):
    """torchvision's BasicBlock with squeeze-and-excitation before the add (SE-ResNet)."""

    def __init__(self, inplanes: int, planes: int, *args: Any, **kw: Any) -> None:
        super().__init__(inplanes, planes, *args, **kw)
        self.se = SqueezeExcitation(planes, _se_channels(planes))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


class _SEBottleneck(Bottleneck):
    """torchvision's Bottleneck with squeeze-and-excitation before the add (SE-ResNeXt)."""

    def __init__(self, inplanes: int, planes: int, *args: Any, **kw: Any) -> None:
        super().__init__(inplanes, planes, *args, **kw)
        self.se = SqueezeExcitation(planes * 4, _se_channels(planes * 4))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


def _assert_same_network(reference: nn.Module, model: nn.Module, size: int) -> None:
    """Strict state_dict load of ``reference`` into ``model``, then equal logits in eval."""
    reference.eval()
    for m in reference.modules():  # non-trivial BN statistics, so misplaced BNs would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = torch.empty(m.num_features).uniform_(-0.1, 0.1)
            m.running_var = torch.empty(m.num_features).uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.25, 0.75)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        want, got = reference(x), model(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


@pytest.mark.parametrize(("block", "layers", "groups", "group_width"), [
    ("basic", [1, 1, 1, 1], 1, 64),
    ("bottleneck", [1, 2, 1, 1], 4, 32),  # inner 4 x 32 = 128 of 256: 0.5
])
def test_squeeze_excitation_is_torchvisions(block: str, layers: list[int], groups: int,
                                            group_width: int) -> None:
    torch.manual_seed(0)
    reference = ResNet(_SEBasicBlock if block == "basic" else _SEBottleneck,
                       layers, num_classes=10, groups=groups, width_per_group=group_width)
    genome = get_space("resnet").genome(
        stem="imagenet", block=block, blocks1=layers[0], blocks2=layers[1],
        blocks3=layers[2], blocks4=layers[3], width=64, shortcut="projection", groups=groups,
        inner=groups * group_width / 256, se=True)
    model = get_space("resnet").build(genome, (3, 64, 64), num_classes=10)
    assert "layer1.0.se.fc1.weight" in model.state_dict()
    _assert_same_network(reference, model, size=64)


def test_cifar_stem_is_the_usual_cifar_resnet() -> None:
    """The CIFAR stem is torchvision's ResNet with a 3x3/1 conv1 and no max pool."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(num_classes=10)
    reference.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    reference.maxpool = nn.Identity()
    genome = get_baseline("resnet18").genome.replace(stem="cifar")
    model = get_space("resnet").build(genome, (3, 32, 32), num_classes=10)
    _assert_same_network(reference, model, size=32)


# --- the space's own rules --------------------------------------------------------------------


def test_stride_placement_option() -> None:
    genome = get_baseline("resnet50").genome
    for stride_in, strides in (("3x3", (1, 2)), ("1x1", (2, 1))):
        nodes = create_space("resnet", stride_in=stride_in).graph(genome).graph.nodes
        assert (nodes["layer2.0.conv1"]["stride"], nodes["layer2.0.conv2"]["stride"]) == strides
        assert nodes["layer2.0.downsample.0"]["stride"] == 2
    with pytest.raises(NasError, match="stride_in"):
        create_space("resnet", stride_in="5x5")


def test_groups_never_exceed_the_channels_and_basic_blocks_ignore_them() -> None:
    space = get_space("resnet")
    genome = get_baseline("resnext50_32x4d").genome.replace(width=8, inner=0.25)
    nodes = space.graph(genome, (3, 32, 32), 10).graph.nodes
    # layer1's 3x3 conv has 8 channels: 32 groups asked, gcd(32, 8) = 8 used (depthwise)
    assert (nodes["layer1.0.conv2"]["out_channels"], nodes["layer1.0.conv2"]["groups"]) == (8, 8)
    assert nodes["layer4.0.conv2"]["groups"] == 32  # 64 channels there: all 32 groups
    basic = genome.replace(block="basic")
    assert space.graph(basic).nodes == space.graph(basic.replace(groups=1, inner=1.0)).nodes


def test_every_sampled_genome_builds_at_cifar_and_imagenet_sizes() -> None:
    """No decision combination is rejected (the old groups x group_width had 8% invalid)."""
    space = get_space("resnet")
    rng = random.Random(0)
    for _ in range(300):
        genome = space.sample(rng)
        space.graph(genome, (3, 32, 32), 10)
    for _ in range(30):
        space.graph(space.sample(rng), (3, 224, 224), 1000)


def test_zero_pad_shortcut_is_parameter_free_subsampling() -> None:
    """Option A (He et al. 2016): x[:, :, ::2, ::2] with zero channels appended."""
    torch.manual_seed(0)
    model = get_baseline("resnet20").build().eval()
    assert not [k for k in model.state_dict() if "downsample" in k]
    seen: dict[str, Tensor] = {}
    model.get_submodule("layer2.0.downsample.subsample").register_forward_hook(
        lambda m, i, o: seen.update(x=i[0], y=o))
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(seen["y"], seen["x"][:, :, ::2, ::2])
    nodes = get_baseline("resnet20").graph().graph.nodes
    assert nodes["layer2.0.downsample.pad"]["out_shape"] == (32, 16, 16)
    assert nodes["layer3.0.downsample.pad"]["out_shape"] == (64, 8, 8)


def test_preact_block_is_the_wide_resnet_block() -> None:
    """BN-ReLU-conv twice; a shape-changing shortcut is a bare 1x1 conv on the pre-activated
    input; the network ends in BN-ReLU; the CIFAR stem is the bare conv."""
    graph = get_baseline("wrn28_10").graph()
    g = graph.graph
    assert g.nodes["layer1.0.bn1"]["inputs"] == ["conv1"]  # no BN-ReLU in the stem
    assert g.nodes["layer1.0.downsample.0"]["inputs"] == ["layer1.0.relu1"]
    assert "layer1.0.downsample.1" not in g  # no BN on the projection
    assert g.nodes["layer1.1.add"]["inputs"] == ["layer1.1.conv2", "layer1.0.add"]
    assert g.nodes["avgpool"]["inputs"] == ["relu_final"]
    assert g.nodes["layer3.3.conv2"]["out_channels"] == 640


def test_widen_option_widens_stages_not_the_stem() -> None:
    genome = get_baseline("resnet20").genome
    nodes = create_space("resnet", widen=2).graph(genome, (3, 32, 32), 10).graph.nodes
    assert nodes["conv1"]["out_channels"] == 16
    assert [nodes[f"layer{i}.0.conv1"]["out_channels"] for i in (1, 2, 3)] == [32, 64, 128]
    with pytest.raises(NasError, match="widen must be an integer"):
        create_space("resnet", widen=0)


def test_sampled_children_stay_small_at_cifar_scale() -> None:
    """Uniform samples are mostly CIFAR-sized networks, not ResNet-152s (see the docstring)."""
    space = get_space("resnet")
    rng = random.Random(0)
    params, macs = [], []
    for _ in range(200):
        t = totals(space.graph(space.sample(rng), (3, 32, 32), 10))
        params.append(t.params)
        macs.append(t.macs)
    params.sort()
    macs.sort()
    assert params[len(params) // 2] < 5_000_000  # median, vs ResNet-18's 11.2M
    assert macs[len(macs) // 2] < 100_000_000  # median MACs at 32x32; ResNet-18: 555M
