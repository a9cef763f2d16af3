"""Every registered baseline, walked: it builds, it counts, it runs, it exports, and it is
torchvision's network where torchvision has it.

For each name in :func:`list_baselines`:

* structure (all, on the ``meta`` device: no memory, no initialisation cost): the graph's
  parameter count equals the built module's; with a torchvision counterpart, equal to
  torchvision's, with the same ``state_dict`` keys and shapes, and torchvision's
  ``state_dict`` loads with ``strict=True``;
* a forward pass at the design input (batch 1), and the export round trip: the standalone
  code :func:`nas.core.codegen.module_file` writes, imported from a file with ``nas`` unused,
  loads the model's weights strictly and gives the same logits; with a torchvision
  counterpart the model runs torchvision's (randomly initialised) weights and gives
  torchvision's logits. The networks above ~4.5 GMAC or 70M parameters (VGG, ResNet-101/152,
  the 299x299 Inceptions, DenseNet-161, Wide ResNets, ZFNet) run this in the slow suite.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from nas.core.codegen import module_file
from nas.core.cost import totals
from nas.core.space import Baseline, get_baseline, list_baselines

NAMES = list_baselines()
HEAVY_MACS = 4.5e9  # multiply-adds at the design input ...
HEAVY_PARAMS = 70e6  # ... or parameters above which the forward pass is a slow test


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _torchvision(b: Baseline) -> nn.Module:
    assert b.torchvision is not None
    with warnings.catch_warnings():  # GoogLeNet / Inception-v3 init-change notices
        warnings.simplefilter("ignore", FutureWarning)
        return getattr(torchvision.models, b.torchvision)(weights=None, **b.torchvision_kwargs)


def _heavy(name: str) -> bool:
    t = totals(get_baseline(name).graph())
    return t.macs > HEAVY_MACS or t.params > HEAVY_PARAMS


def test_every_baseline_is_documented_with_its_design() -> None:
    assert len(NAMES) >= 40
    for name in NAMES:
        b = get_baseline(name)
        assert b.doc and b.group, name
        assert len(b.input_shape) == 3 and b.num_classes in (10, 1000), name
        assert b.paper_params or b.torchvision or name in ("googlenet", "zfnet"), name


@pytest.mark.parametrize("name", NAMES)
def test_structure_counts_and_torchvision_layout(name: str) -> None:
    b = get_baseline(name)
    graph = b.graph()
    assert graph.input_shape == b.input_shape and graph.output_shape == (b.num_classes,)
    with torch.device("meta"):
        model = b.build()
    assert _numel(model) == totals(graph).params
    if b.torchvision is None:
        return
    with torch.device("meta"):
        reference = _torchvision(b)
    assert _numel(reference) == totals(graph).params
    ours, theirs = model.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    model.load_state_dict(theirs, strict=True)


def _randomise(model: nn.Module, seed: int) -> None:
    """Non-trivial batch-norm statistics and affine maps (so a misplaced BN shows) that keep
    deep networks' activations of order one."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                assert m.running_mean is not None and m.running_var is not None
                m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.25)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def _import_file(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if _heavy(n) else n
                                  for n in NAMES])
def test_forward_at_the_design_input_export_and_torchvision_logits(name: str,
                                                                  tmp_path: Path) -> None:
    b = get_baseline(name)
    torch.manual_seed(0)
    graph = b.graph()
    model = b.space().module(graph)
    if b.torchvision is not None:  # torchvision's weights, so both give the same logits
        reference = _torchvision(b).eval()
        _randomise(reference, seed=1)
        model.load_state_dict(reference.state_dict(), strict=True)
    else:
        _randomise(model, seed=1)
    model.eval()
    x = torch.randn(1, *b.input_shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, b.num_classes) and torch.isfinite(y).all()
    scale = y.abs().max().item()
    assert scale > 0
    if b.torchvision is not None:
        with torch.no_grad():
            want = reference(x)
        torch.testing.assert_close(y, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())

    # The standalone code: no `nas` import, loads our state_dict strictly, same logits.
    source = module_file(graph, b.genome.to_dict(), class_name="Net")
    assert "import nas" not in source and "from nas" not in source
    (tmp_path / f"{name}_export.py").write_text(source)
    exported = _import_file(tmp_path / f"{name}_export.py")
    net = exported.Net().eval()  # type: ignore[attr-defined]
    net.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(net(x), y, rtol=1e-5, atol=1e-5 * scale)
