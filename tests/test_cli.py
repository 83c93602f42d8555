"""python -m tlbook end to end, in the smoke preset, on a folder made on the spot."""

import dataclasses
import json
import subprocess
import sys

import pytest

from tlbook.cli import main


def test_help_names_the_presets_that_exist(capsys):
    """The epilog's list of presets is the real one (it once offered a 'gpu' preset that did not exist)."""
    import re

    from tlbook.config import PRESETS

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    named = re.search(r"TLBOOK_PRESET \(([^)]*)\)", out).group(1)
    assert sorted(name.strip() for name in named.split("|")) == sorted(PRESETS)


def test_train_then_evaluate(dataset_root, tmp_path, capsys):
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
                "--strategy",
                "linear",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["strategy"] == "linear" and metrics["config"]["preset"] == "smoke"
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["test"]["n"] == 12
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt"]
    capsys.readouterr()
    assert (
        main(["evaluate", "--run", str(out), "--json", str(tmp_path / "eval.json")])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"{metrics['test']['accuracy']:.1%}" in printed  # same number read back
    assert json.loads((tmp_path / "eval.json").read_text())[
        "accuracy"
    ] == pytest.approx(metrics["test"]["accuracy"])


def test_compare_writes_a_table(dataset_root, tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--strategies",
                "linear",
                "scratch",
                "--quiet",
                "--out",
                str(tmp_path / "cmp.json"),
            ]
        )
        == 0
    )
    rows = json.loads((tmp_path / "cmp.json").read_text())
    assert [r["strategy"] for r in rows] == ["linear", "scratch"]
    assert "linear - scratch:" in capsys.readouterr().out


def test_flags_printed_for_saved_studies_exist_on_the_command_line():
    from tlbook.cli import CONFIG_FLAGS as _FLAGS
    from tlbook.cli import build_parser

    for field, flag in _FLAGS.items():
        args = build_parser().parse_args(
            ["study", "ladder", "--out", "x.json", flag, "9"]
        )
        assert getattr(args, field) == 9, (field, flag)


def test_compare_repeats_with_seeds_and_prints_the_mean(dataset_root, tmp_path, capsys):
    assert (
        main(
            [
                "compare",
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--strategies",
                "linear",
                "scratch",
                "--seed",
                "3",
                "--seeds",
                "2",
                "--quiet",
                "--out",
                str(tmp_path / "cmp.json"),
            ]
        )
        == 0
    )
    rows = json.loads((tmp_path / "cmp.json").read_text())
    assert [(r["strategy"], r["config"]["seed"]) for r in rows] == [
        ("linear", 3),
        ("scratch", 3),
        ("linear", 4),
        ("scratch", 4),
    ]
    out = capsys.readouterr().out
    assert "mean of 2 seeds: linear" in out
    assert "linear - scratch:" in out and "(mean of 2 seeds)" in out


