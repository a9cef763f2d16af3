"""Building blocks shared by several spaces: squeeze-and-excitation and conv-BN-activation.

Squeeze-and-excitation (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018; the lectures'
"SENet") gates every channel of a feature map by a weight computed from the whole map: global
average pooling squeezes ``(C, H, W)`` to ``(C, 1, 1)``, two 1x1 convolutions (the paper's two
fully connected layers) excite it through a ``squeeze``-channel bottleneck, and a sigmoid-like
gate multiplies the map channel by channel. It adds ``2 C squeeze + C + squeeze`` parameters and
almost no multiply-adds. The networks that use it differ only in the squeeze width and the two
non-linearities, so those are arguments:

* SE-ResNet (Hu et al.): ``squeeze = C / 16`` (at least 8), ReLU, sigmoid (:func:`se_gate`;
  the nasnet space's optional SE on a cell's output is the same gate);
* MobileNetV3 (Howard et al. 2019): ``squeeze = C / 4`` rounded to a multiple of 8, ReLU,
  hard sigmoid;
* EfficientNet (Tan & Le 2019): ``squeeze = C_in / 4`` of the *block's input*, SiLU, sigmoid.

The modules are named as :class:`torchvision.ops.SqueezeExcitation` names them (``avgpool``,
``fc1``, ``activation``, ``fc2``, ``scale_activation``), so torchvision's weights load by key.
"""

from __future__ import annotations

from nas.core.netgraph import NetBuilder, T

SE_REDUCTION = 16  # Hu et al.: squeeze C channels to C / 16 ...
SE_MIN_CHANNELS = 8  # ... but to no fewer than 8 (timm's rounding), so narrow maps keep a gate


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, never below ``min_value`` nor
    10% below ``value`` (torchvision's and TF's ``_make_divisible``, used by MobileNetV2/V3)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def squeeze_excitation(nb: NetBuilder, x: T, squeeze: int, *, act: str = "relu",
                       gate: str = "sigmoid", name: str = "se") -> T:
    """``x * gate(fc2(act(fc1(avgpool(x)))))`` under scope ``name``; (C, H, W) -> (C, H, W)."""
    with nb.scope(name):
        s = nb.global_avgpool(x, name="avgpool")  # (C, 1, 1)
        s = nb.act(nb.conv(s, squeeze, 1, name="fc1"), act, name="activation")  # (squeeze, 1, 1)
        s = nb.act(nb.conv(s, x.channels, 1, name="fc2"), gate, name="scale_activation")
        return nb.mul(x, s, name="scale")  # the (C, 1, 1) gate broadcast over H and W


def se_gate(nb: NetBuilder, x: T) -> T:
    """Hu et al.'s squeeze-and-excitation: C -> max(8, C / 16) -> C, ReLU, sigmoid."""
    return squeeze_excitation(nb, x, max(SE_MIN_CHANNELS, x.channels // SE_REDUCTION))


def conv_bn_act(nb: NetBuilder, x: T, out_channels: int, kernel: int, stride: int = 1, *,
                groups: int = 1, act: str | None, name: str, eps: float = 1e-5,
                momentum: float = 0.1) -> T:
    """torchvision's ``Conv2dNormActivation``: ``name.0`` conv (no bias, padding ``k // 2``),
    ``name.1`` batch norm, ``name.2`` activation (none when ``act`` is None).

    A stride-1 conv keeps H x W and a stride-2 conv halves it (rounding up).
    """
    with nb.scope(name):
        y = nb.conv(x, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False,
                    name="0")
        y = nb.bn(y, eps=eps, momentum=momentum, name="1")
        return y if act is None else nb.act(y, act, name="2")
