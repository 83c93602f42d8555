"""The systematic defences, tested with generated inputs (hypothesis), not lists of cases.

1. One image decoder with bounds (tlbook.images.decode_image): any bytes give upright RGB of the right size or
   an ImageError that names the file; declared giants and long strips are refused before decoding, within a
   memory cap.
2. Paths are values (tlbook.files.input_path, check_writable, the data loaders, the grader's search): generated
   trees of odd names, links that lead nowhere, loops, empty entries.
3. Every number has a domain (tlbook.config.DOMAINS): Config, Recipe and the command line accept what the
   domain holds and refuse, by name, what it does not; a diverging run stops and writes nothing.
4. Result files have a schema (tlbook.schemas): every field of a valid file removed, retyped or the file
   truncated gives the file's name and the field, never another exception, and the file is left as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from tlbook import schemas
from tlbook.cli import CLI_DOMAINS, CONFIG_FLAGS, build_parser, main
from tlbook.config import DOMAINS, Config, get_config
from tlbook.errors import (
    ConfigError,
    DataError,
    ImageError,
    InputPathError,
    OutputError,
    SchemaError,
    TlbookError,
)
from tlbook.files import AnyValue, check_writable, input_path, read_json, show
from tlbook.images import MAX_ASPECT, MAX_PIXELS, decode_image
from tlbook.train import RECIPE_NUMBERS

SRC = Path(__file__).resolve().parents[1] / "src"
RESULTS = SRC / "tlbook" / "results"
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- 1. the image decoder -----------------------------------------------------------------------------------

# Modes each format can save, as Pillow writes them.
SAVABLE = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"],
    "JPEG": ["L", "RGB", "CMYK"],
    "BMP": ["1", "L", "P", "RGB"],
    "GIF": ["L", "P"],
    "TIFF": ["1", "L", "LA", "RGB", "RGBA", "CMYK", "I;16", "F"],
    "WEBP": ["RGB", "RGBA"],
}
WITH_EXIF = {"JPEG", "PNG", "WEBP"}


@st.composite
def image_files(draw):
    """(bytes, format, mode, (w, h) as stored, EXIF orientation, truncated?)."""
    fmt = draw(st.sampled_from(sorted(SAVABLE)))
    mode = draw(st.sampled_from(SAVABLE[fmt]))
    shape = draw(st.sampled_from(["small", "small", "strip"]))
    if shape == "small":
        w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    else:  # long and thin: within the aspect bound or just beyond it
        w, h = 1, draw(st.integers(2, 30))
        if draw(st.booleans()):
            w, h = h, w
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    if mode in ("I;16", "I"):
        im = Image.fromarray(
            rng.integers(0, 65536, (h, w)).astype(
                np.uint16 if mode == "I;16" else np.int32
            )
        )
    elif mode == "F":
        im = Image.fromarray(rng.random((h, w)).astype(np.float32), "F")
    elif mode in ("RGBA", "LA"):
        im = rgb.convert("RGBA").convert(mode)
    else:
        im = rgb.convert(mode)
    orientation = draw(st.integers(1, 8)) if fmt in WITH_EXIF else 1
    kwargs = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    data = buf.getvalue()
    truncated = draw(st.booleans()) and draw(st.integers(0, 9)) == 0
    if truncated:
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    return data, fmt, mode, (w, h), orientation, truncated


@FAST
@given(image_files(), st.sampled_from([None, 8, 32]))
def test_every_generated_image_decodes_upright_to_rgb_or_names_the_file(
    case, storage_size
):
    data, fmt, mode, (w, h), orientation, truncated = case
    name = f"photo-{fmt}-{mode}.img"
    try:
        out = decode_image(data, name=name, storage_size=storage_size)
    except ImageError as e:
        assert name in str(e)
        # Refused only for a reason: a truncated file, or a shape beyond the bounds.
        assert truncated or max(w, h) > MAX_ASPECT * min(w, h), str(e)
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    if storage_size is not None:
        assert out.shape == (storage_size, storage_size, 3)
        return
    upright = (h, w) if orientation in (1, 2, 3, 4) else (w, h)
    assert out.shape[:2] == upright
    if mode in ("L", "RGB", "1", "CMYK") and not truncated and fmt != "JPEG":
        # Lossless formats: exactly Pillow's own upright RGB.
        reference = np.asarray(
            ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        )
        np.testing.assert_array_equal(out, reference)


@FAST
@given(st.binary(max_size=300))
def test_bytes_that_are_not_an_image_are_a_named_error(data):
    with contextlib.suppress(
        ImageError
    ):  # a few random bytes can be a valid tiny image (a PBM, say)
        out = decode_image(data, name="junk.jpg", storage_size=16)
        assert out.shape == (16, 16, 3)
        return
    with pytest.raises(ImageError, match="junk.jpg"):
        decode_image(data, name="junk.jpg", storage_size=16)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_phone_photo_comes_out_upright(orientation):
    """A JPEG with EXIF orientation decodes as PIL.ImageOps.exif_transpose shows it (lossy: compared coarsely)."""
    im = Image.new("RGB", (64, 32), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 16, 16))  # a blue corner marks the top left as stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    reference = np.asarray(
        ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))).convert("RGB")
    )
    out = decode_image(buf.getvalue(), name="phone.jpg", storage_size=None)
    assert out.shape == reference.shape
    assert np.abs(out.astype(int) - reference.astype(int)).mean() < 2


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds one tiny compressed row: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@FAST
@given(st.integers(1, 60_000), st.integers(1, 60_000))
def test_a_declared_size_beyond_the_bounds_is_refused_before_decoding(width, height):
    assume(
        width * height > MAX_PIXELS
        or max(width, height) > MAX_ASPECT * min(width, height)
    )
    with pytest.raises(ImageError, match="bomb.png.*pixels"):
        decode_image(_png_header(width, height), name="bomb.png", storage_size=256)


@pytest.mark.slow
def test_giants_and_strips_stay_within_a_memory_cap(tmp_path):
    """In a process whose address space is capped at 1 GiB above what it uses, declared giants and strips are
    refused with ImageError: never a MemoryError, a crash or another exception."""
    script = f"""