def test_bad_data_fails_cleanly_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--preset",
            "smoke",
            "--data",
            str(tmp_path / "missing"),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 2
    assert "TLBOOK_DATA" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_non_empty_output_folder_is_refused(dataset_root, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
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
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_unknown_backbone_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--backbone", "vgg16", "--out", "x"])
    assert "efficientnet_lite0" in capsys.readouterr().err


def test_evaluate_missing_run(tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path)]) == 2
    assert "metrics.json does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_runs(dataset_root, tmp_path):
    """The real command line, as a user types it, in a fresh process."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tlbook",
            "train",
            "--preset",
            "smoke",
            "--data",
            str(dataset_root),
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and (out / "model.pt").is_file()


@pytest.mark.parametrize(
    "name", ["ladder", "strategies", "scratch", "curve", "sweep", "frontier"]
)
def test_studies_write_their_rows(dataset_root, tmp_path, name, capsys):
    out = tmp_path / f"{name}.json"
    extra = {
        "curve": ["--sizes", "2", "4", "--seeds", "1"],
        "strategies": ["--seeds", "2"],
        "scratch": ["--seeds", "2", "--epochs", "1"],
        "frontier": ["--seeds", "2"],
    }.get(name, [])
    assert (
        main(
            [
                "study",
                name,
                "--preset",
                "smoke",
                "--data",
                str(dataset_root),
                "--out",
                str(out),
                "--quiet",
                *extra,
            ]
        )
        == 0
    )
    saved = json.loads(out.read_text())
    assert (
        saved["study"] == name
        and saved["config"]["preset"] == "smoke"
        and saved.get("complete", True)
    )
    # The data folder by name: no absolute path of the machine that measured it.
    assert saved["config"]["data"] == dataset_root.name
    assert str(dataset_root.parent) not in out.read_text()
    assert (
        "validation"
        in saved["choices"]["lr (finetune, and the other strategies' multiples)"]
    )
    rows = saved["rows"]
    if name == "sweep":
        assert all("test_accuracy" not in r for r in rows), (
            "a sweep never reads the test set"
        )
        from tlbook.studies import SWEEP_LRS

        assert (
            {r["strategy"] for r in rows}
            == set(SWEEP_LRS)
            >= {"finetune", "layerwise", "head_first"}
        )
        assert "finetune: chosen on validation: lr" in capsys.readouterr().out
        return
    if name == "ladder":
        from tlbook.config import get_config
        from tlbook.studies import LADDER_SGD_LRS, ladder_rungs

        grid = "+ SGD's rate chosen on validation"
        names = [n for n, _ in ladder_rungs(get_config("smoke"))]
        assert [r["step"] for r in rows] == names and grid in names
        assert (
            rows[0]["size"] == 32
            and rows[0]["optimizer"] == "sgd"
            and rows[-1]["optimizer"] == "adamw"
        )
        by_step = {r["step"]: r for r in rows}
        # The source's evaluation, then model.eval(), then no random test transforms: two rungs.
        assert [(r["eval_mode"], r["test_augment"]) for r in rows[:3]] == [
            (False, True),
            (True, True),
            (True, False),
        ]
        # SGD gets a rate chosen on validation, recorded with every candidate's accuracy, before AdamW.
        candidates = by_step[grid]["lr_candidates"]
        assert [float(k) for k in candidates] == list(LADDER_SGD_LRS)
        best = max(a for a in candidates.values() if a is not None)
        assert candidates[f"{by_step[grid]['lr']:g}"] == best
        assert by_step[grid]["optimizer"] == "sgd"
        # One seed (the smoke preset's), the same test images on every rung.
        assert {r["seed"] for r in rows} == {0} and len(
            {len(r["correct"]) for r in rows}
        ) == 1
        assert all(r["steps"] > 0 for r in rows)
    elif name == "frontier":
        from tlbook.studies import FRONTIER

        assert [(r["seed"], r["recipe"]) for r in rows] == [
            (seed, recipe.name) for seed in (0, 1) for recipe in FRONTIER
        ]
        # The smoke preset scales the cpu preset's sizes (112 px) to its own (32 px).
        assert {r["image_size"] for r in rows} == {32, 64, 46, 74}
        assert all(r["seconds"] > 0 and r["machine"] for r in rows)
        assert all((r["epochs"] is None) == (r["method"] == "probe") for r in rows)
        assert "probe, Lite2, 260 px (native):" in capsys.readouterr().out
    elif name == "scratch":
        from tlbook.studies import scratch_budget

        # Schedule by schedule, shortest first (1x, 4x, 8x, 16x the epochs), every seed each time,
        # until a longer schedule loses on validation.
        names = list(dict.fromkeys(r["strategy"] for r in rows))
        assert [(r["strategy"], r["seed"], r["epochs"]) for r in rows] == [
            (label, seed, epochs)
            for label, epochs in (
                ("scratch", 1),
                ("scratch, 4x epochs", 4),
                ("scratch, 8x epochs", 8),
                ("scratch, 16x epochs", 16),
            )[: len(names)]
            for seed in (0, 1)
        ]
        budget = scratch_budget(rows)
        assert budget["seeds"] == [0, 1] and len(names) >= 2
        assert budget["converged"] == (budget["strategy"] != names[-1])
        assert budget["converged"] or len(names) == 4
        assert "chosen on validation: scratch" in capsys.readouterr().out
    elif name == "strategies":
        from tlbook.studies import LONG_SCRATCH
        from tlbook.studies import TRAINED_STRATEGIES as STRATEGIES

        # Each strategy, then the BatchNorm trap, per seed; last, scratch at 4x the epochs (seed 0).
        n = len(STRATEGIES)
        assert [r["seed"] for r in rows] == [0] * (n + 1) + [1] * (n + 1) + [0]
        assert [r["strategy"] for r in rows[:n]] == list(STRATEGIES)
        assert rows[n]["strategy"].startswith("linear, BatchNorm not frozen")
        assert rows[-1]["strategy"] == LONG_SCRATCH == "scratch, 4x epochs"
        assert (
            rows[-1]["epochs"] == 4 * rows[list(STRATEGIES).index("scratch")]["epochs"]
        )
        assert all(
            len(r["correct"]) == 12 and set(r["correct"]) <= {"0", "1"} for r in rows
        )  # 3 classes x 4
    else:
        from tlbook.studies import LONG_SCRATCH

        assert {(r["strategy"], r["per_class"]) for r in rows} == {
            (s, k) for s in ("finetune", "scratch", LONG_SCRATCH) for k in (2, 4)
        }
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in rows)


def test_chapters_load_saved_studies_or_compute(dataset_root, tmp_path, capsys):
    from tlbook.config import get_config
    from tlbook.studies import load_or_run

    cfg = get_config("smoke", data=str(dataset_root))
    config = dataclasses.asdict(cfg)
    rows = [
        {
            "step": "x",
            "seed": 0,
            "test_accuracy": 0.5,
            "correct": "10",
            "size": 32,
            "optimizer": "sgd",
            "lr": 0.001,
            "batch_size": 100,
            "steps": 80,
            "seconds": 1.0,
        }
    ]
    (tmp_path / "ladder-smoke.json").write_text(
        json.dumps({"study": "ladder", "config": config, "rows": rows})
    )
    assert load_or_run("ladder", cfg, folder=tmp_path) == rows
    assert (
        "python -m tlbook study ladder --preset smoke --out" in capsys.readouterr().out
    )
    # A study saved with other settings prints the flags that reproduce it.
    saved = {**config, "image_size": 96, "lr": 0.004}
    (tmp_path / "ladder-smoke.json").write_text(
        json.dumps({"study": "ladder", "config": saved, "rows": rows})
    )
    load_or_run("ladder", cfg, folder=tmp_path)
    assert (
        "study ladder --preset smoke --image-size 96 --lr 0.004 --out"
        in capsys.readouterr().out
    )
    (tmp_path / "curve-smoke.json").write_text(
        json.dumps({"study": "ladder", "config": config, "rows": []})
    )
    with pytest.raises(ValueError, match="holds the 'ladder' study, not 'curve'"):
        load_or_run("curve", cfg, folder=tmp_path)
    with pytest.raises(ValueError, match="unknown study"):
        load_or_run("zoo", cfg, folder=tmp_path)


def test_resnet18_without_weights_is_a_clear_error(
    dataset_root, tmp_path, monkeypatch, capsys
):
    import urllib.error

    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(
        torch.hub,
        "load_state_dict_from_url",
        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("offline")),
    )
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--backbone",
            "resnet18",
            "--preset",
            "smoke",
            "--data",
            str(dataset_root),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "resnet18-f37072fd.pth" in err and "efficientnet_lite0" in err
    assert not out.exists()
