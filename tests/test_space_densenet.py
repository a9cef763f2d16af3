"""The ``densenet`` space: dense connectivity, bottleneck and compression, and its classics."""

from __future__ import annotations

import random

import torchvision

from nas import NetBuilder, get_baseline, get_space, layer_table, totals
from nas.core.cost import node_macs
from search_spaces.densenet import dense_block, transition


def test_every_layer_reads_everything_before_it() -> None:
    """A block of L layers on C channels outputs C + L k: (64 + 4 * 32) here."""
    nb = NetBuilder((64, 8, 8))
    with nb.scope("block"):
        out = dense_block(nb, nb.input(), layers=4, growth=32, bottleneck=True)
    assert out.shape == (64 + 4 * 32, 8, 8)
    g = nb.graph
    assert g.nodes["block.denselayer3.cat"]["inputs"] == [
        "x", "block.denselayer1.conv2", "block.denselayer2.conv2"]
    assert g.nodes["block.denselayer3.conv1"]["out_channels"] == 4 * 32  # the bottleneck: 4k
    assert g.nodes["block.denselayer3.conv2"]["kernel"] == (3, 3)
    assert "block.denselayer1.cat" not in g  # the first layer reads the block input itself


def test_without_bottleneck_a_layer_is_bn_relu_conv3x3() -> None:
    nb = NetBuilder((24, 8, 8))
    with nb.scope("block"):
        dense_block(nb, nb.input(), layers=2, growth=12, bottleneck=False)
    convs = [n for n, a in nb.graph.nodes(data=True) if a["op"] == "conv"]
    assert convs == ["block.denselayer1.conv1", "block.denselayer2.conv1"]
    assert nb.graph.nodes["block.denselayer2.conv1"]["in_channels"] == 36


def test_transition_compresses_and_halves() -> None:
    nb = NetBuilder((256, 56, 56))
    with nb.scope("t"):
        assert transition(nb, nb.input(), 0.5).shape == (128, 28, 28)
    nb = NetBuilder((255, 7, 7))
    with nb.scope("t"):
        assert transition(nb, nb.input(), 0.5).shape == (127, 3, 3)  # floor, as torchvision


def test_three_block_cifar_network_and_four_block_imagenet_network() -> None:
    g = get_baseline("densenet_bc_100").graph().graph
    assert "features.denseblock4.cat" not in g and "features.transition3.conv" not in g
    assert g.nodes["features.conv0"]["kernel"] == (3, 3) and "features.pool0" not in g
    assert g.nodes["classifier"]["in_features"] == 342  # 24 + 16k -> 108, 150 -> 75, 171 ...
    assert totals(get_baseline("densenet_bc_100").graph()).params == 769_162  # the paper: 0.8M
    g = get_baseline("densenet121").graph().graph
    assert g.nodes["features.denseblock4.cat"]["out_shape"] == (1024, 7, 7)


def test_densenet121_macs_are_torchvisions_published_cost() -> None:
    graph = get_baseline("densenet121").graph()
    gflop = sum(node_macs(a) for _, a in graph.nodes if a["op"] in ("conv", "linear")) / 1e9
    meta = torchvision.models.DenseNet121_Weights.IMAGENET1K_V1.meta
    assert round(gflop, 3) == meta["_ops"] == 2.834
    assert totals(graph).params == meta["num_params"] == 7_978_856


def test_every_sampled_genome_builds() -> None:
    space = get_space("densenet")
    rng = random.Random(0)
    for _ in range(300):
        genome = space.sample(rng)
        space.graph(genome, (3, 32, 32), 10)
    rows = layer_table(space.graph(space.sample(rng), (3, 224, 224), 1000))
    assert rows[-1].op == "linear"
