"""MobileNet v1 (the lecture's body table) and MobileNetV2 (torchvision's, exactly)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nas.core.cost import layer_table, totals
from nas.core.errors import GenomeError
from nas.core.netgraph import NetGraph
from nas.core.space import create_space, get_baseline, list_baselines
from nas.testing.spaces import check_genome

# The lecture's "Table 1. MobileNet Body Architecture" (Howard et al. 2017): type / stride,
# filter shape, input size; the "5x" row written out. The table's last depthwise row reads
# "Conv dw / s2" on a 7x7 input whose next row is still 7x7: a misprint for s1.
V1_BODY = """
Conv / s2     | 3x3x3x32      | 224x224x3
Conv dw / s1  | 3x3x32 dw     | 112x112x32
Conv / s1     | 1x1x32x64     | 112x112x32
Conv dw / s2  | 3x3x64 dw     | 112x112x64
Conv / s1     | 1x1x64x128    | 56x56x64
Conv dw / s1  | 3x3x128 dw    | 56x56x128
Conv / s1     | 1x1x128x128   | 56x56x128
Conv dw / s2  | 3x3x128 dw    | 56x56x128
Conv / s1     | 1x1x128x256   | 28x28x128
Conv dw / s1  | 3x3x256 dw    | 28x28x256
Conv / s1     | 1x1x256x256   | 28x28x256
Conv dw / s2  | 3x3x256 dw    | 28x28x256
Conv / s1     | 1x1x256x512   | 14x14x256
""" + """
Conv dw / s1  | 3x3x512 dw    | 14x14x512
Conv / s1     | 1x1x512x512   | 14x14x512
""" * 5 + """
Conv dw / s2  | 3x3x512 dw    | 14x14x512
Conv / s1     | 1x1x512x1024  | 7x7x512
Conv dw / s1  | 3x3x1024 dw   | 7x7x1024
Conv / s1     | 1x1x1024x1024 | 7x7x1024
Avg Pool / s1 | Pool 7x7      | 7x7x1024
FC / s1       | 1024x1000     | 1x1x1024
"""


def body_rows(net: NetGraph) -> list[str]:
    """The layer table of ``net`` written as the paper's Table 1 rows."""
    out = []
    for row in layer_table(net):
        a = net.graph.nodes[row.layer]
        size = f"{row.in_hw}x{row.in_hw}x{row.in_c}"
        if row.op == "conv":
            k = f"{row.kernel}x{row.kernel}"
            if a["groups"] == row.in_c > 1:
                out.append(f"Conv dw / s{row.stride} | {k}x{row.in_c} dw | {size}")
            else:
                out.append(f"Conv / s{row.stride} | {k}x{row.in_c}x{row.out_c} | {size}")
        elif row.op == "gap":
            out.append(f"Avg Pool / s1 | Pool {row.in_hw}x{row.in_hw} | {size}")
        elif row.op == "linear":
            out.append(f"FC / s1 | {row.in_c}x{row.out_c} | 1x1x{row.in_c}")
    return out


def test_both_are_registered_baselines_of_the_mobilenet_space() -> None:
    assert {"mobilenet_v1", "mobilenet_v2"} <= set(list_baselines())
    v1, v2 = get_baseline("mobilenet_v1"), get_baseline("mobilenet_v2")
    assert v1.genome.space == v2.genome.space == "mobilenet"
    assert (v1.torchvision, v2.torchvision) == (None, "mobilenet_v2")
    assert v1.doc and v2.doc


# --- MobileNet v1 ------------------------------------------------------------------------------


def test_v1_reproduces_the_lecture_body_table_row_by_row() -> None:
    expected = [" | ".join(c.strip() for c in line.split("|"))
                for line in V1_BODY.strip().splitlines() if line.strip()]
    assert body_rows(get_baseline("mobilenet_v1").graph()) == expected


def test_v1_has_4_2m_params_and_569m_mult_adds() -> None:
    """Howard et al. 2017, Table 1/8: 4.2 million parameters, 569 million multiply-adds."""
    net = get_baseline("mobilenet_v1").graph((3, 224, 224), 1000)
    t = totals(net)
    assert round(t.params / 1e6, 1) == 4.2
    assert round(t.macs / 1e6) == 569
    # exact: conv weights 3,185,088 + BN 2 x 10,944 + FC 1,025,000; convs 567,716,352 + pooling
    # 50,176 + FC 1,024,000 multiply-adds
    assert t.params == 4_231_976
    assert t.macs == 568_790_528
    assert sum(p.numel() for p in get_baseline("mobilenet_v1").build().parameters()) == t.params


def test_v1_is_relu_separable_blocks_without_shortcuts_and_runs() -> None:
    v1 = get_baseline("mobilenet_v1")
    net = v1.graph()
    assert not [n for n, a in net.nodes if a["op"] == "add"]
    assert {a["kind"] for _, a in net.nodes if a["op"] == "act"} == {"relu"}
    assert v1.space().options["dropout"] == 0.001
    torch.manual_seed(0)
    assert check_genome(v1.space(), v1.genome, (3, 32, 32), 10)  # forward, backward, finite


# --- MobileNetV2 -------------------------------------------------------------------------------


@pytest.fixture
def v2_pair() -> tuple[nn.Module, nn.Module]:
    """(ours, torchvision's), both built after ``torch.manual_seed(0)``."""
    torch.manual_seed(0)
    theirs = torchvision.models.mobilenet_v2()
    torch.manual_seed(0)
    ours = get_baseline("mobilenet_v2").build((3, 224, 224), 1000)
    return ours, theirs


