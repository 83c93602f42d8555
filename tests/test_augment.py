"""The augmentation matrices against torchvision, on a real photograph."""

import pytest
import torch
from skimage import data as skdata
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from tlbook.augment import (
    DEFAULT_AUGMENT,
    NO_AUGMENT,
    SOURCE_AUGMENT,
    AugmentConfig,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    apply_to_points,
    hflip,
    identity,
    preprocess,
    rotation,
    sample_matrices,
    scaling,
    shear,
    translation,
    vflip,
    warp,
)

# Mean absolute difference allowed between our warp and torchvision's affine, on
# images scaled to [0, 1]. Both sample bilinearly on the same grid, so they agree
# to float rounding; 1e-4 is 0.03 of one 8-bit grey level.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """skimage's cat photograph, cropped to 64x80 (non-square on purpose), float (1, 3, 64, 80)."""
    img = torch.from_numpy(skdata.chelsea()).permute(2, 0, 1).float() / 255
    small = TF.resize(img, [64, 96], antialias=True)[:, :, 8:88]
    return small[None]


def tv_affine(img, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear_deg=(0.0, 0.0)):
    return TF.affine(
        img,
        angle=angle,
        translate=list(translate),
        scale=scale,
        shear=list(shear_deg),
        interpolation=InterpolationMode.BILINEAR,
    )


CASES = [
    # (our matrix, torchvision's affine arguments). torchvision's affine turns
    # clockwise for a positive angle and shears with the opposite sign.
    (rotation(10.0), dict(angle=-10.0)),
    (rotation(-25.0), dict(angle=25.0)),
    (translation(3.0, -2.0), dict(translate=(3, -2))),
    (scaling(1.25), dict(scale=1.25)),
    (shear(12.0), dict(shear_deg=(-12.0, 0.0))),
    (shear(0.0, 8.0), dict(shear_deg=(0.0, -8.0))),
    (
        translation(4.0, 1.0) @ rotation(-15.0) @ scaling(1.1) @ shear(5.0),
        dict(angle=15.0, translate=(4, 1), scale=1.1, shear_deg=(-5.0, 0.0)),
    ),
]


@pytest.mark.parametrize("matrix, kwargs", CASES)
def test_matches_torchvision_affine(photo, matrix, kwargs):
    ours = warp(photo, matrix, padding_mode="zeros")
    ref = tv_affine(photo, **kwargs)
    assert (ours - ref).abs().mean() < TOLERANCE


def test_rotation_matches_torchvision_rotate(photo):
    assert (
        warp(photo, rotation(30.0))
        - TF.rotate(photo, 30.0, interpolation=InterpolationMode.BILINEAR)
    ).abs().mean() < TOLERANCE


def test_flips_are_exact(photo):
    # Exact up to float rounding of the sampling grid (1e-6 of a grey level range).
    assert (warp(photo, hflip()) - TF.horizontal_flip(photo)).abs().max() < 1e-5
    assert (warp(photo, vflip()) - TF.vertical_flip(photo)).abs().max() < 1e-5


def test_identity_is_exact(photo):
    assert (warp(photo, identity()) - photo).abs().max() < 1e-5


def test_composition_order_matters():
    p = torch.tensor([[1.0, 0.0]])
    shift_then_turn = rotation(90.0) @ translation(1.0, 0.0)
    turn_then_shift = translation(1.0, 0.0) @ rotation(90.0)
    assert torch.allclose(
        apply_to_points(shift_then_turn, p), torch.tensor([[0.0, -2.0]]), atol=1e-6
    )
    assert torch.allclose(
        apply_to_points(turn_then_shift, p), torch.tensor([[1.0, -1.0]]), atol=1e-6
    )


def test_inverse_undoes(photo):
    a = translation(2.0, -1.0) @ rotation(20.0) @ scaling(1.2)
    assert torch.allclose(torch.linalg.inv(a) @ a, torch.eye(3), atol=1e-6)
    # Warping forth and back restores the centre of the image (the corners were lost).
    back = warp(
        warp(photo, a, padding_mode="zeros"), torch.linalg.inv(a), padding_mode="zeros"
    )
    centre = (slice(None), slice(None), slice(20, 44), slice(28, 52))
    assert (back[centre] - photo[centre]).abs().mean() < 0.03


def test_batched_builders_shape():
    angles = torch.tensor([0.0, 90.0, 180.0])
    m = rotation(angles)
    assert m.shape == (3, 3, 3)
    assert torch.allclose(m[1], rotation(90.0))


def test_fused_resize_equals_interpolate(photo):
    # Reflection (preprocess's default) clamps at the border as interpolate does;
    # zero padding would darken the outermost half pixel.
    ours = warp(photo, None, size=(128, 160), padding_mode="reflection")
    ref = torch.nn.functional.interpolate(
        photo, size=(128, 160), mode="bilinear", align_corners=False
    )
    assert (ours - ref).abs().max() < 1e-5


def test_sampling_follows_the_configuration():
    g = torch.Generator().manual_seed(0)
    m = sample_matrices(
        2000, AugmentConfig(hflip=0.5, rotate=10.0), height=32, width=32, generator=g
    )
    det = torch.linalg.det(m[:, :2, :2])
    assert 0.4 < (det < 0).float().mean() < 0.6  # about half are mirrored
    angles = torch.rad2deg(torch.atan2(m[:, 0, 1], m[:, 0, 0]).abs())
    angles = torch.minimum(angles, 180 - angles)  # a mirror adds 180 degrees
    assert angles.max() <= 10.0 + 1e-3 and angles.max() > 9.0
    none = sample_matrices(5, NO_AUGMENT, height=32, width=32, generator=g)
    assert torch.allclose(none, torch.eye(3).expand(5, 3, 3))


def test_sampling_repeats_with_the_seed():
    a = sample_matrices(
        8,
        DEFAULT_AUGMENT,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(1),
    )
    b = sample_matrices(
        8,
        DEFAULT_AUGMENT,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(a, b)


def test_source_augment_is_flip_and_ten_degrees():
    assert (
        SOURCE_AUGMENT.hflip == 0.5
        and SOURCE_AUGMENT.rotate == 10.0
        and SOURCE_AUGMENT.zoom == (1.0, 1.0)
    )


def test_preprocess_normalises_and_is_deterministic():
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    a = preprocess(x, size=32, mean=mean, std=std)
    ref = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std
    ).view(1, 3, 1, 1)
    assert torch.allclose(a, ref, atol=1e-6)
    assert torch.equal(
        preprocess(x, size=64, mean=mean, std=std),
        preprocess(x, size=64, mean=mean, std=std),
    )


def test_colour_maps_match_torchvision(photo):
    assert torch.allclose(
        adjust_brightness(photo, 1.3), TF.adjust_brightness(photo, 1.3), atol=1e-6
    )
    # torchvision rounds its grey mean slightly differently: 1e-4 is 0.03 grey levels.
    assert torch.allclose(
        adjust_contrast(photo, 0.6), TF.adjust_contrast(photo, 0.6), atol=1e-4
    )
    assert torch.allclose(
        adjust_saturation(photo, 0.4), TF.adjust_saturation(photo, 0.4), atol=1e-5
    )
