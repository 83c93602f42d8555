"""Your own images, end to end: add photos, the cached probe, predict, export."""

from __future__ import annotations

import datetime
import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_image_folder
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from tlbook import get_config
from tlbook.cli import main
from tlbook.data import image_files, load_image_folder, load_splits
from tlbook.errors import ConfigError, DataError, ImageError
from tlbook.images import decode_image
from tlbook.prediction import load_run, predict
from tlbook.probe import features, fit_head, train_probe
from tlbook.train import evaluate
from tlbook.uploads import add_photos, class_name, save_photos, uploaded_files


def _jpeg(
    seed: int = 0, size: tuple[int, int] = (48, 32), orientation: int = 1
) -> bytes:
    """A JPEG with a gradient (so a turn shows) and, if ``orientation`` != 1, that EXIF tag."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    pixels[..., 1] = rng.integers(0, 255)
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(pixels).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


# --- adding photos ------------------------------------------------------------------------


def _v8_value(files: dict[str, bytes]) -> tuple[dict, ...]:
    """ipywidgets 8's FileUpload.value: one dict per file, content a memoryview."""
    return tuple(
        {
            "name": name,
            "type": "image/jpeg",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2026, 1, 1),
        }
        for name, data in files.items()
    )


def _v7_value(files: dict[str, bytes]) -> dict[str, dict]:
    """ipywidgets 7's FileUpload.value: a dict keyed by file name."""
    return {
        name: {
            "metadata": {"name": name, "type": "image/jpeg", "size": len(data)},
            "content": data,
        }
        for name, data in files.items()
    }


def test_the_upload_control_puts_photos_in_their_class_folders(tmp_path):
    control = add_photos(tmp_path / "photos")
    (name, chooser, button), status = control.children[0].children, control.children[1]
    for label, seeds in (("cat", [0, 1]), ("dog", [2])):
        chooser.set_trait("value", _v8_value({f"IMG_{s}.jpg": _jpeg(s) for s in seeds}))
        name.value = label
        button.click()
        assert status.value.startswith(f"added {len(seeds)} photos")
        assert chooser.value == ()  # cleared for the next class
    found = sorted(
        p.relative_to(tmp_path / "photos").as_posix()
        for p in (tmp_path / "photos").rglob("*")
    )
    assert found == ["cat", "cat/IMG_0.jpg", "cat/IMG_1.jpg", "dog", "dog/IMG_2.jpg"]


@pytest.mark.parametrize(
    "value", [_v8_value, _v7_value, dict], ids=["ipywidgets 8", "ipywidgets 7", "colab"]
)
def test_every_upload_format_gives_the_same_files(value, tmp_path):
    files = {"a.jpg": _jpeg(0), "b.jpg": _jpeg(1)}
    assert uploaded_files(value(files)) == sorted(files.items())
    saved = save_photos(uploaded_files(value(files)), tmp_path, "cat")
    assert [p.name for p in saved] == ["a.jpg", "b.jpg"]


def test_the_upload_control_names_a_bad_file_and_adds_nothing(tmp_path):
    control = add_photos(tmp_path / "photos", "cat")
    (_, chooser, button), status = control.children[0].children, control.children[1]
    chooser.set_trait(
        "value", _v8_value({"good.jpg": _jpeg(), "notes.jpg": b"not a photo"})
    )
    button.click()
    assert status.value.startswith("not added: cannot read image notes.jpg")
    assert not (tmp_path / "photos" / "cat").exists() or not any(
        (tmp_path / "photos" / "cat").iterdir()
    )


def test_in_colab_the_file_chooser_of_colab_is_used(tmp_path, monkeypatch):
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(
        upload=lambda: {"big phone photo.jpg": _jpeg(3, (64, 40))}
    )
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    saved = add_photos(tmp_path / "photos", "rocket")
    assert [p.relative_to(tmp_path).as_posix() for p in saved] == [
        "photos/rocket/big_phone_photo.jpg"
    ]
    with pytest.raises(ConfigError, match="name the class"):
        add_photos(tmp_path / "photos")