def test_v2_has_torchvisions_parameter_count_and_ops() -> None:
    meta = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta
    t = totals(get_baseline("mobilenet_v2").graph((3, 224, 224), 1000))
    assert t.params == meta["num_params"] == 3_504_872
    assert round(t.macs / 1e9, 3) == meta["_ops"]  # 0.301 GFLOPs (multiply-adds)
    assert t.macs == 300_836_992


def test_v2_has_torchvisions_modules_names_and_state_dict_layout(v2_pair) -> None:
    ours, theirs = v2_pair
    leaves = {n: type(m) for n, m in ours.named_modules() if not list(m.children())}
    assert leaves.pop("avgpool") is nn.AdaptiveAvgPool2d  # torchvision pools functionally
    assert leaves == {n: type(m) for n, m in theirs.named_modules() if not list(m.children())}
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)  # same keys, in the same order
    assert all(ours_sd[k].shape == v.shape for k, v in theirs_sd.items())
    assert ours.get_submodule("classifier.0").p == 0.2


def test_v2_is_initialised_exactly_as_torchvision(v2_pair) -> None:
    """Same seed, same modules built in the same order, same init: identical weights."""
    ours, theirs = v2_pair
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


def test_v2_loads_torchvision_weights_strictly_and_gives_its_logits(v2_pair) -> None:
    ours, theirs = v2_pair
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial BN statistics and classifier, so logits are not ~0
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(-0.1, 0.1, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.uniform_(-0.1, 0.1, generator=generator)
        theirs.classifier[1].weight.normal_(0, 0.5, generator=generator)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 3, 128, 128, generator=generator)  # any size: both pool globally
    with torch.no_grad():
        expected = theirs(x)
        got = ours(x)
    assert expected.std() > 0.1
    torch.testing.assert_close(got, expected)


# --- MobileNetV3-Large and EfficientNet-B0 ---------------------------------------------------


def test_v3_large_is_torchvisions_table() -> None:
    """Howard et al. 2019, Table 1 (torchvision's bneck settings): expanded widths, kernels,
    SE, activations and strides of the 15 blocks, exactly."""
    graph = get_baseline("mobilenet_v3_large").graph()
    g = graph.graph
    blocks = []
    for i in range(1, 16):
        dw = next(n for n, a in g.nodes(data=True) if n.startswith(f"features.{i}.block.")
                  and a["op"] == "conv" and a["groups"] > 1)
        a = g.nodes[dw]
        act = g.nodes[dw.rsplit(".", 1)[0] + ".2"]["kind"]
        se = f"features.{i}.block.2.fc1" in g
        blocks.append((a["out_channels"], a["kernel"][0], se, act, a["stride"]))
    assert blocks == [
        (16, 3, False, "relu", 1), (64, 3, False, "relu", 2), (72, 3, False, "relu", 1),
        (72, 5, True, "relu", 2), (120, 5, True, "relu", 1), (120, 5, True, "relu", 1),
        (240, 3, False, "hardswish", 2), (200, 3, False, "hardswish", 1),
        (184, 3, False, "hardswish", 1), (184, 3, False, "hardswish", 1),
        (480, 3, True, "hardswish", 1), (672, 3, True, "hardswish", 1),
        (672, 5, True, "hardswish", 2), (960, 5, True, "hardswish", 1),
        (960, 5, True, "hardswish", 1)]
    assert g.nodes["features.4.block.2.fc1"]["out_channels"] == 24  # _make_divisible(72 // 4)
    assert g.nodes["features.4.block.2.scale_activation"]["kind"] == "hardsigmoid"
    assert g.nodes["features.0.1"]["eps"] == 0.001 and g.nodes["features.0.1"]["momentum"] == 0.01
    assert [g.nodes[f"classifier.{i}"]["op"] for i in range(4)] == [
        "linear", "act", "dropout", "linear"]
    assert totals(graph).params == 5_483_032


def test_efficientnet_b0_nests_stages_and_squeezes_the_block_input() -> None:
    g = get_baseline("efficientnet_b0").graph().graph
    assert g.nodes["features.2.1.block.2.fc1"]["out_channels"] == 24 // 4  # input 24, t = 6
    assert g.nodes["features.1.0.block.1.fc1"]["out_channels"] == 32 // 4  # t = 1: no expand
    assert g.nodes["features.6.3.block.2.activation"]["kind"] == "silu"
    assert g.nodes["features.8.0"]["out_channels"] == 1280
    assert {a["kind"] for _, a in g.nodes(data=True) if a["op"] == "act"} == {
        "silu", "sigmoid"}


def test_layouts_name_the_same_network_three_ways() -> None:
    genome = get_baseline("efficientnet_b0").genome
    sizes = []
    for layout in ("mobilenet_v2", "mobilenet_v3", "efficientnet"):
        graph = create_space("mobilenet", layout=layout).graph(genome, (3, 64, 64), 10)
        sizes.append((totals(graph).params, totals(graph).macs))
        names = set(graph.graph)
        assert {"mobilenet_v2": "features.2.conv.0.0", "mobilenet_v3": "features.2.block.0.0",
                "efficientnet": "features.2.0.block.0.0"}[layout] in names
    assert len(set(sizes)) == 1
    with pytest.raises(GenomeError, match="layout cannot be 'resnet'"):
        create_space("mobilenet", layout="resnet")
