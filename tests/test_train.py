"""fit, evaluate and checkpoints, on tiny data."""

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from tlbook.augment import NO_AUGMENT, SOURCE_AUGMENT
from tlbook.backbones import create_model, preprocessing_for
from tlbook.checkpoints import load_checkpoint, save_checkpoint
from tlbook.data import ImageSet, load_image_folder
from tlbook.errors import CheckpointMismatch
from tlbook.files import write_json_atomic
from tlbook.train import (
    Recipe,
    evaluate,
    fit,
    lr_factor,
    predict_logits,
    steps_per_epoch,
)

PRE = preprocessing_for("efficientnet_lite0", 32)


@pytest.fixture
def tiny(image_folder):
    return load_image_folder(image_folder, storage_size=None)


def test_one_batch_overfits(tiny):
    torch.manual_seed(0)
    batch = tiny.subset(torch.arange(0, 18, 3))  # 6 images, 2 per class
    model = tiny_model(pretrained=True)
    recipe = Recipe(
        epochs=25,
        batch_size=6,
        lr=3e-3,
        schedule="constant",
        label_smoothing=0.0,
        weight_decay=0.0,
        augment=NO_AUGMENT,
    )
    history = fit(model, batch, preprocessing=PRE, recipe=recipe)
    assert history.epochs[-1].train_loss < 0.05 * history.epochs[0].train_loss
    # Memorised: at most one of the six images may still be wrong where arithmetic differs between platforms.
    assert history.epochs[-1].train_accuracy >= 5 / 6


def test_same_seed_same_weights(tiny):
    def train_once():
        torch.manual_seed(0)
        model = tiny_model()
        fit(
            model,
            tiny,
            preprocessing=PRE,
            recipe=Recipe(epochs=1, batch_size=6),
            seed=5,
        )
        return model.state_dict()

    a, b = train_once(), train_once()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_history_and_best_epoch_restored(tiny):
    torch.manual_seed(0)
    model = tiny_model(pretrained=True)
    h = fit(
        model,
        tiny,
        tiny,
        preprocessing=PRE,
        recipe=Recipe(epochs=3, batch_size=9, lr=3e-3),
    )
    assert [e.epoch for e in h.epochs] == [1, 2, 3]
    best = max(h.epochs, key=lambda e: e.val_accuracy)
    assert h.best_epoch == best.epoch
    assert evaluate(model, tiny, preprocessing=PRE).accuracy == pytest.approx(
        best.val_accuracy
    )
    json.dumps(h.to_dict())  # JSON-ready


def test_schedules():
    r = Recipe(schedule="warmup_cosine", warmup=0.1)
    factors = [lr_factor(s, 100, r) for s in range(100)]
    assert (
        max(factors) == pytest.approx(1.0) and factors[0] < 0.2 and factors[-1] < 0.01
    )
    assert lr_factor(50, 100, Recipe(schedule="constant")) == 1.0


# Recipe values outside their declared domain: tests/test_defences.py generates them.


def test_sgd_like_the_source(tiny):
    model = tiny_model()
    recipe = Recipe(
        epochs=1,
        batch_size=100,
        optimizer="sgd",
        lr=1e-3,
        momentum=0.9,
        schedule="constant",
        label_smoothing=0.0,
        weight_decay=0.0,
        augment=SOURCE_AUGMENT,
    )
    made = []
    real_sgd = torch.optim.SGD
    torch.optim.SGD = lambda groups, **kw: made.append(kw) or real_sgd(groups, **kw)  # type: ignore[assignment]
    try:
        before = [p.detach().clone() for p in model.parameters()]
        h = fit(model, tiny, preprocessing=PRE, recipe=recipe)
    finally:
        torch.optim.SGD = real_sgd
    assert made == [{"momentum": 0.9}], (
        "plain SGD with momentum, as the source writes it"
    )
    assert h.epochs[0].lr == pytest.approx(1e-3), (
        "a constant rate: still the peak at the end"
    )
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), (
        "the step changed the weights"
    )


