"""Augmentation as matrices: ``I_aug = T(I)`` for a whole batch at once.

Chapter 2 teaches exactly these functions. Geometry is written in *centred
pixel coordinates*: x to the right, y **down** (as images are stored), the
origin at the centre of the image, one unit per pixel. Every geometric
augmentation is a 3x3 homogeneous matrix ``A`` that maps a point of the
input image to where it lands in the output::

    [x_out, y_out, 1]^T = A @ [x_in, y_in, 1]^T

Composition is a matrix product (``B @ A`` applies ``A`` first). To *draw*
the output, each output pixel looks up where it came from, ``A^-1 @ p_out``,
and interpolates the input there (:func:`warp`). ``affine_grid`` and
``grid_sample`` do that for a batch of per-sample matrices on any device, and
the same call resizes to the backbone's input size and normalises, so a
training image is interpolated once, not twice.

The matrix builders are pure: they take floats or tensors of shape ``(B,)``
and return ``(3, 3)`` or ``(B, 3, 3)``. Randomness lives in
:func:`sample_matrices` only.

>>> A = translation(2.0, 0.0) @ rotation(90.0)   # turn, then shift
>>> apply_to_points(A, torch.tensor([[1.0, 0.0]]))  # (1, 0) -> (2, -1)
tensor([[ 2., -1.]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .devices import to_device

__all__ = [
    "identity",
    "translation",
    "rotation",
    "scaling",
    "shear",
    "hflip",
    "vflip",
    "affine_matrix",
    "apply_to_points",
    "to_normalized",
    "AugmentConfig",
    "SOURCE_AUGMENT",
    "DEFAULT_AUGMENT",
    "NO_AUGMENT",
    "sample_matrices",
    "warp",
    "preprocess",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
]

Number = float | torch.Tensor


def _matrix(rows: list[list[Number]]) -> torch.Tensor:
    """Stack scalars or ``(B,)`` tensors into a ``(3, 3)`` or ``(B, 3, 3)`` matrix."""
    entries = [torch.as_tensor(v, dtype=torch.float32) for row in rows for v in row]
    entries = torch.broadcast_tensors(*entries)
    return torch.stack(entries, dim=-1).reshape(*entries[0].shape, 3, 3)


def identity() -> torch.Tensor:
    """The 3x3 identity: the image unchanged.

    >>> identity()[0]
    tensor([1., 0., 0.])
    """
    return torch.eye(3)


def translation(tx: Number, ty: Number) -> torch.Tensor:
    """Shift by ``tx`` pixels right and ``ty`` pixels down.

    >>> translation(3.0, 4.0)[:2, 2]
    tensor([3., 4.])
    """
    return _matrix([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def rotation(degrees: Number) -> torch.Tensor:
    """Turn by ``degrees`` **counter-clockwise as seen on screen**, about the centre.

    Because y points down, the matrix is ``[[cos, sin], [-sin, cos]]``: the
    point one pixel right of the centre moves one pixel *up* (y = -1) for
    90 degrees. Same sign convention as ``torchvision``'s ``rotate`` and
    ``RandomRotation``.

    >>> p = apply_to_points(rotation(90.0), torch.tensor([[1.0, 0.0]]))
    >>> torch.allclose(p, torch.tensor([[0.0, -1.0]]), atol=1e-6)
    True
    """
    a = torch.deg2rad(torch.as_tensor(degrees, dtype=torch.float32))
    c, s = torch.cos(a), torch.sin(a)
    return _matrix([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def scaling(sx: Number, sy: Number | None = None) -> torch.Tensor:
    """Stretch by ``sx`` horizontally and ``sy`` (default ``sx``) vertically.

    A factor above 1 zooms in: the centre part of the image fills the output,
    which is what a random crop resized back to full size does.

    >>> scaling(2.0).diagonal()
    tensor([2., 2., 1.])
    """
    return _matrix(
        [[sx, 0.0, 0.0], [0.0, sx if sy is None else sy, 0.0], [0.0, 0.0, 1.0]]
    )


def shear(x_degrees: Number, y_degrees: Number = 0.0) -> torch.Tensor:
    """Shear: ``x += tan(x_degrees) * y`` and ``y += tan(y_degrees) * x``.

    >>> apply_to_points(shear(45.0), torch.tensor([[0.0, 1.0]])).round().tolist()
    [[1.0, 1.0]]
    """
    kx = torch.tan(torch.deg2rad(torch.as_tensor(x_degrees, dtype=torch.float32)))
    ky = torch.tan(torch.deg2rad(torch.as_tensor(y_degrees, dtype=torch.float32)))
    return _matrix([[1.0, kx, 0.0], [ky, 1.0, 0.0], [0.0, 0.0, 1.0]])


def hflip() -> torch.Tensor:
    """Mirror left-right (x -> -x about the centre).

    >>> hflip().diagonal()
    tensor([-1.,  1.,  1.])
    """
    return scaling(-1.0, 1.0)


def vflip() -> torch.Tensor:
    """Mirror top-bottom (y -> -y about the centre).

    >>> vflip().diagonal()
    tensor([ 1., -1.,  1.])
    """
    return scaling(1.0, -1.0)


def apply_to_points(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Map points ``(N, 2)`` through a ``(3, 3)`` matrix; returns ``(N, 2)``.

    >>> apply_to_points(translation(1.0, 2.0), torch.zeros(1, 2))
    tensor([[1., 2.]])
    """
    homogeneous = torch.cat([points, torch.ones(len(points), 1)], dim=1)  # (N, 3)
    mapped = homogeneous @ matrix.T  # (N, 3)
    return mapped[:, :2] / mapped[:, 2:]


