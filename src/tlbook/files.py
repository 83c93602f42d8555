"""Files, read and written safely: paths checked as values, atomic writes, result files with a schema.

Three defences live here, each one mechanism for a whole class of mistakes:

* **Paths are values.** :func:`input_path` turns whatever a user typed (an
  empty string, ``.``, a file where a folder belongs, a dangling or looping
  symbolic link, a name that is not valid UTF-8) into a usable ``Path`` or an
  :class:`~tlbook.errors.InputPathError` that names it; :func:`check_writable`
  does the same for outputs, before any expensive work. :func:`show` is how
  every message spells a path: never with an encoding that can fail.
* **Nothing half-written.** :func:`atomic_path` and :func:`atomic_folder`
  write beside the target and move into place only on success.
* **Result files have a schema.** :func:`validate` checks a loaded JSON value
  against a declared shape (types included) and names the file and the field
  that fail; :func:`read_json` reads and validates in one step, leaving the
  file untouched.

This module imports neither torch nor the training code: tools and the
grader use it to write a file.

>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "out.json"
>>> write_json_atomic(target, {"accuracy": 0.5})
>>> read_json(target, Fields({"accuracy": Number(0, 1)}))
{'accuracy': 0.5}
>>> write_json_atomic(target, {"accuracy": "50 %"})
>>> read_json(target, Fields({"accuracy": Number(0, 1)}))
Traceback (most recent call last):
...
tlbook.errors.SchemaError: ...out.json: field 'accuracy' must be a number from 0 to 1, got '50 %'
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputPathError, OutputError, SchemaError

__all__ = [
    "show",
    "input_path",
    "check_writable",
    "atomic_path",
    "atomic_folder",
    "write_json_atomic",
    "Number",
    "Whole",
    "Text",
    "Flag",
    "ListOf",
    "MapOf",
    "Fields",
    "Maybe",
    "AnyValue",
    "validate",
    "read_json",
]


# --- paths as values ----------------------------------------------------------------------


def show(path: str | os.PathLike | bytes) -> str:
    """``path`` as text that any terminal or file encoding can print.

    Names that are not valid UTF-8 reach Python as lone surrogates (PEP 383);
    printing those raises ``UnicodeEncodeError``. Here they become ``\\xNN``
    escapes, and control characters (a newline in a file name) are escaped too,
    so one path is always one line.

    >>> show(Path(os.fsdecode(b"caf\\xe9.jpg")))
    'caf\\\\xe9.jpg'
    >>> show("a\\nb.png"), show("猫/1.jpg")
    ('a\\\\nb.png', '猫/1.jpg')
    """
    text = os.fsdecode(os.fspath(path))
    raw = text.encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def input_path(value: str | os.PathLike | None, *, kind: str, what: str) -> Path:
    """``value`` as an existing, readable folder (``kind="folder"``) or file (``kind="file"``).

    ``what`` says where the value came from (``"--data"``). Every way a path
    can fail gets one line that names the path and what to do: empty, missing,
    a dangling symbolic link, a loop of links, a file where a folder belongs
    (or the reverse), unreadable. ``.`` and ``~`` work.

    >>> input_path(".", kind="folder", what="--data").is_dir()
    True
    >>> input_path("", kind="folder", what="--data")
    Traceback (most recent call last):
    ...
    tlbook.errors.InputPathError: --data is empty; give a folder
    """
    if kind not in ("folder", "file"):
        raise ValueError(f"kind must be 'folder' or 'file', got {kind!r}")
    if value is None or not os.fspath(value).strip():
        raise InputPathError(f"{what} is empty; give a {kind}")
    path = Path(os.fspath(value)).expanduser()
    try:
        st = path.stat()
    except OSError as e:
        if os.path.lexists(path) and path.is_symlink():
            try:
                os.stat(path)
            except OSError as again:
                if getattr(again, "errno", None) == 40:  # ELOOP
                    raise InputPathError(
                        f"{what} {show(path)} is a loop of symbolic links"
                    ) from None
            raise InputPathError(
                f"{what} {show(path)} is a symbolic link to {show(os.readlink(path))}, which does not exist"
            ) from None
        if getattr(e, "errno", None) == 40:
            raise InputPathError(
                f"{what} {show(path)} goes through a loop of symbolic links"
            ) from None
        if isinstance(e, (FileNotFoundError, NotADirectoryError)):
            raise InputPathError(f"{what} {show(path)} does not exist") from None
        raise InputPathError(
            f"{what} {show(path)} cannot be read ({e.strerror or e})"
        ) from None
    import stat as _stat

    is_dir = _stat.S_ISDIR(st.st_mode)
    if kind == "folder" and not is_dir:
        raise InputPathError(f"{what} {show(path)} is a file, not a folder")
    if kind == "file" and is_dir:
        raise InputPathError(f"{what} {show(path)} is a folder, not a file")
    if not os.access(path, os.R_OK | (os.X_OK if is_dir else 0)):
        raise InputPathError(f"{what} {show(path)} cannot be read (permission denied)")
    return path


def check_writable(path: str | os.PathLike, *, folder: bool) -> Path:
    """Check, before any expensive work, that ``path`` can be written; return it as a ``Path``.

    ``folder=True``: ``path`` is a folder (created if missing, with its
    parents); ``folder=False``: a file, whose folder must exist or be
    creatable. Either way a file is created and removed in that folder, so a
    read-only location fails now, not after an hour of training.

    >>> out = check_writable(Path(tempfile.mkdtemp()) / "runs" / "a", folder=True)
    >>> out.name, out.exists()  # writable, and nothing left behind
    ('a', False)
    """
    if not os.fspath(path).strip():
        raise OutputError(
            f"the output {'folder' if folder else 'file'} name is empty; give one"
        )
    path = Path(path).expanduser()
    where = path if folder else path.parent
    if os.path.lexists(path) and not os.path.exists(path):
        raise OutputError(
            f"{show(path)} is a symbolic link that leads nowhere (or to a loop); remove it or "
            "choose another location"
        )
    if folder and path.exists() and not path.is_dir():
        raise OutputError(
            f"{show(path)} is a file, not a folder; choose another output folder"
        )
    if not folder and path.is_dir():
        raise OutputError(f"{show(path)} is a folder; give a file name")
    blocking = next((p for p in [where, *where.parents] if os.path.lexists(p)), None)
    if blocking is not None and not blocking.is_dir():
        raise OutputError(
            f"cannot create {show(where)}: {show(blocking)} is a file, not a folder"
        )
    created = [p for p in [where, *where.parents] if not os.path.lexists(p)]
    try:
        where.mkdir(parents=True, exist_ok=True)
        probe = where / f".tlbook-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(
            f"cannot write into {show(where)} ({e.strerror or e}); choose another location"
        ) from None
    finally:
        for (
            p
        ) in created:  # leave nothing behind: the run creates them again when it writes
            with contextlib.suppress(OSError):
                p.rmdir()
    return path


# --- nothing half-written -----------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    Whatever goes wrong (an exception, Ctrl-C), ``path`` is either the old file
    or the complete new one, never half of it, and no temporary file is left.
    The file gets the user's normal permissions (``0o666`` less the umask), not
    the private ``0o600`` of a temporary file.

    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path`` whole.

    An existing ``path`` is swapped out only once the new folder is complete,
    so a failure leaves the old one as it was, and ``path`` never holds a file
    of an earlier run next to the new ones.

    >>> root = Path(tempfile.mkdtemp()) / "run"
    >>> with atomic_folder(root) as tmp:
    ...     _ = (tmp / "a.txt").write_text("1")
    >>> sorted(p.name for p in root.iterdir())
    ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    )
    os.chmod(staging, 0o777 & ~_umask())
    old = staging.with_suffix(".old")
    try:
        yield staging
        if os.path.lexists(path):
            path.rename(old)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if os.path.lexists(old) and not os.path.lexists(path):
            old.rename(path)  # put the earlier folder back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON; a failure leaves no partial file. NaN is refused, not written."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --- result files have a schema -------------------------------------------------------------
#
# A schema is data: Number, Whole, Text, Flag, ListOf, MapOf, Fields, Maybe, AnyValue. validate()
# walks a value and its schema together and raises SchemaError with the path of the first field
# that does not fit ("rows[3].test_accuracy").


@dataclass(frozen=True)
class Number:
    """A finite number (int or float, never bool) in ``[low, high]``."""

    low: float = -math.inf
    high: float = math.inf

    def describe(self) -> str:
        if math.isinf(self.low) and math.isinf(self.high):
            return "a finite number"
        if math.isinf(self.high):
            return f"a number of at least {self.low:g}"
        return f"a number from {self.low:g} to {self.high:g}"

    def fits(self, v: Any) -> bool:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        return ok and math.isfinite(v) and self.low <= v <= self.high


@dataclass(frozen=True)
class Whole:
    """An int (never bool) in ``[low, high]``."""

    low: int = 0
    high: int | None = None

    def describe(self) -> str:
        return (
            f"a whole number of at least {self.low}"
            if self.high is None
            else f"a whole number from {self.low} to {self.high}"
        )

    def fits(self, v: Any) -> bool:
        ok = isinstance(v, int) and not isinstance(v, bool)
        return ok and v >= self.low and (self.high is None or v <= self.high)


@dataclass(frozen=True)
class Text:
    """A string, optionally one of ``choices`` or made only of the characters in ``alphabet``."""

    choices: tuple[str, ...] = ()
    alphabet: str | None = None

    def describe(self) -> str:
        if self.choices:
            return f"one of {list(self.choices)}"
        return (
            "text"
            if self.alphabet is None
            else f"text of the characters {self.alphabet!r}"
        )

    def fits(self, v: Any) -> bool:
        if not isinstance(v, str) or (self.choices and v not in self.choices):
            return False
        return self.alphabet is None or set(v) <= set(self.alphabet)


@dataclass(frozen=True)
class Flag:
    """``true`` or ``false``."""

    def describe(self) -> str:
        return "true or false"

    def fits(self, v: Any) -> bool:
        return isinstance(v, bool)


@dataclass(frozen=True)
class AnyValue:
    """Anything JSON can hold (a field the readers do not interpret)."""

    def describe(self) -> str:
        return "any value"

    def fits(self, v: Any) -> bool:
        return True


@dataclass(frozen=True)
class Maybe:
    """``null`` or ``inner``."""

    inner: Any

    def describe(self) -> str:
        return f"null or {self.inner.describe()}"


@dataclass(frozen=True)
class ListOf:
    """A list whose every item fits ``item``, with at least ``min_len`` items."""

    item: Any
    min_len: int = 0

    def describe(self) -> str:
        return "a list" + (f" of at least {self.min_len} items" if self.min_len else "")


@dataclass(frozen=True)
class MapOf:
    """An object with any keys whose every value fits ``value``."""

    value: Any

    def describe(self) -> str:
        return "an object"


@dataclass(frozen=True)
class Fields:
    """An object with the ``required`` keys (each fitting its schema) and perhaps the ``optional`` ones.

    Other keys are allowed (a newer tlbook may add fields) and not checked.
    """

    required: dict[str, Any]
    optional: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return "an object"


def _where(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def validate(value: Any, schema: Any, *, what: str, path: str = "") -> Any:
    """Return ``value`` if it fits ``schema``; else raise :class:`SchemaError` naming ``what`` and the field.

    >>> validate({"rows": [{"seed": 0}, {"seed": "1"}]}, Fields({"rows": ListOf(Fields({"seed": Whole()}))}),
    ...          what="study.json")
    Traceback (most recent call last):
    ...
    tlbook.errors.SchemaError: study.json: field 'rows[1].seed' must be a whole number of at least 0, got '1'
    """

    def fail(where: str, expected: str, got: Any) -> SchemaError:
        shown = repr(got)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        name = f"field {where!r}" if where else "the file"
        return SchemaError(f"{what}: {name} must be {expected}, got {shown}")

    if isinstance(schema, Maybe):
        return (
            None
            if value is None
            else validate(value, schema.inner, what=what, path=path)
        )
    if hasattr(
        schema, "fits"
    ):  # a leaf: Number, Whole, Text, Flag, AnyValue, tlbook.config.Domain
        if not schema.fits(value):
            raise fail(path, schema.describe(), value)
        return value
    if isinstance(schema, ListOf):
        if not isinstance(value, list) or len(value) < schema.min_len:
            raise fail(path, schema.describe(), value)
        for i, item in enumerate(value):
            validate(item, schema.item, what=what, path=_where(path, i))
        return value
    if isinstance(schema, (MapOf, Fields)):
        if not isinstance(value, dict):
            raise fail(path, "an object", value)
        if isinstance(schema, MapOf):
            for k, v in value.items():
                validate(v, schema.value, what=what, path=_where(path, k))
            return value
        for k, sub in schema.required.items():
            if k not in value:
                raise SchemaError(f"{what}: field {_where(path, k)!r} is missing")
            validate(value[k], sub, what=what, path=_where(path, k))
        for k, sub in schema.optional.items():
            if k in value:
                validate(value[k], sub, what=what, path=_where(path, k))
        return value
    raise TypeError(f"not a schema: {schema!r}")


def read_json(path: str | os.PathLike, schema: Any, *, what: str | None = None) -> Any:
    """Read the JSON file ``path`` and :func:`validate` it; the file is only read, never changed.

    A file that is missing, unreadable, not JSON (NaN included) or of the
    wrong shape raises a :class:`~tlbook.errors.TlbookError` naming it.
    """
    path = Path(path)
    label = what or show(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputPathError(f"{label} does not exist") from None
    except UnicodeDecodeError:
        raise SchemaError(f"{label} is not a JSON file (not UTF-8 text)") from None
    except OSError as e:
        raise InputPathError(f"{label} cannot be read ({e.strerror or e})") from None

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError) as e:
        raise SchemaError(f"{label} is not valid JSON ({str(e)[:80]})") from None
    return validate(value, schema, what=label)
