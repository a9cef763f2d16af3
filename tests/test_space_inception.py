"""The inception space: its decisions, its module, its stems and what a genome leaves out."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from nas import Genome, GenomeError, NasError, Row, create_space, get_space, layer_table, totals
from search_spaces.inception import (
    BRANCHES,
    MAX_MODULES,
    STEMS,
    UNUSED,
    WIDTHS,
    InceptionWidths,
    group_modules,
    inception_genome,
)

W3A = InceptionWidths(64, 96, 128, 16, 32, 32)  # GoogLeNet's 3a: 256 channels out
W4A = InceptionWidths(192, 96, 208, 16, 48, 64)  # 4a: 512
W5A = InceptionWidths(256, 160, 320, 32, 128, 128)  # 5a: 832


def small_genome(batch_norm: bool = False) -> Genome:
    """One module in group 3, two in group 4, one in group 5, for CIFAR-sized inputs."""
    return inception_genome({"3": [W3A], "4": [W4A, W4A], "5": [W5A]}, stem="small",
                            stem_channels=64, batch_norm=batch_norm)


def table(genome: Genome, input_shape: tuple[int, int, int] = (3, 32, 32)) -> dict[str, Row]:
    graph = get_space("inception").graph(genome, input_shape, 10)
    return {r.layer: r for r in layer_table(graph)}


def test_decisions_are_flat_categorical_in_controller_order() -> None:
    space = get_space("inception")
    names = [d.name for d in space.decisions]
    assert names[:4] == ["stem", "stem_channels", "batch_norm", "modules_3"]
    assert names[4:10] == [f"3a.{b}" for b in BRANCHES]
    slots = sum(MAX_MODULES.values())
    assert len(names) == 3 + len(MAX_MODULES) + slots * len(BRANCHES) == 72
    assert space.decision("modules_4").options == (1, 2, 3, 4, 5)
    assert space.decision("5c.pool_proj").options == WIDTHS["pool_proj"]
    assert space.decision("stem").options == STEMS


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
    genome = small_genome().replace(stem="googlenet")
    rows = table(genome, (3, 224, 224))
    assert (rows["maxpool2"].out_c, rows["maxpool2"].out_hw) == (64, "28")
    assert rows["inception5a.concat"].out_hw == "7"
    rows = table(genome, (3, 32, 32))  # 32 -> 4 for group 3, 2, 1: tiny, but it works
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
    with pytest.raises(GenomeError, match="group 3 takes 1 to 3 modules, got 4"):
        inception_genome({"3": [W3A] * 4, "4": [W4A], "5": [W5A]})
    with pytest.raises(GenomeError, match=r"needs groups \['3', '4', '5'\]"):
        inception_genome({"3": [W3A], "4": [W4A]})
    with pytest.raises(GenomeError, match=r"'3a\.5x5' cannot be 40"):
        inception_genome({"3": [W3A._replace(n5x5=40)], "4": [W4A], "5": [W5A]})


def test_dropout_option() -> None:
    space = create_space("inception", dropout=0.2)
    model = space.build(small_genome())
    assert model.get_submodule("dropout").p == 0.2
    with pytest.raises(NasError, match="dropout must be a number in"):
        create_space("inception", dropout=1.5)


def test_sampled_genomes_stay_cheap_at_32() -> None:
    # The conformance suite trains 200 samples on 2 CPU cores; keep the average sample small
    # (multiply-adds per 3x32x32 image, deterministic), so the whole run stays in seconds.
    space = get_space("inception")
    rng = random.Random(0)
    flops = [totals(space.graph(space.sample(rng))).flops for _ in range(50)]
    assert sum(flops) / len(flops) < 0.25e9