def test_batch_of_one_is_never_trained_on(tiny):
    # 7 images in batches of 3: the last batch (one image) is dropped, so ResNet-18's
    # 1x1 feature map at 32 px never meets BatchNorm with a single sample (which would raise).
    model = create_model("resnet18", num_classes=3, pretrained=False)
    seen = []
    model.fc.register_forward_hook(
        lambda m, inputs, out: seen.append(len(inputs[0])) if m.training else None
    )
    fit(
        model,
        tiny.subset(torch.arange(7)),
        preprocessing=PRE,
        recipe=Recipe(epochs=1, batch_size=3),
    )
    assert seen == [3, 3], (
        f"training batch sizes {seen}: the last image alone is dropped"
    )


def test_evaluate_summaries(tiny):
    torch.manual_seed(0)
    model = tiny_model()
    ev = evaluate(model, tiny, preprocessing=PRE)
    assert ev.confusion.sum() == len(tiny) and ev.confusion.shape == (3, 3)
    assert ev.accuracy == pytest.approx(ev.confusion.diag().sum().item() / len(tiny))
    assert torch.allclose(ev.probs.sum(1), torch.ones(len(tiny)))
    assert len(ev.per_class_accuracy) == 3
    again = evaluate(model, tiny, preprocessing=PRE)
    assert torch.equal(ev.probs, again.probs), "evaluation must be deterministic"
    # Flip test-time augmentation averages the logits of each image and of its mirror image.
    flipped = evaluate(model, tiny, preprocessing=PRE, hflip_tta=True)
    mirrored = ImageSet(tiny.images.flip(-1), tiny.labels, tiny.classes)
    logits = predict_logits(model.eval(), tiny.images, preprocessing=PRE)
    logits_mirrored = predict_logits(model, mirrored.images, preprocessing=PRE)
    expected = ((logits + logits_mirrored) / 2).softmax(1)
    assert torch.allclose(flipped.probs, expected, atol=1e-5)
    assert not torch.allclose(flipped.probs, ev.probs, atol=1e-5), (
        "the mirror images change the average"
    )


def test_source_style_evaluation_depends_on_the_seed(tiny):
    torch.manual_seed(0)
    model = tiny_model(pretrained=True)
    a = evaluate(model, tiny, preprocessing=PRE, augment=SOURCE_AUGMENT, seed=0)
    b = evaluate(model, tiny, preprocessing=PRE, augment=SOURCE_AUGMENT, seed=1)
    assert not torch.equal(a.probs, b.probs)


def test_checkpoint_round_trip(tmp_path):
    model = tiny_model().eval()
    save_checkpoint(
        tmp_path / "m.pt",
        model,
        backbone="efficientnet_lite0",
        classes=["a", "b", "c"],
        meta={"x": 1},
    )
    loaded, payload = load_checkpoint(
        tmp_path / "m.pt", backbone="efficientnet_lite0", num_classes=3
    )
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))
    assert payload["classes"] == ["a", "b", "c"] and payload["meta"] == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_checkpoint_for_another_backbone_or_class_count_is_refused(tmp_path):
    model = tiny_model()
    save_checkpoint(
        tmp_path / "m.pt", model, backbone="efficientnet_lite0", classes=["a", "b", "c"]
    )
    with pytest.raises(
        CheckpointMismatch, match="'efficientnet_lite0'.*not 'resnet18'"
    ):
        load_checkpoint(tmp_path / "m.pt", backbone="resnet18")
    with pytest.raises(CheckpointMismatch, match="3 classes.*10 were asked"):
        load_checkpoint(tmp_path / "m.pt", num_classes=10)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatch, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="train first"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_of_the_old_symmetric_padding_lite0_is_refused(tmp_path):
    """Before tlbook built tf_efficientnet_lite0, the same name meant another network with the same shapes."""
    model = tiny_model()
    save_checkpoint(
        tmp_path / "m.pt", model, backbone="efficientnet_lite0", classes=["a", "b", "c"]
    )
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert payload["architecture"] == "timm tf_efficientnet_lite0"
    del payload["architecture"]  # as written by earlier versions
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(
        CheckpointMismatch,
        match="timm efficientnet_lite0.*tf_efficientnet_lite0.*train a new",
    ):
        load_checkpoint(tmp_path / "old.pt")


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    model = tiny_model()

    def broken(obj, f, *a, **k):
        Path(f).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(
            tmp_path / "m.pt",
            model,
            backbone="efficientnet_lite0",
            classes=["a", "b", "c"],
        )
    assert list(tmp_path.iterdir()) == []

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "metrics.json", {"x": Unserialisable()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)]
)
def test_mixed_precision_picks_bfloat16_only_where_the_gpu_has_it(
    monkeypatch, bf16, expected
):
    """A T4 has no bfloat16: float16 then (with a gradient scaler in fit). Faked: no GPU is needed."""
    from tlbook.devices import autocast_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert autocast_dtype(torch.device("cuda")) == expected
    assert autocast_dtype(torch.device("cpu")) is None