def to_normalized(matrix: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Express a pixel-space matrix in ``affine_grid``'s normalised coordinates.

    ``affine_grid`` (``align_corners=False``) puts the left edge of the image
    at -1 and the right edge at +1, so ``N = diag(2/W, 2/H, 1)`` maps centred
    pixel coordinates to normalised ones and the same map there is
    ``N @ A @ N^-1``. For a square image a rotation stays a rotation.

    >>> to_normalized(translation(16.0, 0.0), 32, 32)[0, 2]
    tensor(1.)
    """
    n = torch.diag(torch.tensor([2.0 / width, 2.0 / height, 1.0]))
    n_inv = torch.diag(torch.tensor([width / 2.0, height / 2.0, 1.0]))
    return n @ matrix @ n_inv


@dataclass(frozen=True)
class AugmentConfig:
    """A distribution over augmentation matrices (all draws independent, uniform).

    ``zoom`` is drawn log-uniformly; ``(1.0, 1.0)`` switches it off.
    ``translate`` is a fraction of the image side.
    """

    hflip: float = 0.5  # probability of a left-right mirror
    vflip: float = 0.0  # probability of a top-bottom mirror (wrong for most photos)
    rotate: float = 0.0  # maximum |angle| in degrees
    zoom: tuple[float, float] = (1.0, 1.0)  # scale factor range; > 1 zooms in
    translate: float = 0.0  # maximum |shift| as a fraction of width / height
    shear: float = 0.0  # maximum |shear angle| in degrees (x direction)
    padding_mode: str = (
        "reflection"  # what fills pixels from outside: zeros | border | reflection
    )


# The source document: RandomHorizontalFlip + RandomRotation(10), black corners.
SOURCE_AUGMENT = AugmentConfig(hflip=0.5, rotate=10.0, padding_mode="zeros")
# The book's default: flip plus a random "crop" (zoom in up to 1.3x, shift up to 10 %).
DEFAULT_AUGMENT = AugmentConfig(hflip=0.5, zoom=(1.0, 1.3), translate=0.1)
# No augmentation at all (identity matrices).
NO_AUGMENT = AugmentConfig(hflip=0.0)


def sample_matrices(
    n: int,
    aug: AugmentConfig,
    *,
    height: int,
    width: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` forward matrices ``(n, 3, 3)`` from ``aug`` (on the CPU).

    Each matrix is :func:`affine_matrix` of independently drawn parameters.

    >>> g = torch.Generator().manual_seed(0)
    >>> sample_matrices(4, DEFAULT_AUGMENT, height=32, width=32, generator=g).shape
    torch.Size([4, 3, 3])
    """

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    hflips = torch.rand(n, generator=generator) < aug.hflip
    vflips = torch.rand(n, generator=generator) < aug.vflip
    lo, hi = aug.zoom
    return affine_matrix(
        angle=uniform(-aug.rotate, aug.rotate),
        zoom=torch.exp(uniform(math.log(lo), math.log(hi))),
        shift=(
            uniform(-aug.translate, aug.translate) * width,
            uniform(-aug.translate, aug.translate) * height,
        ),
        shear_angle=uniform(-aug.shear, aug.shear),
        hflip=hflips,
        vflip=vflips,
    )


def affine_matrix(
    *,
    angle: Number = 0.0,
    zoom: Number = 1.0,
    shift: tuple[Number, Number] = (0.0, 0.0),
    shear_angle: Number = 0.0,
    hflip: bool | torch.Tensor = False,
    vflip: bool | torch.Tensor = False,
) -> torch.Tensor:
    """The book's standard composition: ``translation @ rotation @ scaling @ shear @ flips``.

    Flips act first and the shift last, so ``shift`` is in output pixels.
    Arguments may be ``(B,)`` tensors for a batch of matrices.

    >>> torch.allclose(affine_matrix(angle=90.0), rotation(90.0))
    True
    """
    sx = torch.where(torch.as_tensor(hflip), -1.0, 1.0)
    sy = torch.where(torch.as_tensor(vflip), -1.0, 1.0)
    return (
        translation(*shift)
        @ rotation(angle)
        @ scaling(zoom)
        @ shear(shear_angle)
        @ scaling(sx, sy)
    )


def warp(
    images: torch.Tensor,
    matrices: torch.Tensor | None,
    *,
    size: int | tuple[int, int] | None = None,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """Apply per-sample forward matrices to float images by inverse mapping.

    ``images`` is ``(B, C, H, W)`` float; ``matrices`` ``(B, 3, 3)`` or ``(3, 3)``
    in centred pixel coordinates of the *input*, or ``None`` for the identity.
    The output is ``(B, C, size, size)`` (default: the input size): resizing
    is part of the same single interpolation. ``mode`` is ``bilinear`` or
    ``nearest``.

    >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
    >>> warp(x, hflip())[0, 0]
    tensor([[1., 0.],
            [3., 2.]])
    """
    b, c, h, w = images.shape
    out_h, out_w = (
        (h, w) if size is None else (size, size) if isinstance(size, int) else size
    )
    if matrices is None:
        matrices = identity()
    matrices = matrices.to(torch.float32).cpu().expand(b, 3, 3)
    # Inverse map: for each output location, where in the input to sample.
    theta = torch.linalg.inv(to_normalized(matrices, h, w))[:, :2, :]  # (B, 2, 3)
    theta = to_device(theta.to(images.dtype), images.device)
    grid = F.affine_grid(
        theta, [b, c, out_h, out_w], align_corners=False
    )  # (B, H', W', 2)
    return F.grid_sample(
        images, grid, mode=mode, padding_mode=padding_mode, align_corners=False
    )


def preprocess(
    images: torch.Tensor,
    *,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    matrices: torch.Tensor | None = None,
    padding_mode: str = "reflection",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """uint8 images ``(B, 3, H, W)`` -> normalised float input ``(B, 3, size, size)``.

    One pass: move to ``device``, scale to [0, 1], warp by ``matrices``
    (``None``: deterministic resize only, as for evaluation), normalise with
    the backbone's ``mean`` and ``std``.

    >>> x = torch.full((2, 3, 32, 32), 255, dtype=torch.uint8)
    >>> preprocess(x, size=64, mean=(0.5,) * 3, std=(0.5,) * 3).shape
    torch.Size([2, 3, 64, 64])
    """
    x = images.to(
        device=device or images.device, non_blocking=True
    )  # (B, 3, H, W) uint8
    m = to_device(torch.tensor(mean).view(1, -1, 1, 1), x.device)  # (1, 3, 1, 1)
    s = to_device(torch.tensor(std).view(1, -1, 1, 1), x.device)
    # (x/255 - m)/s = x * (1/(255 s)) - m/s. Scaling is linear, so it commutes with the
    # interpolation and with zero padding (0 stays black): scale at the small input
    # size, warp, then shift once at the output size.
    x = x.float().mul_(1.0 / (255.0 * s))  # (B, 3, H, W)
    if matrices is not None or x.shape[-2:] != (size, size):
        x = warp(
            x, matrices, size=size, padding_mode=padding_mode
        )  # (B, 3, size, size)
    return x.sub_(m / s)


# --- colour: per-pixel maps, not coordinate maps ------------------------------------------


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma (torchvision's weights) of float images ``(..., 3, H, W)`` -> ``(..., 1, H, W)``."""
    r, g, b = x.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def adjust_brightness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply every pixel of float images in [0, 1] by ``factor``, clipped.

    >>> adjust_brightness(torch.full((3, 1, 1), 0.4), 2.0).flatten()
    tensor([0.8000, 0.8000, 0.8000])
    """
    return (x * factor).clamp(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend each image with its mean grey level: ``factor * x + (1 - factor) * mean``.

    >>> adjust_contrast(torch.tensor([[[0.0, 1.0]]] * 3), 0.0)[0]
    tensor([[0.5000, 0.5000]])
    """
    mean = _grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
    return (factor * x + (1.0 - factor) * mean).clamp(0.0, 1.0)


def adjust_saturation(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend each pixel with its own grey value; 0 gives a greyscale image.

    >>> adjust_saturation(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1), 0.0).flatten()
    tensor([0.2989, 0.2989, 0.2989])
    """
    return (factor * x + (1.0 - factor) * _grayscale(x)).clamp(0.0, 1.0)
