"""Layers as matrices, stage tables, multiply-adds, features, PCA and the quick linear probe."""

import pytest
import torch
from torch import nn

from tlbook.anatomy import (
    conv_as_matrix,
    count_macs,
    extract_features,
    feature_maps,
    linear_probe,
    pca,
    stage_table,
)
from tlbook.backbones import create_model, preprocessing_for


def test_conv_is_a_sparse_weight_shared_matrix():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, stride=2)
    x = torch.randn(1, 2, 6, 6)
    W, b = conv_as_matrix(conv, (2, 6, 6))
    with torch.no_grad():
        assert torch.allclose(conv(x).flatten(), W @ x.flatten() + b, atol=1e-5)
    assert len(torch.unique(W[W != 0])) <= conv.weight.numel()


def test_resnet18_stage_table_matches_known_shapes():
    model = create_model("resnet18", num_classes=None, pretrained=False)
    rows = stage_table(model, "resnet18", size=224)
    assert [r["output"] for r in rows] == [
        (64, 112, 112),
        (64, 56, 56),
        (128, 28, 28),
        (256, 14, 14),
        (512, 7, 7),
        (1000,),
    ]
    assert (
        sum(r["parameters"] for r in rows) == 11_689_512
    )  # torchvision's metadata: num_params
    assert stage_table(model, "resnet18", size=32)[-2]["output"] == (512, 1, 1)


def test_macs_match_torchvision_metadata():
    model = create_model("resnet18", num_classes=None, pretrained=False)
    assert count_macs(model, size=224) / 1e9 == pytest.approx(
        1.814, abs=0.01
    )  # ResNet18_Weights meta["_ops"]


def test_features_pca_and_probe():
    model = create_model("efficientnet_lite0", num_classes=3, pretrained=False)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    feats = extract_features(
        model,
        "efficientnet_lite0",
        images,
        preprocessing=preprocessing_for("efficientnet_lite0", 32),
    )
    assert feats.shape == (6, 1280)
    model.train()
    extract_features(
        model,
        "efficientnet_lite0",
        images,
        preprocessing=preprocessing_for("efficientnet_lite0", 32),
    )
    assert model.training, "the model's mode is restored"
    z = pca(feats, 2)
    assert z.shape == (6, 2) and torch.allclose(z.mean(0), torch.zeros(2), atol=1e-3)
    maps = feature_maps(model, "efficientnet_lite0", torch.zeros(1, 3, 64, 64))
    assert len(maps) == 8 and maps["conv_stem+bn1"].shape == (32, 32, 32)


def test_linear_probe_separates_separable_data_and_not_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 10, generator=g)
    y = (x[:, 0] > 0).long()
    assert linear_probe(x[:100], y[:100], x[100:], y[100:]) > 0.9
    noise_labels = torch.randint(0, 2, (200,), generator=g)
    assert linear_probe(x[:100], noise_labels[:100], x[100:], noise_labels[100:]) < 0.75


def test_first_batchnorm_gap_stops_after_the_layer_it_measures():
    """The gap reads only the first BatchNorm's input: stopping the forward there changes nothing."""
    from tlbook.anatomy import first_batchnorm_gap
    from tlbook.train import predict_logits

    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", num_classes=None).eval()
    images = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8)
    pre = preprocessing_for("efficientnet_lite0", 48)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    seen = []
    handle = bn.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    try:
        predict_logits(model, images, preprocessing=pre)  # the whole network
    finally:
        handle.remove()
    x = torch.cat(seen)  # (7, C, h, w)
    mean = x.mean(dim=(0, 2, 3))
    alive = bn.running_var > 0  # constant channels in training have no scale (left out)
    gap = (mean - bn.running_mean) / (bn.running_var + bn.eps).sqrt()
    expected = gap[alive].abs().mean()
    for batch_size in (1, 3, 7):
        got = first_batchnorm_gap(
            model, images, preprocessing=pre, batch_size=batch_size
        )
        assert got == pytest.approx(float(expected), rel=1e-4)
