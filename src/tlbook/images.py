"""The one image decoder: every picture tlbook reads becomes upright RGB, within bounds, or a named error.

Training data, your own photos and ``predict`` all go through
:func:`decode_image`. Its contract, for *any* bytes:

* the result is an upright ``(H, W, 3)`` uint8 RGB array: the EXIF
  orientation a phone writes into a portrait photo is applied; greyscale,
  palette, 16-bit, float, CMYK and transparent images become RGB (transparency
  composited on white);
* memory is bounded *before* decoding: the header's declared size is read
  first, and an image of more than :data:`MAX_PIXELS` pixels, or longer than
  :data:`MAX_ASPECT` times its width (a 1x20000 strip), is refused; large
  JPEGs are decoded at a reduced scale (``draft``) when only a small copy is
  wanted, and the resize works on the centre square only, so a long image
  never becomes a huge one;
* anything that goes wrong (a truncated file, a text file named ``.jpg``, an
  exception inside a decoder plugin) is an :class:`~tlbook.errors.ImageError`
  that names the file, never another exception.

It imports neither torch nor the training code.

>>> import io
>>> buf = io.BytesIO(); Image.new("L", (40, 20), 128).save(buf, "PNG")
>>> decode_image(buf.getvalue(), name="grey.png", storage_size=16).shape
(16, 16, 3)
>>> decode_image(b"not an image", name="notes.jpg", storage_size=None)
Traceback (most recent call last):
...
tlbook.errors.ImageError: cannot read image notes.jpg: not an image file (or one tlbook cannot decode). Delete or replace this file.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from .errors import ImageError
from .files import show

__all__ = ["MAX_PIXELS", "MAX_ASPECT", "decode_image", "image_size"]

# A 48-megapixel phone photo (8000 x 6000) fits; a PNG that declares 16000 x 16000 (256 M pixels,
# 768 MB once decoded) from a 30 KB file does not.
MAX_PIXELS = 64_000_000
# Panoramas are up to about 10:1; beyond 20:1 an "image" is a strip whose centre square is a sliver.
MAX_ASPECT = 20

ImageFile.LOAD_TRUNCATED_IMAGES = (
    False  # a truncated file is an error, never a grey patch
)


def _fail(name: str, why: str) -> ImageError:
    return ImageError(f"cannot read image {name}: {why}. Delete or replace this file.")


def _open(source: Path | bytes) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(source)))
    return Image.open(source)


def image_size(
    source: str | os.PathLike | bytes, *, name: str | None = None
) -> tuple[int, int]:
    """``(width, height)`` as the file's header declares it, after EXIF orientation; nothing is decoded.

    >>> buf = io.BytesIO(); Image.new("RGB", (30, 10)).save(buf, "PNG")
    >>> image_size(buf.getvalue())
    (30, 10)
    """
    label = name or (
        show(source)
        if not isinstance(source, (bytes, bytearray, memoryview))
        else "<bytes>"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _open(_as_source(source)) as im:
                w, h = im.size
                if _orientation(im) in (
                    5,
                    6,
                    7,
                    8,
                ):  # a quarter turn: width and height swap
                    w, h = h, w
                return w, h
    except Exception as e:  # noqa: BLE001 - every decoder failure is the same for the user: this file
        raise _fail(label, _reason(e)) from None


def _as_source(source: str | os.PathLike | bytes) -> Path | bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    return Path(source)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)  # EXIF tag 274: Orientation
    except Exception:  # noqa: BLE001 - a broken EXIF block means "no orientation", as cameras treat it
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _reason(e: BaseException) -> str:
    if isinstance(e, Image.UnidentifiedImageError):
        return "not an image file (or one tlbook cannot decode)"
    if isinstance(e, Image.DecompressionBombError):
        return f"it declares too many pixels ({e})"
    text = str(e).strip() or type(e).__name__
    return (
        f"{text[:200]} ({type(e).__name__})"
        if not isinstance(e, OSError)
        else text[:200]
    )


def decode_image(
    source: str | os.PathLike | bytes,
    *,
    storage_size: int | None,
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
    max_aspect: float = MAX_ASPECT,
) -> np.ndarray:
    """One image file (a path, or its bytes) as upright RGB ``(H, W, 3)`` uint8.

    ``storage_size`` resizes so that the shorter side is that many pixels and
    centre-crops a square (``None`` keeps the image's own size). ``name`` is
    how errors name the image (default: the path). See the module's contract.

    >>> buf = io.BytesIO(); Image.new("RGB", (1, 400)).save(buf, "PNG")
    >>> decode_image(buf.getvalue(), name="strip.png", storage_size=256)
    Traceback (most recent call last):
    ...
    tlbook.errors.ImageError: cannot read image strip.png: it is 1x400 pixels, longer than 20 times its width. Delete or replace this file.
    """
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    label = name or ("<bytes>" if is_bytes else show(source))
    try:
        with warnings.catch_warnings():
            # Pillow warns of large images and odd metadata; the bounds below decide instead.
            warnings.simplefilter("ignore")
            with _open(_as_source(source)) as im:
                return _decode_open(
                    im,
                    label,
                    storage_size=storage_size,
                    max_pixels=max_pixels,
                    max_aspect=max_aspect,
                )
    except ImageError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - any decoder failure, MemoryError included, names this file
        raise _fail(label, _reason(e)) from None


def _decode_open(
    im: Image.Image,
    label: str,
    *,
    storage_size: int | None,
    max_pixels: int,
    max_aspect: float,
) -> np.ndarray:
    w, h = im.size  # from the header: nothing decoded yet
    if w < 1 or h < 1:
        raise _fail(label, f"it declares a size of {w}x{h} pixels")
    if w * h > max_pixels:
        raise _fail(
            label,
            f"it is {w}x{h} pixels ({w * h / 1e6:.0f} M), more than the "
            f"{max_pixels / 1e6:.0f} M tlbook decodes",
        )
    if max(w, h) > max_aspect * min(w, h):
        raise _fail(
            label, f"it is {w}x{h} pixels, longer than {max_aspect:g} times its width"
        )
    orientation = _orientation(im)
    if storage_size is not None and im.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale when that still leaves the shorter side >= storage_size.
        im.draft("RGB", (storage_size, storage_size))
    im.load()
    if im.mode.startswith("I") or im.mode == "F":
        im = _to_8_bit(im)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        im = Image.new("RGB", rgba.size, (255, 255, 255))
        im.paste(rgba, mask=rgba.getchannel("A"))
    im = im.convert("RGB")
    if orientation != 1:
        im = _upright(im, orientation)
    if storage_size is not None and (
        min(im.size) != storage_size or im.size[0] != im.size[1]
    ):
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        # Only the centre square is resampled: memory is storage_size**2, whatever the aspect ratio.
        im = im.resize(
            (storage_size, storage_size),
            Image.Resampling.BICUBIC,
            box=(left, top, left + side, top + side),
            reducing_gap=3.0,
        )
    array = np.asarray(im, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise _fail(label, f"it decoded to an array of shape {array.shape}, not RGB")
    return array.copy()


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    """Apply EXIF orientation 2-8 (the same transposes as ``ImageOps.exif_transpose``)."""
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    return im.transpose(method)


def _to_8_bit(im: Image.Image) -> Image.Image:
    """A 16-bit or 32-bit greyscale image as 8-bit ``L``, scaled, not clipped.

    Pillow's own ``convert`` clips 16-bit values above 255 to white. 16-bit
    files (``I;16*``, and ``I``, which is how Pillow often opens them) span
    0-65535; float images (``F``) are taken as 0-1 when they stay within it,
    else as 0-255.
    """
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        a = np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0)
        scale = 255.0 if a.size and a.max() <= 1.0 else 1.0
    else:
        scale = 255.0 / 65535.0
    return Image.fromarray(np.clip(np.rint(a * scale), 0, 255).astype(np.uint8), "L")