def test_a_sideways_phone_photo_is_saved_upright(tmp_path):
    sideways = _jpeg(
        0, (48, 32), orientation=6
    )  # stored 48 wide, to be shown turned: 32 wide
    [path] = save_photos([("phone.jpg", sideways)], tmp_path, "cat")
    expected = np.asarray(
        ImageOps.exif_transpose(Image.open(io.BytesIO(sideways))).convert("RGB")
    )
    saved = np.asarray(Image.open(path))
    assert saved.shape == expected.shape == (48, 32, 3)
    assert np.abs(saved.astype(int) - expected).mean() < 3  # one more JPEG round trip
    assert np.array_equal(decode_image(sideways, storage_size=None), expected)


def test_names_never_collide_and_any_mode_becomes_rgb(tmp_path):
    buf = io.BytesIO()
    Image.new("LA", (20, 20)).save(buf, "PNG")
    first = save_photos([("a.png", buf.getvalue())], tmp_path, "x")
    second = save_photos([("a.png", buf.getvalue())], tmp_path, "x")
    assert [p.name for p in first + second] == ["a.jpg", "a-2.jpg"]
    assert Image.open(second[0]).mode == "RGB"


@given(st.text(max_size=40))
def test_a_class_name_is_one_visible_folder_inside_the_root_or_refused(label):
    try:
        name = class_name(label)
    except ConfigError as e:
        assert "class name" in str(e)
        return
    root = Path("/root-of-photos")
    assert (root / name).parent == root and not name.startswith(".")
    assert name == label.strip() and name and "\x00" not in name


def test_no_photos_is_an_error_not_an_empty_class(tmp_path):
    with pytest.raises(DataError, match="no photos"):
        save_photos([], tmp_path, "cat")


# --- the cached probe ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Three easy classes, 16 PNGs each: a stand-in for a reader's photos."""
    return make_image_folder(
        tmp_path_factory.mktemp("own") / "photos", per_class=16, seed=3
    )


def _smoke(folder: Path):
    return get_config(
        "smoke", data=str(folder), train_per_class=8, val_per_class=4, test_per_class=4
    )


def test_the_cached_probe_learns_what_the_uncached_probe_learns(photos):
    from tlbook.anatomy import extract_features
    from tlbook.backbones import create_model, preprocessing_for

    cfg = _smoke(photos)
    train, val, test = load_splits(
        data=photos, train_per_class=8, val_per_class=4, test_per_class=4, seed=0
    )
    model = create_model("efficientnet_lite0", num_classes=3).eval()
    pre = preprocessing_for("efficientnet_lite0", cfg.image_size)
    cached = features(model, "efficientnet_lite0", train, preprocessing=pre)
    calls = 0

    def uncached() -> torch.Tensor:  # the backbone over every image at every step
        nonlocal calls
        calls += 1
        return extract_features(
            model, "efficientnet_lite0", train.images, preprocessing=pre
        )

    a = fit_head(cached, train.labels, num_classes=3, weight_decay=1e-2, max_iter=30)
    b = fit_head(uncached, train.labels, num_classes=3, weight_decay=1e-2, max_iter=30)
    assert calls > 10  # it really recomputed
    f_test = features(model, "efficientnet_lite0", test, preprocessing=pre)
    # Same arithmetic on the same features: same predictions on every test image (tolerance: none).
    assert torch.equal(a(f_test).argmax(1), b(f_test).argmax(1))
    assert torch.allclose(a.weight, b.weight, atol=1e-4)


