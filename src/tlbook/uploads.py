"""Your own photos into the layout tlbook reads: ``ROOT/<class>/<photo>.jpg``, upright and in RGB.

:func:`save_photos` is the one way in: every file is decoded first by the
one decoder (:func:`tlbook.images.decode_image`: EXIF orientation applied, any
mode to RGB, bounded memory), so a file that is not an image is named and
nothing is written; then each photo is saved as a JPEG of at most
:data:`MAX_SIDE` pixels, written whole or not at all. :func:`add_photos` gives
the notebook's control: an ``ipywidgets.FileUpload`` with a class-name box
in Jupyter; in Colab, whose ``FileUpload`` silently returns nothing for files
of 1 MB or more (most phone photos), ``google.colab.files.upload`` instead.

>>> import io, tempfile
>>> from PIL import Image
>>> photo = io.BytesIO(); Image.new("RGB", (60, 40), "green").save(photo, "PNG")
>>> root = Path(tempfile.mkdtemp())
>>> [p.relative_to(root).as_posix() for p in save_photos([("IMG 01.png", photo.getvalue())], root, "plant")]
['plant/IMG_01.jpg']
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import ConfigError, DataError
from .files import atomic_path, show
from .images import decode_image

__all__ = ["MAX_SIDE", "uploaded_files", "class_name", "save_photos", "add_photos"]

MAX_SIDE = (
    1600  # longer side of a saved photo, in pixels: training decodes at 256 anyway
)


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """``(file name, bytes)`` pairs from any upload control's value.

    Accepts ipywidgets 8's ``FileUpload.value`` (a tuple of dicts with
    ``name`` and ``content``, a memoryview), ipywidgets 7's (a dict keyed by
    file name, each ``{"metadata": ..., "content": bytes}``) and Colab's
    ``files.upload()`` (a dict of file name to bytes).

    >>> uploaded_files(({"name": "a.jpg", "content": memoryview(b"xy")},))
    [('a.jpg', b'xy')]
    >>> uploaded_files({"a.jpg": {"metadata": {"name": "a.jpg"}, "content": b"xy"}})
    [('a.jpg', b'xy')]
    >>> uploaded_files({"a.jpg": b"xy"})
    [('a.jpg', b'xy')]
    """
    if isinstance(value, Mapping):
        pairs: Iterable[tuple[Any, Any]] = (
            (name, item["content"] if isinstance(item, Mapping) else item)
            for name, item in value.items()
        )
    elif isinstance(value, (list, tuple)):
        pairs = ((item["name"], item["content"]) for item in value)
    else:
        raise DataError(
            f"an upload's value is a tuple or a dict of files, not {type(value).__name__}"
        )
    return [(str(name), bytes(content)) for name, content in pairs]


def class_name(label: str) -> str:
    """``label`` as a class folder's name, or a :class:`~tlbook.errors.ConfigError` saying why not.

    >>> class_name("  my cat ")
    'my cat'
    >>> class_name("../etc")
    Traceback (most recent call last):
    ...
    tlbook.errors.ConfigError: class name '../etc' cannot be a folder name: no '/' or '\\\\', not '.' or '..', not starting with '.'
    """
    name = label.strip()
    if not name:
        raise ConfigError("the class name is empty; type one, e.g. 'cat'")
    if (
        "/" in name
        or "\\" in name
        or name.startswith(".")
        or any(ord(c) < 32 for c in name)
        or len(name.encode()) > 100
    ):
        raise ConfigError(
            f"class name {label!r} cannot be a folder name: no '/' or '\\\\', not '.' or '..', "
            "not starting with '.'"
            + (" (and at most 100 bytes)" if len(name.encode()) > 100 else "")
        )
    return name


def _stem(file_name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file_name).stem).strip("_")
    return stem[:60] or "photo"


def save_photos(
    files: Iterable[tuple[str, bytes]], root: str | os.PathLike, label: str
) -> list[Path]:
    """Save photos ``(file name, bytes)`` into ``root/label/`` as upright RGB JPEGs; return their paths.

    All photos are decoded before anything is written: one bad file raises an
    :class:`~tlbook.errors.ImageError` naming it, and the folder is unchanged.
    Names never collide with photos already there (``a.jpg``, ``a-2.jpg``, ...).
    """
    folder_name = class_name(label)
    files = list(files)
    if not files:
        raise DataError(f"no photos to add to {folder_name!r}; choose some files first")
    decoded = [
        (name, decode_image(content, name=name, storage_size=None))
        for name, content in files
    ]
    folder = Path(root).expanduser() / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, array in decoded:
        stem, n = _stem(name), 1
        target = folder / f"{stem}.jpg"
        while target.exists():
            n += 1
            target = folder / f"{stem}-{n}.jpg"
        image = Image.fromarray(array)  # (H, W, 3) uint8, upright
        if max(image.size) > MAX_SIDE:
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        with atomic_path(target) as tmp:
            image.save(tmp, "JPEG", quality=95)
        saved.append(target)
    return saved


def _summary(root: Path) -> str:
    classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    counts = [f"{p.name} ({sum(1 for _ in p.glob('*.jpg'))})" for p in classes]
    return f"{show(root.name)}/: " + (", ".join(counts) if counts else "no classes yet")


def add_photos(root: str | os.PathLike, label: str | None = None) -> Any:
    """The notebook's way to add photos of one class to ``root``.

    In Colab: opens Colab's file chooser for class ``label`` (required) and
    saves what was chosen; returns the saved paths. Elsewhere: returns an
    ipywidgets control (class name, file chooser, "Add" button, a line that
    counts the photos per class); each click saves the chosen files.
    """
    root = Path(root).expanduser()
    if "google.colab" in sys.modules:
        if label is None:
            raise ConfigError(
                "in Colab, name the class: add_photos(root, 'cat'), once per class"
            )
        from google.colab import files

        saved = save_photos(uploaded_files(files.upload()), root, label)
        print(f"added {len(saved)} photos; {_summary(root)}")
        return saved
    import ipywidgets as widgets

    name = widgets.Text(value=label or "", description="class", placeholder="e.g. cat")
    chooser = widgets.FileUpload(accept="image/*", multiple=True, description="photos")
    button = widgets.Button(description="Add", button_style="primary")
    status = widgets.Label(value=_summary(root))

    def add(_: Any) -> None:
        try:
            saved = save_photos(uploaded_files(chooser.value), root, name.value)
        except (ConfigError, DataError) as e:
            status.value = f"not added: {e}"
            return
        with contextlib.suppress(
            Exception
        ):  # ready for the next class (ipywidgets 7: a dict)
            chooser.value = type(chooser.value)()
        status.value = f"added {len(saved)} photos; {_summary(root)}"

    button.on_click(add)
    return widgets.VBox([widgets.HBox([name, chooser, button]), status])
