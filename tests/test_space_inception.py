"""The inception space: its decisions, its module, its stems and what a genome leaves out."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from nas import (
    Genome,
    GenomeError,
    NasError,
    NetBuilder,
    Row,
    create_space,
    get_baseline,
    get_space,
    layer_table,
    totals,
)
from search_spaces.inception import (
    BRANCHES,
    KINDS,
    MAX_MODULES,
    MODULE_COUNTS,
    REDUCTIONS,
    RESIDUAL_SCALE,
    STEMS,
    UNUSED,
    WIDTHS,
    InceptionWidths,
    fit_stride,
    group_modules,
    inception_genome,
)

W3A = InceptionWidths(64, 96, 128, 16, 32, 32)  # GoogLeNet's 3a: 256 channels out
W4A = InceptionWidths(192, 96, 208, 16, 48, 64)  # 4a: 512
W5A = InceptionWidths(256, 160, 320, 32, 128, 128)  # 5a: 832


def small_genome(batch_norm: bool = False) -> Genome:
    """One module in group 3, two in group 4, one in group 5, for CIFAR-sized inputs."""
    return inception_genome({"3": [W3A], "4": [W4A, W4A], "5": [W5A]}, stem_channels=64,
                            batch_norm=batch_norm)


def table(genome: Genome, input_shape: tuple[int, int, int] = (3, 32, 32),
          **options: object) -> dict[str, Row]:
    graph = create_space("inception", **options).graph(genome, input_shape, 10)
    return {r.layer: r for r in layer_table(graph)}


def test_decisions_are_flat_categorical_in_controller_order() -> None:
    space = get_space("inception")
    names = [d.name for d in space.decisions]
    assert names[:6] == ["stem_channels", "batch_norm", "branch3_kernel", "width", "kind_3",
                         "modules_3"]
    assert names[6:12] == [f"3a.{b}" for b in BRANCHES]
    assert names[24:27] == ["reduce_4", "kind_4", "modules_4"]
    slots = sum(MAX_MODULES.values())
    assert len(names) == 4 + 3 * 2 + 2 + slots * len(BRANCHES) == 78
    assert space.decision("modules_4").options == MODULE_COUNTS["4"] == (1, 2, 3, 4, 5, 7, 20)
    assert space.decision("5c.pool_proj").options == WIDTHS["pool_proj"]
    assert space.decision("kind_5").options == KINDS
    assert space.decision("reduce_5").options == REDUCTIONS
    assert "stem" not in names  # the stem is a network-level option, chosen for the input
    assert space.options["stem"] == "small" and STEMS[0] == "small"


def test_inception_module_branches_and_shapes() -> None:
    rows = table(small_genome())
    # small stem: 3x32 -> 64x32 -> pool -> 64x16; 3a keeps 16x16 and concatenates 256 channels.
    assert (rows["maxpool1"].out_c, rows["maxpool1"].out_hw) == (64, "16")
    expected = {  # layer: (in channels, filters, kernel, pad)
        "inception3a.branch1.conv": (64, 64, "1", "0"),
        "inception3a.branch2.0.conv": (64, 96, "1", "0"),
        "inception3a.branch2.1.conv": (96, 128, "3", "1"),
        "inception3a.branch3.0.conv": (64, 16, "1", "0"),
        "inception3a.branch3.1.conv": (16, 32, "5", "2"),
        "inception3a.branch4.1.conv": (64, 32, "1", "0"),
    }
    for layer, (in_c, filters, kernel, pad) in expected.items():
        r = rows[layer]
        assert (r.in_c, r.filters, r.kernel, r.pad, r.out_hw) == (in_c, filters, kernel, pad, "16")
    pool = rows["inception3a.branch4.0"]
    assert (pool.op, pool.kernel, pool.stride, pool.pad, pool.out_hw) == ("maxpool", "3", 1, "1",
                                                                          "16")
    concat = rows["inception3a.concat"]
    assert (concat.out_c, concat.out_hw) == (W3A.out_channels, "16") == (256, "16")
    # groups at 16, 8, 4 with the 3x3/2 max pools between them; global pooling, then fc.
    assert (rows["maxpool3"].out_c, rows["maxpool3"].out_hw) == (256, "8")
    assert (rows["inception4b.concat"].out_c, rows["inception4b.concat"].out_hw) == (512, "8")
    assert (rows["maxpool4"].out_c, rows["maxpool4"].out_hw) == (512, "4")
    assert (rows["inception5a.concat"].out_c, rows["inception5a.concat"].out_hw) == (832, "4")
    assert (rows["fc"].in_c, rows["fc"].out_c) == (832, 10)


def test_googlenet_stem_reduces_by_eight_and_small_images_still_build() -> None:
    genome = small_genome()
    rows = table(genome, (3, 224, 224), stem="googlenet")
    assert (rows["maxpool2"].out_c, rows["maxpool2"].out_hw) == (64, "28")
    assert rows["inception5a.concat"].out_hw == "7"
    rows = table(genome, (3, 32, 32), stem="googlenet")  # 32 -> 4, 2, 1: tiny, but it works
    assert [rows[n].out_hw for n in ("maxpool2", "maxpool3", "maxpool4")] == ["4", "2", "1"]


def test_unused_module_slots_are_ignored() -> None:
    genome = small_genome()
    other = genome.replace(**{"3b.1x1": 384, "3c.5x5": 128, "4e.3x3": 384})
    assert genome != other
    a, b = table(genome), table(other)
    assert list(a) == list(b) and a == b
    assert "inception3b.concat" not in a and "inception4c.concat" not in a
    assert genome["3b.1x1"] == UNUSED.n1x1  # inception_genome fills unused slots canonically
    assert group_modules(genome) == {"3": [W3A], "4": [W4A, W4A], "5": [W5A]}


def test_more_modules_than_slots_repeat_the_last_slots_widths() -> None:
    genome = small_genome().replace(modules_3=10)
    assert group_modules(genome)["3"] == [W3A] + [UNUSED] * 9
    rows = table(genome)
    assert rows["inception3j.concat"].out_c == UNUSED.out_channels


def test_batch_norm_switch() -> None:
    space = get_space("inception")
    genome = small_genome()
    normed_genome = small_genome(batch_norm=True)
    plain, normed = space.build(genome), space.build(normed_genome)
    plain_convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    normed_convs = [m for m in normed.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in normed.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(plain_convs) == len(normed_convs) == len(bns) == 1 + 4 * 6
    assert all(m.bias is not None for m in plain_convs)
    assert all(m.bias is None for m in normed_convs)  # the norm's shift replaces the bias
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert "inception3a.branch2.1.bn.weight" in normed.state_dict()
    for model, g in ((plain, genome), (normed, normed_genome)):
        assert sum(p.numel() for p in model.parameters()) == totals(space.graph(g)).params


def test_init_keeps_the_signal_alive_without_batch_norm() -> None:
    # 1 + 4 modules * 2 convs deep, no batch norm: with He (fan-in) init the features reaching
    # the global pool keep a unit-order scale (PyTorch's default conv init shrinks them
    # ~6x in variance per layer).
    torch.manual_seed(0)
    model = get_space("inception").build(small_genome())
    seen: list[torch.Tensor] = []
    model.get_submodule("avgpool").register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        model.eval()(torch.randn(4, 3, 32, 32))
    features = seen[0]
    assert 0.1 < features.pow(2).mean().sqrt().item() < 10


def test_inception_genome_errors_name_the_fix() -> None:
    with pytest.raises(GenomeError, match="group 3 has 3 width slots, got 4 rows"):
        inception_genome({"3": [W3A] * 4, "4": [W4A], "5": [W5A]})
    with pytest.raises(GenomeError, match=r"needs groups \['3', '4', '5'\]"):
        inception_genome({"3": [W3A], "4": [W4A]})
    with pytest.raises(GenomeError, match=r"'3a\.5x5' cannot be 40"):
        inception_genome({"3": [W3A._replace(n5x5=40)], "4": [W4A], "5": [W5A]})


def test_options() -> None:
    space = create_space("inception", dropout=0.2)
    model = space.build(small_genome())
    assert model.get_submodule("dropout").p == 0.2
    with pytest.raises(NasError, match="dropout must be a number in"):
        create_space("inception", dropout=1.5)
    with pytest.raises(NasError, match="stem cannot be 'vgg'"):
        create_space("inception", stem="vgg")
    with pytest.raises(NasError, match="pools cannot be 'floor'"):
        create_space("inception", pools="floor")
    # ceil-mode pools (torchvision's GoogLeNet) without padding; a 2x2 pool before group 5
    rows = table(small_genome(), (3, 224, 224), stem="googlenet", pools="ceil")
    assert [(rows[p].kernel, rows[p].pad, rows[p].out_hw) for p in
            ("maxpool1", "maxpool2", "maxpool3", "maxpool4")] == [
        ("3", "0", "56"), ("3", "0", "28"), ("3", "0", "14"), ("2", "0", "7")]


# module kind -> group -> (output channels for a 192-channel input, or None: C_in)
KIND_OUTPUTS = {"v3": {"3": 256, "4": 768, "5": 2048}, "v4": {"3": 384, "4": 1024, "5": 1536},
                "resnet": {"3": None, "4": None, "5": None}}
REDUCTION_OUTPUTS = {"v3": {"4": 384 + 96, "5": 320 + 192}, "v4": {"4": 384 + 256, "5": 192 + 320},
                     "resnet": {"4": 384 + 384, "5": 384 + 288 + 320}}  # + C_in (max pool)


@pytest.mark.parametrize("kind", ["v3", "v4", "resnet"])
def test_module_kinds_keep_the_grid_and_reductions_halve_it(kind: str) -> None:
    genome = small_genome().replace(
        stem_channels=192, batch_norm=True, kind_3=kind, kind_4=kind, kind_5=kind,
        reduce_4=kind, reduce_5=kind, **{"3a.pool_proj": 32, "4a.3x3_reduce": 128})
    graph = get_space("inception").graph(genome, (3, 32, 32), 10)
    g = graph.graph
    # small stem: 192 x 16; group 3 at 16, reduced (valid 3x3/2 on 16 -> crop 15 -> 7), 7 -> 3
    first = {"v3": "Mixed_5b", "v4": "inception_a.0", "resnet": "block35.0"}[kind]
    out = g.nodes[f"{first}.{'relu' if kind == 'resnet' else 'concat'}"]["out_shape"]
    assert out == ((KIND_OUTPUTS[kind]["3"] or 192), 16, 16)
    c3 = out[0]
    reduction = {"v3": "Mixed_6a", "v4": "reduction_a", "resnet": "mixed_6a"}[kind]
    assert g.nodes[f"{reduction}.concat"]["out_shape"] == (
        REDUCTION_OUTPUTS[kind]["4"] + c3, 7, 7)
    assert any(n.endswith("_crop") or n.endswith(".crop") for n in g if n.startswith(reduction))
    shape = graph.output_shape
    assert shape == (10,)
    model = graph.to_module()
    assert sum(p.numel() for p in model.parameters()) == totals(graph).params
    model(torch.randn(2, 3, 32, 32)).sum().backward()


def test_width_multiplier_scales_the_fixed_kinds_only() -> None:
    genome = get_baseline("inception_v3").genome
    full = get_baseline("inception_v3").graph().graph.nodes
    space = get_baseline("inception_v3").space()
    quarter = space.graph(genome.replace(width=0.25), (3, 299, 299), 1000).graph.nodes
    assert full["Mixed_5b.branch1x1.conv"]["out_channels"] == 64
    assert quarter["Mixed_5b.branch1x1.conv"]["out_channels"] == 16
    assert quarter["Mixed_7c.concat"]["out_shape"][0] == 2048 // 4
    assert quarter["Conv2d_4a_3x3.conv"]["out_channels"] == 192  # the stem is not scaled
    v1 = small_genome().replace(width=0.25)
    assert table(v1) == table(small_genome())  # GoogLeNet's modules keep their widths


def test_residual_blocks_add_a_scaled_projection_back_to_the_input() -> None:
    torch.manual_seed(0)
    baseline = get_baseline("inception_resnet_v2")
    genome = baseline.genome.replace(modules_3=1, modules_4=1, modules_5=2, width=0.25)
    space = baseline.space()
    graph = space.graph(genome, (3, 299, 299), 10)
    g = graph.graph
    assert g.nodes["block35.0.add"]["inputs"] == ["mixed_5b.concat", "block35.0.up"]
    assert g.nodes["block35.0.up"]["bias"] and g.nodes["block35.0.up"]["out_channels"] == 320
    assert "block8.1.relu" not in g and "block8.0.relu" in g  # the last Block8: no ReLU
    assert g.nodes["conv2d_7b.conv"]["out_channels"] == 1536 // 4
    model = space.build(genome, (3, 299, 299), 10)
    for name, m in model.named_modules():
        if name.endswith(".up"):
            fan_in = m.weight[0].numel()
            scale = RESIDUAL_SCALE[name.split(".")[0]]
            assert m.weight.std().item() == pytest.approx(scale * (2 / fan_in) ** 0.5, rel=0.15)


def test_fit_stride_crops_what_the_stride_never_reads() -> None:
    nb = NetBuilder((4, 16, 15))
    x = nb.input()
    y = fit_stride(nb, x, 3, 2)  # 16 - 3 = 13: one row left over; 15 - 3 = 12 fits
    assert y.shape == (4, 15, 15) and nb.graph.nodes[y.node]["pads"] == (0, 0, 0, -1)
    assert fit_stride(nb, y, 3, 2) is y and fit_stride(nb, x, 3, 1) is x


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 8)])
def test_every_sampled_genome_builds_at_cifar_and_digits_size(shape: tuple[int, ...]) -> None:
    space = get_space("inception")
    rng = random.Random(0)
    for _ in range(100):
        space.graph(space.sample(rng), shape, 10)
    # the grid reductions' unpadded 3x3/2 windows on a 2x2 map: padded to fit, 1x1 out
    genome = small_genome().replace(reduce_4="v4", reduce_5="v3")
    rows = table(genome, (1, 8, 8))
    assert rows["Mixed_7a.concat"].out_hw == "1" and rows["Mixed_7a.branch3x3_2.conv"].pad == "1"


def test_sampled_genomes_stay_affordable_at_32() -> None:
    # Uniform samples include Inception-ResNet's 20-module groups and Inception-v4's
    # 1024-channel modules; the width multiplier keeps the mean (multiply-adds per 3x32x32
    # image, deterministic) near ResNet-18's 0.56G at that size.
    space = get_space("inception")
    rng = random.Random(0)
    macs = [totals(space.graph(space.sample(rng))).macs for _ in range(50)]
    assert sum(macs) / len(macs) < 0.75e9