@given(
    n=st.integers(2, 8),
    d=st.integers(1, 5),
    k=st.integers(2, 4),
    weight_decay=st.sampled_from([1e-3, 1e-2, 1e-1, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_the_head_is_l2_regularised_softmax_regression_as_scikit_learn_fits_it(
    n, d, k, weight_decay, seed
):
    """Same objective as scikit-learn's LogisticRegression on standardised features: C = 1 / (wd * N);
    with two classes scikit-learn fits one vector w = w1 - w0, whose penalty is half of ours: C doubles."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(seed)
    x = (
        torch.randn(n * k, d, generator=g, dtype=torch.float64).float() * 3 + 1
    )  # (N, D)
    y = torch.arange(k).repeat(n)  # every class present
    x += torch.randn(k, d, generator=g)[y]  # class means apart a little
    head = fit_head(x, y, num_classes=k, weight_decay=weight_decay)
    z = ((x - x.mean(0)) / (x.std(0) + 1e-6)).double().numpy()
    c = (2 if k == 2 else 1) / (weight_decay * len(y))
    reference = LogisticRegression(C=c, tol=1e-10, max_iter=10_000)
    reference.fit(z, y.numpy())
    with torch.no_grad():
        ours = head(x).softmax(1).numpy()
    assert np.abs(ours - reference.predict_proba(z)).max() < 2e-3


def test_features_are_kept_and_a_changed_image_is_not_read_stale(photos, tmp_path):
    from tlbook.backbones import create_model, preprocessing_for

    train = load_image_folder(photos, max_per_class=2)
    model = create_model("efficientnet_lite0", num_classes=3).eval()
    pre = preprocessing_for("efficientnet_lite0", 32)
    first = features(
        model, "efficientnet_lite0", train, preprocessing=pre, cache_dir=tmp_path
    )
    assert len(list(tmp_path.glob("features-*.pt"))) == 1
    again = features(
        model, "efficientnet_lite0", train, preprocessing=pre, cache_dir=tmp_path
    )
    assert torch.equal(first, again)
    train.images[0, :, :4] = 255  # one photo changed
    features(model, "efficientnet_lite0", train, preprocessing=pre, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("features-*.pt"))) == 2


def test_the_probe_chooses_on_validation_and_needs_it(photos):
    cfg = _smoke(photos)
    data = load_splits(
        data=photos, train_per_class=8, val_per_class=4, test_per_class=4, seed=0
    )
    result = train_probe(cfg, data=data, weight_decays=(1e-3, 1.0))
    assert set(result.val_accuracy) == {1e-3, 1.0}
    best = max(result.val_accuracy.values())
    # the best on validation; among equals the strongest L2
    assert result.weight_decay == max(
        wd for wd, acc in result.val_accuracy.items() if acc == best
    )
    with pytest.raises(ConfigError, match="validation"):
        train_probe(cfg, data=(data[0], None, data[2]))


def test_the_probe_strategy_is_the_cached_probe_as_a_run(photos, tmp_path):
    """``run(strategy="probe")`` and ``tlbook train --strategy probe`` are train_probe, as a run."""
    from tlbook import schemas
    from tlbook.backbones import get_head
    from tlbook.experiment import run, train_strategy
    from tlbook.files import validate

    cfg = _smoke(photos).replace(image_size=64)
    data = load_splits(
        data=photos, train_per_class=8, val_per_class=4, test_per_class=4, seed=0
    )
    direct = train_probe(cfg, data=data)
    result = run(cfg, strategy="probe", data=data)
    assert torch.equal(result.test.predictions, direct.test.predictions)
    assert result.recipe is None and result.history.epochs == []
    assert result.probe is not None and result.probe.weight_decay == direct.weight_decay
    head = get_head(result.model, cfg.backbone)
    assert result.trainable_parameters == sum(p.numel() for p in head.parameters())
    metrics = result.metrics()
    as_json = json.loads(json.dumps(metrics))
    validate(
        as_json, schemas.METRICS, what="metrics"
    )  # what `evaluate` and `predict` read
    assert metrics["strategy"] == "probe"
    with pytest.raises(ValueError, match="do not apply"):
        run(cfg, strategy="probe", data=data, bn_eval=False)
    with pytest.raises(ValueError, match="no epochs"):
        train_strategy(
            cfg, "probe", *data[:2], recipe=None, preprocessing=None, device="cpu"
        )  # type: ignore[arg-type]
    out = tmp_path / "run"
    args = ["train", "--preset", "smoke", "--data", str(photos), "--per-class", "8"]
    args += ["--val-per-class", "4", "--test-per-class", "4", "--image-size", "64"]
    assert main(args + ["--strategy", "probe", "--out", str(out)]) == 0
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["strategy"] == "probe"
    assert saved["test"]["accuracy"] == direct.test.accuracy
    assert [p.classes[0] for p in predict([image_files(photos / "circle")[0]], out)]


# --- a run on the command line: probe, predict, export -----------------------------------


@pytest.fixture(scope="module")
def run_folder(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "mine"
    args = ["probe", "--preset", "smoke", "--data", str(photos), "--per-class", "8"]
    args += [
        "--val-per-class",
        "4",
        "--test-per-class",
        "4",
        "--image-size",
        "64",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    return out


def test_predict_agrees_with_evaluate_and_its_probabilities_sum_to_one(
    run_folder, photos, tmp_path
):
    trained = load_run(run_folder)
    folder = load_image_folder(photos)
    ev = evaluate(trained.model, folder, preprocessing=trained.preprocessing)
    files = [f for c in folder.classes for f in image_files(photos / c)]
    got = predict(files, run_folder, top=3)
    assert [p.classes[0] for p in got] == [
        folder.classes[i] for i in ev.predictions.tolist()
    ]
    assert all(abs(sum(p.probabilities) - 1) < 1e-5 for p in got)
    out = tmp_path / "p.json"
    assert (
        main(["predict", str(files[0]), "--run", str(run_folder), "--json", str(out)])
        == 0
    )
    saved = json.loads(out.read_text())
    assert saved[0]["top"][0]["class"] == got[0].classes[0]


def _fails(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_predict_refuses_what_it_cannot_use(run_folder, tmp_path, capsys):
    (tmp_path / "notes.jpg").write_text("not an image")
    assert "notes.jpg" in _fails(
        ["predict", str(tmp_path / "notes.jpg"), "--run", str(run_folder)], capsys
    )
    missing = _fails(
        ["predict", str(tmp_path / "gone.jpg"), "--run", str(run_folder)], capsys
    )
    assert "gone.jpg does not exist" in missing
    assert "is a folder" in _fails(
        ["predict", str(tmp_path), "--run", str(run_folder)], capsys
    )
    photo = tmp_path / "a.jpg"
    photo.write_bytes(_jpeg())
    empty = tmp_path / "empty-run"
    empty.mkdir()
    assert "model.pt" in _fails(["predict", str(photo), "--run", str(empty)], capsys)
    # model.pt of this run beside the metrics of a run made for other classes
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "model.pt").write_bytes((run_folder / "model.pt").read_bytes())
    metrics = json.loads((run_folder / "metrics.json").read_text())
    metrics["test"]["per_class_accuracy"] = {"apple": 1.0, "pear": 1.0, "plum": 1.0}
    (other / "metrics.json").write_text(json.dumps(metrics))
    assert "different runs" in _fails(
        ["predict", str(photo), "--run", str(other)], capsys
    )


def test_the_exported_model_agrees_with_pytorch_on_real_images(
    run_folder, photos, tmp_path, capsys
):
    import onnxruntime as ort

    out = tmp_path / "export"
    assert (
        main(
            [
                "export",
                "--run",
                str(run_folder),
                "--out",
                str(out),
                "--check-with",
                str(photos),
            ]
        )
        == 0
    )
    info = json.loads((out / "model.json").read_text())
    assert info["check"]["kind"] == "given images" and info["check"]["same_top1"]
    # Independently of the export's own check: the test photos, through ONNX Runtime and PyTorch.
    trained = load_run(run_folder)
    size = info["preprocessing"]["size"]
    images = load_image_folder(photos, storage_size=size).images  # (N, 3, size, size)
    session = ort.InferenceSession(
        str(out / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    theirs = torch.from_numpy(session.run(None, {"image": images.numpy()})[0])
    ours = evaluate(
        trained.model,
        load_image_folder(photos, storage_size=size),
        preprocessing=trained.preprocessing,
    )
    assert torch.equal(theirs.argmax(1), ours.predictions)
    assert torch.allclose(theirs.softmax(1), ours.probs, atol=1e-4)
    # Not over an existing export without --overwrite; with it, replaced whole.
    assert "already exists" in _fails(
        ["export", "--run", str(run_folder), "--out", str(out)], capsys
    )
    assert (
        main(["export", "--run", str(run_folder), "--out", str(out), "--overwrite"])
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.onnx"]


def test_a_failed_export_check_leaves_nothing(
    run_folder, tmp_path, monkeypatch, capsys
):
    import tlbook.export

    monkeypatch.setattr(tlbook.export, "TOLERANCE", -1.0)  # no file can pass
    err = _fails(
        ["export", "--run", str(run_folder), "--out", str(tmp_path / "x")], capsys
    )
    assert "disagrees" in err
    assert list(tmp_path.iterdir()) == []


def test_export_without_its_packages_names_the_extra(
    run_folder, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    err = _fails(
        ["export", "--run", str(run_folder), "--out", str(tmp_path / "x")], capsys
    )
    assert 'pip install "tlbook[export]"' in err and "onnxruntime" in err
    assert list(tmp_path.iterdir()) == []


def test_predict_with_an_image_that_is_not_one_names_it_in_python(run_folder):
    with pytest.raises(ImageError, match="photo 2"):
        predict([_jpeg(), b"\x89PNG broken"], run_folder)
