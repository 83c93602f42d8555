"""Loading images into memory, stratified subsets, and every kind of bad input."""

import urllib.error

import numpy as np
import pytest
import torch
from conftest import CLASSES, make_image_folder
from PIL import Image

from tlbook import data as tldata
from tlbook.data import (
    ImageSet,
    load_image_folder,
    load_split,
    load_splits,
    stratified_indices,
)
from tlbook.errors import DataError


def test_folder_loads_as_uint8_tensor(image_folder):
    ds = load_image_folder(image_folder, storage_size=None)
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (18, 3, 32, 32)
    assert ds.classes == CLASSES and ds.counts() == [6, 6, 6]


def test_stratified_subsets_are_exact_and_seeded():
    labels = torch.arange(10).repeat_interleave(20)  # 10 classes x 20
    idx = stratified_indices(labels, 7, seed=3)
    assert torch.bincount(labels[idx]).tolist() == [7] * 10
    assert torch.equal(idx, stratified_indices(labels, 7, seed=3))
    assert not torch.equal(idx, stratified_indices(labels, 7, seed=4))
    # Smaller subsets are nested in larger ones (same seed): data-efficiency curves rely on it.
    assert set(stratified_indices(labels, 3, seed=3).tolist()) <= set(idx.tolist())


def test_too_many_per_class_names_the_class(image_folder):
    with pytest.raises(DataError, match="class 'circle' has 6 images.*10 per class"):
        load_image_folder(image_folder, max_per_class=10)


def test_max_per_class_decodes_a_sample(image_folder):
    ds = load_image_folder(image_folder, storage_size=None, max_per_class=2, seed=1)
    assert ds.counts() == [2, 2, 2]


def test_missing_folder_says_how_to_set_the_data(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*TLBOOK_DATA"):
        load_image_folder(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path / "empty")


def test_class_folder_without_images_is_named(image_folder):
    (image_folder / "zebra").mkdir()
    (image_folder / "zebra" / "notes.txt").write_text("no pictures here")
    with pytest.raises(DataError, match=r"zebra has no images"):
        load_image_folder(image_folder)


def test_corrupt_file_is_named(image_folder):
    bad = image_folder / "circle" / "0003.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"0003\.png"):
        load_image_folder(image_folder, storage_size=None)


def test_truncated_file_is_named(image_folder):
    path = image_folder / "square" / "big.jpg"
    Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    ).save(path, quality=95)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"big\.jpg"):
        load_image_folder(image_folder, storage_size=None)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "I;16"])
def test_other_colour_modes_become_rgb(tmp_path, mode):
    root = tmp_path / "modes"
    (root / "a").mkdir(parents=True)
    rgb = Image.fromarray(
        np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    )
    img = rgb.convert(mode) if mode != "I;16" else rgb.convert("L").convert("I;16")
    img.save(root / "a" / ("x.tif" if mode in ("CMYK", "I;16") else "x.png"))
    ds = load_image_folder(root, storage_size=16)
    assert ds.images.shape == (1, 3, 16, 16)


def test_transparent_pixels_become_white(tmp_path):
    root = tmp_path / "alpha"
    (root / "a").mkdir(parents=True)
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(root / "a" / "x.png")
    assert int(load_image_folder(root, storage_size=None).images.min()) == 255


def test_large_photos_are_resized_once_to_the_storage_size(tmp_path):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (640, 480), (10, 20, 30)).save(root / "a" / "wide.jpg")
    Image.new("RGB", (300, 900), (10, 20, 30)).save(root / "a" / "tall.jpg")
    ds = load_image_folder(root)  # default storage size
    assert ds.images.shape == (
        2,
        3,
        tldata.DEFAULT_STORAGE_SIZE,
        tldata.DEFAULT_STORAGE_SIZE,
    )


