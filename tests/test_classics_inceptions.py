"""GoogLeNet as torchvision builds it, Inception-v3 (torchvision's), Inception-v4 and
Inception-ResNet-v2 (Szegedy et al. 2017) as genomes of the inception space.

The forward passes against torchvision at the design input are in ``test_classics_walk.py``
(Inception-v3's, 5.7 GMAC, in the slow suite); here Inception-v3 runs torchvision's weights at
160x160, where its stride-2 convolutions drop a row as PyTorch's floor rounding does.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn

from nas import get_baseline, layer_table, totals
from search_spaces.classics.googlenet import GOOGLENET_MODULES
from search_spaces.inception import group_modules


def _randomise(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.25)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_googlenet_torchvision_is_the_papers_widths_with_torchvisions_changes() -> None:
    b = get_baseline("googlenet_torchvision")
    assert group_modules(b.genome) == GOOGLENET_MODULES  # the same table as the paper's
    g = b.graph().graph
    assert g.nodes["inception3a.branch3.1.conv"]["kernel"] == (3, 3)  # the paper: 5x5
    assert g.nodes["inception3a.branch1.bn"]["eps"] == 0.001
    assert (g.nodes["maxpool4"]["kernel"], g.nodes["maxpool4"]["ceil_mode"]) == ((2, 2), True)
    assert totals(b.graph()).params == 6_624_904
    assert totals(get_baseline("googlenet").graph()).params == 6_998_552  # the paper's stays


def test_inception_v3_loads_torchvisions_weights_and_gives_its_logits_at_160() -> None:
    b = get_baseline("inception_v3")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference = torchvision.models.inception_v3(weights=None, aux_logits=False,
                                                    init_weights=True).eval()
    _randomise(reference)
    model = b.build((3, 160, 160), 1000).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 160, 160, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want, got = reference(x), model(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    crops = [n for n in b.graph((3, 160, 160), 1000).graph if n.endswith("crop")]
    assert crops  # 160 -> 79 ... some stride-2 layers meet an even size and drop its last row


def test_inception_v3_grid_sizes_at_299() -> None:
    rows = {r.layer: r for r in layer_table(get_baseline("inception_v3").graph())}
    assert (rows["maxpool2"].out_c, rows["maxpool2"].out_hw) == (192, "35")
    assert [rows[f"Mixed_5{m}.concat"].out_c for m in "bcd"] == [256, 288, 288]
    assert (rows["Mixed_6a.concat"].out_c, rows["Mixed_6a.concat"].out_hw) == (768, "17")
    assert (rows["Mixed_7a.concat"].out_c, rows["Mixed_7a.concat"].out_hw) == (1280, "8")
    assert (rows["Mixed_7c.concat"].out_c, rows["Mixed_7c.concat"].out_hw) == (2048, "8")
    # torchvision's inception_v3 with its auxiliary head has 27,161,264 parameters; ours is
    # the network without it, exactly torchvision's aux_logits=False
    assert totals(get_baseline("inception_v3").graph()).params == 23_834_568


# Szegedy et al. 2017, Fig. 9 and 15: (module scope, output C, output H/W) at 299x299
V4_GRID = [("stem.mixed_5a.concat", 384, "35"), ("inception_a.3.concat", 384, "35"),
           ("reduction_a.concat", 1024, "17"), ("inception_b.6.concat", 1024, "17"),
           ("reduction_b.concat", 1536, "8"), ("inception_c.2.concat", 1536, "8")]
IRV2_GRID = [("mixed_5b.concat", 320, "35"), ("block35.9.relu", 320, "35"),
             ("mixed_6a.concat", 1088, "17"), ("block17.19.relu", 1088, "17"),
             ("mixed_7a.concat", 2080, "8"), ("block8.9.add", 2080, "8"),
             ("conv2d_7b.relu", 1536, "8")]


@pytest.mark.parametrize(("name", "grid", "params"), [
    ("inception_v4", V4_GRID, 42_679_816), ("inception_resnet_v2", IRV2_GRID, 55_843_464)])
def test_inception_v4_and_resnet_v2_follow_the_papers_schema(name: str, grid: list,
                                                            params: int) -> None:
    """The papers' 42.7M and 55.8M parameters (the reference implementations' exact counts),
    and the grid of Figs. 9 and 15: 35x35, 17x17, 8x8."""
    graph = get_baseline(name).graph()
    assert totals(graph).params == params
    assert round(params / 1e6, 1) == get_baseline(name).paper_params / 1e6  # type: ignore[operator]
    g = graph.graph
    for node, c, hw in grid:
        assert g.nodes[node]["out_shape"] == (c, int(hw), int(hw)), node
    assert graph.graph.nodes["fc"]["in_features"] == 1536


def test_inception_resnet_v2_modules_are_residual_and_the_last_one_has_no_relu() -> None:
    g = get_baseline("inception_resnet_v2").graph().graph
    assert g.nodes["block17.0.add"]["inputs"] == ["mixed_6a.concat", "block17.0.up"]
    assert g.nodes["block17.0.concat"]["out_shape"][0] == 192 + 192  # then 1x1 back to 1088
    assert "block8.8.relu" in g and "block8.9.relu" not in g
