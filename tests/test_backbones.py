"""The backbone table, real ImageNet weights, heads, freezing and parameter groups."""

import urllib.error

import pytest
import torch
from skimage import data as skdata
from torch import nn

from tlbook.augment import preprocess
from tlbook.backbones import (
    BACKBONES,
    BackboneUnavailable,
    Preprocessing,
    count_parameters,
    create_model,
    freeze,
    get_head,
    get_spec,
    imagenet_categories,
    param_groups,
    preprocessing_for,
    set_bn_eval,
    unfreeze,
)


@pytest.fixture(scope="module")
def lite0_imagenet() -> nn.Module:
    return create_model("efficientnet_lite0", num_classes=None).eval()


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(
        ValueError,
        match="resnet50.*efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, resnet18",
    ):
        get_spec("resnet50")


@pytest.mark.parametrize("name", [n for n in sorted(BACKBONES) if "lite" in n])
def test_lite_weights_are_the_real_imagenet_ones(name):
    model = _pretrained_or_skip(name)
    pre = preprocessing_for(name)
    cat = torch.from_numpy(skdata.chelsea()).permute(2, 0, 1)[
        None
    ]  # (1, 3, H, W) uint8
    with torch.no_grad():
        top = (
            model(preprocess(cat, size=pre.size, mean=pre.mean, std=pre.std))
            .argmax(1)
            .item()
        )
    assert 281 <= top <= 285, (
        f"chelsea predicted as {top} ({imagenet_categories()[top]}), expected a cat (281-285)"
    )


def test_preprocessing_comes_from_the_weights():
    import timm
    from torchvision.models import ResNet18_Weights

    tv = ResNet18_Weights.IMAGENET1K_V1.transforms()
    assert preprocessing_for("resnet18") == Preprocessing(
        224, tuple(tv.mean), tuple(tv.std)
    )
    # The converted TensorFlow Lite0 weights: [-1, 1] inputs, as timm declares for the tf_ variant.
    tf = timm.models.get_pretrained_cfg("tf_efficientnet_lite0")
    assert preprocessing_for("efficientnet_lite0") == Preprocessing(
        224, tuple(tf.mean), tuple(tf.std)
    )
    assert preprocessing_for("efficientnet_lite0").mean == (0.5, 0.5, 0.5)
    assert preprocessing_for("efficientnet_lite0", 96).size == 96
    for spec in BACKBONES.values():
        assert spec.preprocessing_source and spec.architecture


def test_lite0_is_built_as_the_tensorflow_network_its_weights_come_from(lite0_imagenet):
    """TensorFlow "same" padding and BatchNorm eps 1e-3, like timm's tf_efficientnet_lite0."""
    assert lite0_imagenet.bn1.eps == pytest.approx(1e-3)
    assert (
        type(lite0_imagenet.conv_stem).__name__ == "Conv2dSame"
    )  # asymmetric padding, as in TensorFlow


def test_lite0_weights_are_more_confident_in_their_own_architecture(lite0_imagenet):
    """The symmetric-padding efficientnet_lite0 accepts the same tensors but predicts worse."""
    import timm

    other = timm.create_model("efficientnet_lite0").eval()
    other.load_state_dict(lite0_imagenet.state_dict())
    pre = preprocessing_for("efficientnet_lite0")
    photos = _photos()
    with torch.no_grad():
        x = preprocess(photos, size=pre.size, mean=pre.mean, std=pre.std)
        own = lite0_imagenet(x).softmax(1).max(1).values  # (4,)
        theirs = other(x).softmax(1).max(1).values  # (4,)
    assert (own > theirs).all(), (
        f"top-1 confidence {own.tolist()} (tf_) against {theirs.tolist()} (symmetric)"
    )


def _photos(size: int = 256) -> torch.Tensor:
    """Four real photographs shipped with scikit-image, as uint8 ``(4, 3, size, size)``."""
    import torch.nn.functional as F

    out = []
    for img in (skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()):
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
        out.append(
            F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)[0]
        )
    return torch.stack(out).round().clamp(0, 255).to(torch.uint8)


def _pretrained_or_skip(name: str) -> nn.Module:
    try:
        return create_model(name, num_classes=None).eval()
    except BackboneUnavailable as e:
        pytest.skip(f"{name}'s weights are not on this machine: {e}")


