"""tlbook's EfficientNet-Lite is timm's tf_efficientnet_lite network: names, weights, arithmetic, imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tlbook.efficientnet_lite import Conv2dSame, efficientnet_lite

timm = pytest.importorskip("timm")

VARIANTS = {  # timm's name -> (channel multiplier, depth multiplier)
    "tf_efficientnet_lite0": (1.0, 1.0),
    "tf_efficientnet_lite1": (1.0, 1.1),
    "tf_efficientnet_lite2": (1.1, 1.2),
}


def _pair(name: str, seed: int = 0):
    cm, dm = VARIANTS[name]
    torch.manual_seed(seed)
    theirs = timm.create_model(name, pretrained=False)
    after_theirs = torch.rand(4)  # where the generator stands after building
    torch.manual_seed(seed)
    ours = efficientnet_lite(channel_multiplier=cm, depth_multiplier=dm)
    after_ours = torch.rand(4)
    return ours, theirs, after_ours, after_theirs


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_same_tensors_and_same_seeded_initial_weights_as_timm(name):
    ours, theirs, after_ours, after_theirs = _pair(name)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"initial weights differ from timm's at {different[:3]}"
    assert torch.equal(after_ours, after_theirs), (
        "built with a different number of draws"
    )


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_same_outputs_gradients_and_running_statistics_as_timm(name):
    ours, theirs, _, _ = _pair(name)
    torch.manual_seed(1)
    # Random, non-trivial BatchNorm statistics, so eval mode tests more than the identity.
    for m in theirs.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 67, 45)  # odd sizes: the asymmetric padding matters
    ours.eval(), theirs.eval()
    assert torch.equal(ours(x), theirs(x))
    ours.train(), theirs.train()
    y_ours, y_theirs = ours(x), theirs(x)
    assert torch.equal(y_ours, y_theirs)
    y_ours.square().sum().backward()
    y_theirs.square().sum().backward()
    for (name_, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(p.grad, q.grad), name_
    for p, q in zip(ours.buffers(), theirs.buffers()):
        assert torch.equal(p, q)


@given(
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    kernel=st.sampled_from([1, 2, 3, 5, 7]),
    stride=st.integers(1, 4),
)
def test_same_padding_is_timms_for_any_input_size(size, kernel, stride):
    from timm.layers import Conv2dSame as TimmConv2dSame

    torch.manual_seed(0)
    ours = Conv2dSame(2, 3, kernel, stride=stride)
    theirs = TimmConv2dSame(2, 3, kernel, stride=stride)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(1, 2, *size)
    out = ours(x)
    assert out.shape[-2:] == tuple(-(-s // stride) for s in size)  # ceil(size / stride)
    assert torch.equal(out, theirs(x))


def test_syncbatchnorm_conversion_keeps_the_activations():
    net = efficientnet_lite(channel_multiplier=1.0, depth_multiplier=1.0).eval()
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(
        efficientnet_lite(channel_multiplier=1.0, depth_multiplier=1.0)
    ).eval()
    converted.load_state_dict(net.state_dict())
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(net(x), converted(x))
    assert not any(type(m) is torch.nn.BatchNorm2d for m in converted.modules())


def test_building_the_default_backbone_imports_neither_timm_nor_torchvision():
    code = (
        "import sys\n"
        "from tlbook.backbones import create_model\n"
        "create_model('efficientnet_lite0', num_classes=10)\n"
        "print(sorted(m for m in ('timm', 'torchvision', 'torch._dynamo') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", out