import io, resource, sys
sys.path.insert(0, {str(SRC)!r})
import numpy as np
from PIL import Image
from tlbook.errors import ImageError
from tlbook.images import decode_image
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_defences import _png_header
with open("/proc/self/status") as f:
    used = [int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize")][0]
resource.setrlimit(resource.RLIMIT_AS, (used + 2**30, used + 2**30))
strip = io.BytesIO(); Image.new("RGB", (1, 20000)).save(strip, "PNG")
cases = [_png_header(16000, 16000), _png_header(60000, 60000), _png_header(1, 20000), strip.getvalue(),
         _png_header(8000, 8001)]
for data in cases:
    try:
        decode_image(data, name="giant.png", storage_size=256)
        print("decoded")
    except ImageError as e:
        print("refused", "giant.png" in str(e))
# The generated images too, all of them decoded under the same cap.
from test_defences import test_every_generated_image_decodes_upright_to_rgb_or_names_the_file as generated
generated()
print("generated: ok")
"""
    assert "torch" not in script
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:5] == ["refused True"] * 5, (
        proc.stdout + proc.stderr
    )


def test_a_training_folder_with_a_bad_image_names_it(tmp_path):
    root = make_image_folder(tmp_path / "photos", per_class=3)
    (root / "circle" / "0001.png").write_text("this is not a picture")
    with pytest.raises(ImageError, match=r"circle/0001\.png"):
        from tlbook.data import load_image_folder

        load_image_folder(root)


# --- 2. paths are values --------------------------------------------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(
        ["a", "b c", "猫", "x.png", "-dash", "ends.", "new\nline", "tab\t"]
    ),
    st.binary(min_size=1, max_size=8).map(
        lambda b: os.fsdecode(bytes(c for c in b if c not in (0, 47)) or b"z")
    ),  # any bytes a Linux name may hold: not valid UTF-8 too
).filter(lambda n: n not in (".", "..") and "/" not in n and "\0" not in n)
KINDS = st.sampled_from(
    [
        "image",
        "empty file",
        "text as .png",
        "dangling link",
        "loop",
        "folder",
        "link to folder",
    ]
)


def _make_tree(root: Path, entries: list[tuple[str, str, str]]) -> None:
    """``root/<class>/<name>`` for each (class, name, kind)."""
    rng = np.random.default_rng(0)
    for cls, name, kind in entries:
        folder = root / cls
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            continue
        path = folder / name
        if os.path.lexists(path):
            continue
        if kind == "image":
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                path, "PNG"
            )
        elif kind == "empty file":
            path.write_bytes(b"")
        elif kind == "text as .png":
            path.write_text("hello")
        elif kind == "dangling link":
            path.symlink_to(root / "nowhere")
        elif kind == "loop":
            path.symlink_to(path)
        elif kind == "folder":
            path.mkdir()
        else:
            path.symlink_to(folder)


@FAST
@given(
    st.lists(
        st.tuples(NAMES, NAMES.map(lambda n: n + ".png"), KINDS), min_size=1, max_size=8
    )
)
def test_a_generated_data_folder_loads_or_names_what_is_wrong(
    tmp_path_factory, entries
):
    from tlbook.data import load_splits

    root = tmp_path_factory.mktemp("data")
    _make_tree(root, entries)
    try:
        train, val, test = load_splits(
            data=str(root), train_per_class=1, val_per_class=0, test_per_class=1
        )
    except TlbookError as e:
        message = str(e)
        message.encode("utf-8")  # printable: no lone surrogate
        assert "\n" not in message
        return
    assert len(train) == len(test) and train.images.dtype.is_floating_point is False


@FAST
@given(
    st.sampled_from(
        ["", " ", ".", "missing", "file", "dangling", "loop", "folder", "odd"]
    )
)
def test_input_paths_work_or_are_named(tmp_path_factory, which):
    base = tmp_path_factory.mktemp("paths")
    (base / "file").write_text("x")
    (base / "folder").mkdir()
    (base / "dangling").symlink_to(base / "nowhere")
    (base / "loop").symlink_to(base / "loop")
    odd = base / os.fsdecode(b"caf\xe9")
    odd.mkdir()
    value = {"": "", " ": " ", ".": ".", "odd": str(odd)}.get(which, str(base / which))
    for kind in ("folder", "file"):
        try:
            path = input_path(value, kind=kind, what="--data")
        except InputPathError as e:
            text = str(e)
            text.encode("utf-8")
            assert text.startswith("--data")
            assert which not in ("folder", "odd", ".") or kind == "file"
        else:
            assert path.is_dir() if kind == "folder" else path.is_file()


@FAST
@given(
    st.sampled_from(
        ["new", "file", "dangling", "loop", "folder", "under-file", "odd", ""]
    ),
    st.booleans(),
)
def test_output_paths_are_checked_before_any_work(tmp_path_factory, which, folder):
    base = tmp_path_factory.mktemp("out")
    (base / "file").write_text("x")
    (base / "folder").mkdir()
    (base / "dangling").symlink_to(base / "nowhere")
    (base / "loop").symlink_to(base / "loop")
    target = {
        "under-file": str(base / "file" / "run"),
        "odd": str(base / os.fsdecode(b"r\xffn")),
        "": "",
    }.get(which, str(base / which))
    before = sorted(os.listdir(base))
    try:
        check_writable(target, folder=folder)
    except OutputError as e:
        str(e).encode("utf-8")
        assert which in ("file", "dangling", "loop", "under-file", "", "folder"), str(e)
    else:
        assert which in ("new", "odd", "folder", "file")
    assert sorted(os.listdir(base)) == before, "checking leaves nothing behind"


@FAST
@given(
    st.lists(
        st.tuples(NAMES, st.sampled_from([".ipynb", ".IPYNB", ".txt", ""]), KINDS),
        max_size=8,
    )
)
def test_every_entry_of_a_submissions_folder_is_graded_or_reported(
    tmp_path_factory, entries
):
    from tlbook.grading import find_submissions

    root = tmp_path_factory.mktemp("subs")
    _make_tree(root, [("class", name + suffix, kind) for name, suffix, kind in entries])
    graded, skipped = find_submissions(root)
    listed = {p for p in graded} | {p for p, _ in skipped}
    every = {Path(top, n) for top, dirs, files in os.walk(root) for n in files} | {
        Path(top, d)
        for top, dirs, _ in os.walk(root)
        for d in dirs
        if os.path.islink(os.path.join(top, d))
    }
    assert every <= listed
    for p in graded:
        assert p.suffix.lower() == ".ipynb" and p.is_file()
        show(p.relative_to(root)).encode("utf-8")  # a name the grade sheet can hold


# --- 3. every number has a domain ----------------------------------------------------------------------------


def _inside(domain):
    if domain.whole:
        return st.integers(
            int(domain.low) + domain.low_open, int(domain.high) - domain.high_open
        )
    return st.floats(
        domain.low,
        domain.high,
        exclude_min=domain.low_open,
        exclude_max=domain.high_open,
        allow_nan=False,
    )


def _outside(domain):
    below = (
        st.integers(-(2**70), int(domain.low) - (not domain.low_open))
        if domain.whole
        else st.floats(
            -1e30, domain.low, exclude_max=not domain.low_open, allow_nan=False
        )
    )
    above = (
        st.integers(int(domain.high) + (not domain.high_open), 2**70)
        if domain.whole
        else st.floats(
            domain.high, 1e30, exclude_min=not domain.high_open, allow_nan=False
        )
    )
    odd = st.sampled_from(
        [float("nan"), float("inf"), True, "3", 1.5 if domain.whole else "x"]
    )
    return st.one_of(below, above, odd)


CONFIG_FIELDS = [f.name for f in dataclasses.fields(Config) if f.name in DOMAINS]
RECIPE_FIELDS = list(RECIPE_NUMBERS)


@FAST
@given(st.data())
def test_config_and_recipe_accept_their_domain_and_refuse_the_rest_by_name(data):
    from tlbook.train import Recipe

    for name in CONFIG_FIELDS + RECIPE_FIELDS:
        build = (
            (lambda v, name=name: get_config("smoke", **{name: v}))
            if name in CONFIG_FIELDS
            else (lambda v, name=name: Recipe(**{name: v}))
        )
        good = data.draw(_inside(DOMAINS[name]), label=f"{name} inside")
        assert getattr(build(good), name) == good
        bad = data.draw(_outside(DOMAINS[name]), label=f"{name} outside")
        with pytest.raises(
            ConfigError,
            match=f"^{name} must be {DOMAINS[name].describe()}".replace(
                "(", r"\("
            ).replace(")", r"\)"),
        ):
            build(bad)


class _Reached(Exception):
    """Raised by the stand-in for the expensive part: the command line got this far with this config."""


def _text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


FLAG_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "nan",
            "inf",
            "-inf",
            "1e999",
            "0x10",
            "1_000",
            "１２",
            "3.0",
            "--",
            "%d %s",
        ]
    ),
    st.text(max_size=6),
)


@FAST
@given(data=st.data())
def test_the_command_line_runs_or_names_the_flag_never_a_traceback(
    tmp_path_factory, data
):
    """Any value of any numeric flag: accepted and handed on as parsed, or 'error:' naming the flag, exit 2."""
    root = tmp_path_factory.getbasetemp() / "cli-data"
    root.mkdir(exist_ok=True)
    field = data.draw(st.sampled_from(sorted(CONFIG_FLAGS)))
    flag, domain = CONFIG_FLAGS[field], DOMAINS[field]
    text = data.draw(
        st.one_of(_inside(domain).map(_text), _outside(domain).map(_text), FLAG_TEXT),
        label=flag,
    )
    err = io.StringIO()
    with (
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(
            "tlbook.cli.run", _stand_in
        )  # data, weights and training are not what is tested here
        try:
            main(
                [
                    "train",
                    "--preset",
                    "smoke",
                    "--data",
                    str(root),
                    "--out",
                    str(root / "out"),
                    flag,
                    text,
                ]
            )
        except SystemExit as e:
            assert (
                e.code == 2
                and flag in err.getvalue()
                and "Traceback" not in err.getvalue()
            ), err.getvalue()
            assert not (root / "out").exists(), "refused before anything is written"
            return
        except _Reached as reached:
            cfg = reached.args[0]
            assert domain.contains(getattr(cfg, field))
            return
    raise AssertionError(f"{flag} {text!r}: neither refused nor run")


def _stand_in(cfg, **kwargs):
    raise _Reached(cfg)


def test_cli_numbers_outside_the_commands_own_domains_are_refused(capsys):
    for flag, domain, args in [
        ("--seeds", CLI_DOMAINS["seeds"], ["compare"]),
        ("--timeout", CLI_DOMAINS["timeout"], ["grade", ".", "--out", "g.csv"]),
        ("--top", CLI_DOMAINS["top"], ["predict", "photo.jpg", "--run", "run"]),
    ]:
        for value in ("0", "-1", str(int(domain.high) + 1), "nan", "x"):
            with pytest.raises(SystemExit) as e:
                main([*args, flag, value])
            assert e.value.code == 2 and flag in capsys.readouterr().err


def test_every_subcommand_has_help():
    """`--help` of every command prints and exits 0: no help string can break argparse's formatting."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them there only
    for name in [None, *commands]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e:
            main([name, "--help"] if name else ["--help"])
        assert e.value.code == 0 and "usage:" in out.getvalue()
    help_text = commands["train"].format_help()
    for flag in CONFIG_FLAGS.values():
        assert flag in help_text
    assert DOMAINS["image_size"].describe() in " ".join(
        commands["train"].format_help().split()
    )


@pytest.mark.slow
def test_help_of_every_command_in_a_real_process():
    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert {"train", "probe", "predict", "export", "grade"} <= set(commands)
    for name in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "tlbook", name, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("size", [8, 9])
def test_the_smallest_sizes_the_domains_allow_train(dataset_root, tmp_path, size):
    """The low ends of the domains are real: 8 px, a batch of 2, one image per class, one epoch."""
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--out",
                str(out),
                "--quiet",
                "--image-size",
                str(size),
                "--batch-size",
                "2",
                "--per-class",
                "1",
                "--test-per-class",
                "1",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    assert (out / "metrics.json").is_file()


def test_a_diverging_run_stops_naming_the_rate_and_writes_nothing(
    dataset_root, tmp_path, monkeypatch, capsys
):
    import torch

    import tlbook.train

    real = tlbook.train.F.cross_entropy
    monkeypatch.setattr(
        tlbook.train.F,
        "cross_entropy",
        lambda *a, **k: real(*a, **k) * torch.tensor(float("nan")),
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--out",
                str(out),
                "--quiet",
                "--lr",
                "0.5",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "diverged" in err and "0.5" in err and "--lr" in err
    assert not out.exists()


# --- 4. result files have a schema ---------------------------------------------------------------------------


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON value, the root excluded."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(
            value[:2]
        )  # the first rows stand for all: each row has the same schema
    else:
        return
    for k, v in items:
        yield prefix + (k,), v
        yield from _paths(v, prefix + (k,))


def _mutated(doc, path, how):
    doc = json.loads(json.dumps(doc))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    if how == "remove":
        if isinstance(parent, list):
            return None
        del parent[path[-1]]
    else:
        parent[path[-1]] = how
    return doc


def _study_files():
    return sorted(
        p.name for p in RESULTS.glob("*.json") if json.loads(p.read_text()).get("study")
    )


@pytest.mark.parametrize("name", _study_files())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_a_corrupted_study_file_names_itself_and_the_field_and_is_left_untouched(
    name, data, tmp_path
):
    doc = json.loads((RESULTS / name).read_text())
    schemas.validate_study(doc, what=name)  # the committed file is valid
    paths = list(_paths(doc))
    path, _ = data.draw(st.sampled_from(paths))
    how = data.draw(st.sampled_from(["remove", "text", None, [], {}, -1, 1e300, True]))
    mutated = _mutated(doc, path, how)
    assume(mutated is not None and mutated != doc)
    target = tmp_path / name
    text = json.dumps(mutated)
    if data.draw(st.booleans()):
        text = text[
            : data.draw(st.integers(0, len(text) - 1))
        ]  # truncated: an interrupted copy
    target.write_text(text)
    before = target.read_bytes()
    try:
        schemas.validate_study(read_json(target, AnyValue()), what=str(target))
    except SchemaError as e:
        assert str(target) in str(e)
        if "JSON" not in str(e) and len(path) > 0 and not isinstance(path[0], int):
            assert str(path[0]) in str(e) or "study" in str(e), (path, str(e))
    assert target.read_bytes() == before


METRICS_EXAMPLE = {
    "config": dataclasses.asdict(get_config("smoke")),
    "strategy": "finetune",
    "test": {
        "accuracy": 0.5,
        "n": 12,
        "loss": 1.0,
        "per_class_accuracy": {"a": 0.5},
        "confusion": [[1, 1]],
    },
    "trainable_parameters": 10,
    "seconds": 1.5,
}


@FAST
@given(st.data())
def test_a_corrupted_metrics_file_is_refused_by_evaluate_naming_the_field(data):
    from hypothesis import target as _  # noqa: F401 - hypothesis imported for st.data only

    paths = [p for p, _v in _paths(METRICS_EXAMPLE)]
    path = data.draw(st.sampled_from(paths))
    how = data.draw(st.sampled_from(["remove", "50 %", None, [], {}, -1, True]))
    mutated = _mutated(METRICS_EXAMPLE, path, how)
    assume(mutated is not None)
    from tlbook.files import validate

    try:
        validate(mutated, schemas.METRICS, what="metrics.json")
    except SchemaError as e:
        assert str(e).startswith("metrics.json: field") and str(path[0]) in str(e)
    else:  # accepted only where the schema allows it: an optional field, or a value of the declared kind
        assert _allowed(schemas.METRICS, path, how), (path, how)


def _allowed(schema, path, how) -> bool:
    """Whether setting (or removing) the field at ``path`` keeps a document of ``schema`` valid."""
    from tlbook.files import Fields, ListOf, Maybe

    for key in path:
        if isinstance(schema, Fields):
            if key in schema.optional and key not in schema.required:
                return True
            schema = schema.required[key]
        elif isinstance(schema, ListOf):
            schema = schema.item
        else:  # MapOf, AnyValue: any key, any value
            return True
    if how == "remove":
        return False
    if isinstance(schema, Maybe):
        return how is None or schema.inner.fits(how)
    return schema.fits(how) if hasattr(schema, "fits") else False


def test_evaluate_refuses_a_metrics_file_of_the_wrong_shape_before_loading_anything(
    tmp_path, capsys
):
    run = tmp_path / "run"
    run.mkdir()
    bad = {**METRICS_EXAMPLE, "test": {**METRICS_EXAMPLE["test"], "accuracy": "74 %"}}
    (run / "metrics.json").write_text(json.dumps(bad))
    before = (run / "metrics.json").read_bytes()
    assert main(["evaluate", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "metrics.json" in err and "test.accuracy" in err
    assert (run / "metrics.json").read_bytes() == before


def test_a_checkpoint_with_the_wrong_shape_is_named(tmp_path):
    import torch

    from tlbook.checkpoints import CHECKPOINT_FORMAT, load_checkpoint

    path = tmp_path / "model.pt"
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "backbone": "resnet18",
            "classes": "cat,dog",
            "state_dict": {},
        },
        path,
    )
    with pytest.raises(SchemaError, match="model.pt: field 'classes' must be a list"):
        load_checkpoint(path)


def test_the_schemas_accept_every_committed_result():
    for name in _study_files():
        schemas.validate_study(json.loads((RESULTS / name).read_text()), what=name)


def test_data_errors_are_values_too(tmp_path):
    """An empty --data, '.', a file: each a defined answer."""
    from tlbook.data import load_splits

    (tmp_path / "f").write_text("x")
    for value, said in [("", "empty"), (str(tmp_path / "f"), "is a file")]:
        with pytest.raises(DataError, match=said):
            load_splits(data=value)


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c", "c/sub", "c/.hid", "c/sub/deeper", "c/Sub"]),
            st.one_of(
                NAMES, NAMES.map(lambda n: n + ".png"), NAMES.map(lambda n: n + ".JPG")
            ),
            KINDS,
        ),
        max_size=10,
    )
)
def test_the_fast_image_listing_is_rglob_sorted(tmp_path_factory, entries):
    """tlbook.data.image_files walks with os.scandir; on any tree it lists what Path.rglob did, in its order
    (which images a seed draws depends on it)."""
    from tlbook.data import IMAGE_EXTENSIONS, JUNK_NAMES, image_files

    root = tmp_path_factory.mktemp("tree")
    _make_tree(root, entries)
    folder = root / "c"
    if not folder.is_dir():
        return
    reference = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and (p.is_file() or p.is_symlink())
        and not (p.name.startswith(".") or p.name.lower() in JUNK_NAMES)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    assert image_files(folder) == reference
