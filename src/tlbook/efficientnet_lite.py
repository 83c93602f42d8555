"""EfficientNet-Lite, the network behind Google's Lite checkpoints, in plain torch.

The same network as timm's ``tf_efficientnet_lite{0,1,2}``: the same modules,
tensor names and shapes (a timm state dict loads into it and back), the same
arithmetic (TensorFlow's asymmetric "same" padding where the stride is 2,
BatchNorm eps 1e-3, ReLU6) and, for a network built from scratch, the same
initial weights drawn in the same order from torch's generator. The tests
compare all three with timm. Written here because building it needs only
``torch``: importing timm imports torchvision and ``torch._dynamo``, which
costs seconds every time a notebook kernel starts.

One difference in the module tree, none in the state dict: each BatchNorm
is a plain ``nn.BatchNorm2d`` followed by its own activation module (timm
fuses the two into ``BatchNormAct2d``), so torch's
``nn.SyncBatchNorm.convert_sync_batchnorm`` converts it without losing the
activation.

>>> net = efficientnet_lite(channel_multiplier=1.0, depth_multiplier=1.0)
>>> net(torch.zeros(2, 3, 224, 224)).shape
torch.Size([2, 1000])
>>> sum(p.numel() for p in net.parameters())
4652008
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# One row per stage: (block kind, repeats, kernel, stride, expansion, output channels);
# "ds" is a depthwise-separable block, "ir" an inverted residual (MobileNetV2's block).
_STAGES = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)
_STEM = 32  # channels after the stem; Lite keeps the stem and head unscaled
_FEATURES = 1280  # channels before global pooling, the classifier's input
_BN_EPS = (
    1e-3  # TensorFlow's BatchNorm epsilon, which the checkpoints were trained with
)


def _round_channels(channels: float, multiplier: float) -> int:
    # timm's round_channels: the nearest multiple of 8, never below 90 % of the scaled count.
    scaled = channels * multiplier
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding: pad so the output is ceil(input / stride).

    With stride 2 the padding is asymmetric (the extra row and column go at the
    bottom and right), which is what the TensorFlow-trained weights expect.

    >>> Conv2dSame(1, 1, 3, stride=2, bias=False)(torch.zeros(1, 1, 7, 7)).shape
    torch.Size([1, 1, 4, 4])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W); pad H and W so that H_out = ceil(H / stride)
        pads = []
        for size, k, s, d in zip(
            reversed(x.shape[-2:]),
            reversed(self.kernel_size),
            reversed(self.stride),
            reversed(self.dilation),
        ):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _conv(
    cin: int, cout: int, kernel: int, *, stride: int = 1, groups: int = 1
) -> nn.Conv2d:
    # Stride 1 with an odd kernel: TensorFlow's "same" is symmetric, a fixed padding does it.
    if stride == 1:
        return nn.Conv2d(
            cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False
        )
    return Conv2dSame(cin, cout, kernel, stride=stride, groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class DepthwiseSeparable(nn.Module):
    """Depthwise k x k convolution, BatchNorm, ReLU6, then a 1 x 1 projection and BatchNorm."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv_dw = _conv(cin, cin, kernel, stride=stride, groups=cin)
        self.bn1 = _bn(cin)
        self.act1 = nn.ReLU6(inplace=True)
        self.conv_pw = _conv(cin, cout, 1)
        self.bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.act1(self.bn1(self.conv_dw(x)))))
        return x + y if self.skip else y


class InvertedResidual(nn.Module):
    """1 x 1 expansion, depthwise k x k, 1 x 1 projection (each with BatchNorm; ReLU6 after the first two)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, expansion: int
    ) -> None:
        super().__init__()
        mid = cin * expansion
        self.conv_pw = _conv(cin, mid, 1)
        self.bn1 = _bn(mid)
        self.act1 = nn.ReLU6(inplace=True)
        self.conv_dw = _conv(mid, mid, kernel, stride=stride, groups=mid)
        self.bn2 = _bn(mid)
        self.act2 = nn.ReLU6(inplace=True)
        self.conv_pwl = _conv(mid, cout, 1)
        self.bn3 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_pw(x)))  # (B, mid, H, W)
        y = self.act2(self.bn2(self.conv_dw(y)))  # (B, mid, H / stride, W / stride)
        y = self.bn3(self.conv_pwl(y))  # (B, cout, H / stride, W / stride)
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """Stem, seven stages of blocks, a 1 x 1 head convolution, global average pooling, a linear classifier."""

    def __init__(
        self, *, channel_multiplier: float, depth_multiplier: float, num_classes: int
    ) -> None:
        super().__init__()
        self.conv_stem = _conv(3, _STEM, 3, stride=2)
        self.bn1 = _bn(_STEM)
        self.act1 = nn.ReLU6(inplace=True)
        # timm's builder makes (and discards) two 8-channel 1 x 1 convolutions here, which
        # draw from torch's generator; drawing the same keeps a from-scratch network's
        # initial weights identical to timm's, so seeded runs reproduce across the two.
        for _ in range(2):
            nn.Conv2d(8, 8, 1)
        stages = []
        cin = _STEM
        for i, (kind, repeats, kernel, stride, expansion, channels) in enumerate(
            _STAGES
        ):
            if (
                0 < i < len(_STAGES) - 1
            ):  # Lite scales the depth of the inner stages only
                repeats = math.ceil(repeats * depth_multiplier)
            cout = _round_channels(channels, channel_multiplier)
            blocks: list[nn.Module] = []
            for j in range(
                repeats
            ):  # only a stage's first block changes stride and width
                s, c = (stride, cin) if j == 0 else (1, cout)
                if kind == "ds":
                    blocks.append(DepthwiseSeparable(c, cout, kernel, s))
                else:
                    blocks.append(InvertedResidual(c, cout, kernel, s, expansion))
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.blocks = nn.Sequential(*stages)
        self.conv_head = _conv(cin, _FEATURES, 1)
        self.bn2 = _bn(_FEATURES)
        self.act2 = nn.ReLU6(inplace=True)
        self.classifier = nn.Linear(_FEATURES, num_classes)
        for module in self.modules():
            _init_like_tensorflow(module)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, 1280, H / 32, W / 32) feature maps."""
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        return self.act2(self.bn2(self.conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, 1280, h, w) -> average over h, w -> (B, 1280) -> (B, num_classes)
        return self.classifier(self.forward_features(x).mean((2, 3)))


def _init_like_tensorflow(m: nn.Module) -> None:
    # timm's _init_weight_goog, the TensorFlow reference initialisation: normal with
    # std sqrt(2 / fan_out) for convolutions (fan_out per group), ones/zeros for
    # BatchNorm, uniform +-1/sqrt(out_features) for the classifier.
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        bound = 1.0 / math.sqrt(m.weight.size(0))
        nn.init.uniform_(m.weight, -bound, bound)
        nn.init.zeros_(m.bias)


def efficientnet_lite(
    *, channel_multiplier: float, depth_multiplier: float, num_classes: int = 1000
) -> EfficientNetLite:
    """A randomly initialised EfficientNet-Lite: (1.0, 1.0) is Lite0, (1.0, 1.1) Lite1, (1.1, 1.2) Lite2.

    >>> len(efficientnet_lite(channel_multiplier=1.1, depth_multiplier=1.2).state_dict())  # as in the Lite2 checkpoint
    386
    """
    return EfficientNetLite(
        channel_multiplier=channel_multiplier,
        depth_multiplier=depth_multiplier,
        num_classes=num_classes,
    )