def test_small_non_square_photos_are_centre_cropped_not_stretched(tmp_path):
    """All photos 60x30 (small, one size): still resized, with a centre crop, so a circle stays a circle."""
    for split in ("train", "test"):
        (tmp_path / split / "a").mkdir(parents=True)
        (tmp_path / split / "b").mkdir(parents=True)
        for c in ("a", "b"):
            img = np.zeros((30, 60, 3), dtype=np.uint8)  # (H, W, 3): a wide photo
            img[:, 15:45] = (
                255  # a white square in the middle, black bands left and right
            )
            Image.fromarray(img).save(tmp_path / split / c / "wide.png")
    train, _, _ = load_splits(
        data=tmp_path, train_per_class=1, val_per_class=0, test_per_class=1
    )
    s = tldata.DEFAULT_STORAGE_SIZE
    assert train.images.shape[-2:] == (s, s)
    assert int(train.images[0, 0, s // 2, 2]) > 200, (
        "the centre crop keeps the white middle; a stretch would not"
    )


def test_mixed_sizes_without_storage_size_are_refused(tmp_path):
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(root / "a" / "1.png")
    Image.new("RGB", (40, 32)).save(root / "a" / "2.png")
    with pytest.raises(DataError, match="storage_size"):
        load_image_folder(root, storage_size=None)


def test_not_enough_memory_is_said_before_decoding(image_folder, monkeypatch):
    monkeypatch.setattr(tldata, "_available_memory", lambda: 1000)
    with pytest.raises(
        DataError, match=r"need .* GiB.*smaller storage_size or max_per_class"
    ):
        load_image_folder(image_folder)


def test_splits_are_disjoint_and_validation_is_stable(dataset_root):
    train, val, test = load_splits(
        data=dataset_root, train_per_class=5, val_per_class=3, test_per_class=2
    )
    assert (
        train.counts() == [5] * 3
        and val.counts() == [3] * 3
        and test.counts() == [2] * 3
    )
    rows = {tuple(x.flatten().tolist()) for x in train.images}
    assert not rows & {tuple(x.flatten().tolist()) for x in val.images}
    _, val2, _ = load_splits(
        data=dataset_root, train_per_class=8, val_per_class=3, test_per_class=2
    )
    assert torch.equal(val.images, val2.images)


def test_data_folder_without_splits(image_folder):
    with pytest.raises(DataError, match=r"train.*does not exist.*train/ and test/"):
        load_split("train", data=image_folder)


def test_no_network_and_no_data_says_how_to_set_the_location(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataError, match=r"could not be downloaded.*TLBOOK_DATA"):
        load_split("test", data=None, cache=tmp_path)


def test_image_set_checks_its_shape():
    with pytest.raises(DataError, match="uint8"):
        ImageSet(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), ["a"])


@pytest.mark.data
def test_offline_cifar10_folder(cifar):
    test = load_split("test", data=cifar, per_class=3)
    assert test.classes == tldata.CIFAR10_CLASSES
    assert test.images.shape == (30, 3, 32, 32)


@pytest.mark.network
def test_cifar10_download(tmp_path):
    ds = load_split("test", data=None, cache=tmp_path, per_class=2)
    assert ds.classes == tldata.CIFAR10_CLASSES


def test_a_single_folder_of_your_own_photos_is_split(tmp_path):
    root = make_image_folder(tmp_path / "mine", per_class=10, fmt="jpg")
    # One photo of another size, as a phone would make it: every split is then stored at 256 px.
    Image.new("RGB", (300, 200), (200, 10, 10)).save(root / "circle" / "0000.jpg")
    train, val, test = load_splits(
        data=root, train_per_class=6, val_per_class=2, test_per_class=None
    )
    assert test.counts() == [2, 2, 2]  # a fifth of the smallest class (10 images)
    assert val.counts() == [2, 2, 2] and train.counts() == [6, 6, 6]
    for split in (train, val, test):
        assert split.images.shape[-1] == tldata.DEFAULT_STORAGE_SIZE
    with pytest.raises(
        DataError, match=r"training images \(from .*mine\).*class 'circle' has 6"
    ):
        load_splits(data=root, train_per_class=8, val_per_class=2, test_per_class=2)


def test_uniform_small_images_keep_their_size(dataset_root):
    train, _, _ = load_splits(
        data=dataset_root, train_per_class=2, val_per_class=1, test_per_class=1
    )
    assert train.images.shape[-2:] == (32, 32)