# What each backbone's weights must NOT be fed: the other common normalisation.
_WRONG = {
    **{
        f"efficientnet_lite{v}": Preprocessing(
            224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        )  # ImageNet mean/std
        for v in (0, 1, 2)
    },
    "resnet18": Preprocessing(
        224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    ),  # the source's Normalize(0.5)
}
# Tolerance on CIFAR-10 photographs: the declared preprocessing puts the batch mean of every channel of the
# first BatchNorm within 0.1 running standard deviations (on average) of the running mean; measured 0.02
# for EfficientNet-Lite0, against 0.21 with ImageNet mean/std.
GAP_TOLERANCE = 0.1


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_declared_preprocessing_matches_the_first_batchnorm_statistics(name, cifar):
    from tlbook.anatomy import first_batchnorm_gap
    from tlbook.data import load_split

    model = _pretrained_or_skip(name)
    images = load_split(
        "test", data=cifar, per_class=10
    ).images  # (100, 3, 32, 32) uint8
    right = first_batchnorm_gap(model, images, preprocessing=preprocessing_for(name))
    wrong = first_batchnorm_gap(model, images, preprocessing=_WRONG[name])
    assert right < GAP_TOLERANCE, (
        f"{name}: declared preprocessing leaves a gap of {right:.3f}"
    )
    assert wrong > GAP_TOLERANCE, (
        f"{name}: a wrong normalisation passes the check (gap {wrong:.3f})"
    )


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_declared_preprocessing_beats_the_other_normalisation_on_photographs(name):
    """Without CIFAR-10: on four photographs the declared preprocessing is the closer of the two."""
    from tlbook.anatomy import first_batchnorm_gap

    model = _pretrained_or_skip(name)
    right = first_batchnorm_gap(model, _photos(), preprocessing=preprocessing_for(name))
    wrong = first_batchnorm_gap(model, _photos(), preprocessing=_WRONG[name])
    assert right < wrong - 0.1, f"{name}: declared {right:.3f}, wrong {wrong:.3f}"


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_head_is_replaced_and_stages_cover_the_backbone(name):
    model = create_model(name, num_classes=7, pretrained=False)
    assert get_head(model, name).out_features == 7
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
    spec = get_spec(name)
    covered = {spec.head, *(m for stage in spec.stages for m in stage)}
    for pname, _ in model.named_parameters():
        assert any(pname.startswith(m + ".") for m in covered), (
            f"{pname} belongs to no stage of {name}"
        )


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_freeze_keeps_batchnorm_in_eval_even_after_train(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, pretrained=False)
    freeze(model, name)
    assert count_parameters(model, trainable_only=True) == sum(
        p.numel() for p in get_head(model, name).parameters()
    )
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    x = torch.randn(4, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    set_bn_eval(model.train())  # what fit does at the start of every epoch
    assert not bn.training, "a frozen BatchNorm layer is in eval mode after set_bn_eval"
    assert get_head(model, name).training, "the head trains"
    with torch.no_grad():
        got = model(x)
    assert torch.equal(bn.running_mean, before), (
        "running statistics of a frozen layer changed"
    )
    assert torch.allclose(got, expected, atol=1e-5), (
        "frozen backbone normalised with batch statistics"
    )


def test_freezing_parameters_only_is_the_batchnorm_trap():
    model = create_model("efficientnet_lite0", num_classes=3, pretrained=False)
    freeze(model, "efficientnet_lite0")  # parameters frozen, set_bn_eval not called
    bn = model.bn1
    before = bn.running_mean.clone()
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 64, 64) + 3)
    assert not torch.equal(bn.running_mean, before)


def test_partial_freeze_and_unfreeze():
    model = create_model("resnet18", num_classes=3, pretrained=False)
    freeze(model, "resnet18", train_stages=1)
    trainable = {
        n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad
    }
    assert trainable == {"layer4", "fc"}
    unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert all(m.training for m in model.modules()), (
        "unfrozen BatchNorm layers train again"
    )
    with pytest.raises(ValueError, match="train_stages"):
        freeze(model, "resnet18", train_stages=9)


def test_discriminative_param_groups():
    model = create_model("efficientnet_lite0", num_classes=10, pretrained=False)
    groups = param_groups(
        model, "efficientnet_lite0", lr=1e-2, backbone_lr_scale=0.1, weight_decay=0.05
    )
    head = {id(p) for p in model.classifier.parameters()}
    for g in groups:
        is_head = all(id(p) in head for p in g["params"])
        assert g["lr"] == (1e-2 if is_head else 1e-3)
        assert g["weight_decay"] == (0.05 if g["params"][0].ndim > 1 else 0.0)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_resnet18_offline_message_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(BackboneUnavailable) as e:
        create_model("resnet18", num_classes=10)
    msg = str(e.value)
    assert (
        "resnet18-f37072fd.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    )
    assert "efficientnet_lite0" in msg


@pytest.mark.network
def test_resnet18_downloads():
    model = create_model("resnet18", num_classes=10)
    assert get_head(model, "resnet18").out_features == 10


def test_layer_wise_param_groups_decay_geometrically_from_head_to_stem():
    model = create_model("efficientnet_lite0", num_classes=10, pretrained=False)
    spec = get_spec("efficientnet_lite0")
    groups = param_groups(model, "efficientnet_lite0", lr=1e-2, layer_decay=0.75)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    n = len(spec.stages)
    for j, stage in enumerate(spec.stages):
        for module in stage:
            for p in model.get_submodule(module).parameters():
                assert lr_of[id(p)] == pytest.approx(1e-2 * 0.75 ** (n - j))
    assert all(lr_of[id(p)] == 1e-2 for p in model.classifier.parameters())
    assert len(lr_of) == len(list(model.parameters())), (
        "every parameter is in exactly one group"
    )
    # Frozen stages are left out; the decay still counts from the head.
    freeze(model, "efficientnet_lite0", train_stages=1)
    trained = param_groups(model, "efficientnet_lite0", lr=1e-2, layer_decay=0.75)
    assert sorted({round(g["lr"], 8) for g in trained}) == [round(1e-2 * 0.75, 8), 1e-2]