def test_float16_training_uses_a_gradient_scaler(tiny, monkeypatch):
    """fit's float16 path (a T4's), run on the CPU by faking the capability check."""
    import tlbook.train as train_module

    monkeypatch.setattr(train_module, "autocast_dtype", lambda device: torch.float16)
    made = []
    real = torch.amp.GradScaler

    def spy(*args, **kwargs):
        made.append(kwargs.get("enabled"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.amp, "GradScaler", spy)
    model = tiny_model()
    h = fit(
        model, tiny, preprocessing=PRE, recipe=Recipe(epochs=1, batch_size=9, lr=1e-3)
    )
    assert made == [True]
    assert math.isfinite(h.epochs[0].train_loss)


def test_progress_bar_counts_batches_and_is_silent_when_off(tiny, capsys):
    model = tiny_model()
    fit(model, tiny, preprocessing=PRE, recipe=Recipe(epochs=1, batch_size=9, lr=1e-3))
    assert capsys.readouterr().err == ""
    fit(
        model,
        tiny,
        preprocessing=PRE,
        recipe=Recipe(epochs=2, batch_size=9, lr=1e-3),
        progress=True,
    )
    err = capsys.readouterr().err
    steps = 2 * steps_per_epoch(len(tiny), 9)
    assert f"{steps}/{steps}" in err and "batch" in err


_EVAL_MODEL = tiny_model(pretrained=True).eval()


@settings(max_examples=15, deadline=None)
@given(
    batch_size=st.integers(1, 12),
    n=st.integers(1, 12),
    seed=st.integers(0, 2**16),
)
def test_evaluation_batch_changes_no_prediction(batch_size, n, seed):
    """In eval mode each image is scored on its own: any batch gives the same logits (up to rounding)."""
    images = torch.randint(
        0,
        256,
        (n, 3, 16, 16),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(seed),
    )
    ref = predict_logits(_EVAL_MODEL, images, preprocessing=PRE, batch_size=n)
    got = predict_logits(_EVAL_MODEL, images, preprocessing=PRE, batch_size=batch_size)
    assert torch.allclose(got, ref, atol=1e-4)
    assert torch.allclose(
        predict_logits(_EVAL_MODEL, images, preprocessing=PRE), ref, atol=1e-4
    )


def test_train_mode_evaluation_needs_its_batch_size(tiny):
    """In train mode BatchNorm normalises with each batch's statistics: the batch must be given."""
    model = tiny_model().train()
    with pytest.raises(ValueError, match="batch_size"):
        predict_logits(model, tiny.images[:4], preprocessing=PRE)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, tiny, preprocessing=PRE, train_mode=True)
    four = evaluate(model, tiny, preprocessing=PRE, train_mode=True, batch_size=4)
    eighteen = evaluate(model, tiny, preprocessing=PRE, train_mode=True, batch_size=18)
    assert not torch.allclose(four.probs, eighteen.probs)  # why it must be given
