"""The benchmarks run end to end and print one ratio per size (and measure); formatting, not speed."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # benchmarks time real runs: left out of make unit

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline_speed.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pipeline_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_network(*args, **kwargs) -> torch.nn.Module:
    """A few-thousand-parameter stand-in: the test checks the script's table, not a network's speed."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    )


def test_quick_run_prints_a_median_ratio_and_its_range(
    bench, capsys, tmp_path, monkeypatch
):
    # Synthetic images (the conftest hides TLBOOK_DATA); 32 px only, no worker processes, a tiny network: seconds.
    monkeypatch.setattr(bench, "create_model", _tiny_network)
    out_file = tmp_path / "bench.json"
    bench.main(
        [
            "--quick",
            "--rounds",
            "2",
            "--sizes",
            "32",
            "--workers",
            "0",
            "--out",
            str(out_file),
        ]
    )
    out = capsys.readouterr().out
    rows = re.findall(
        r"^\s+32 (data only|whole step)\s+(\d+)\s+(\d+)\s+([\d.]+)x\s+([\d.]+)-([\d.]+)$",
        out,
        re.M,
    )
    assert [r[0] for r in rows] == ["data only", "whole step"], out
    for _, src, ours, median, low, high in rows:
        assert int(src) > 0 and int(ours) > 0
        assert (
            float(low) <= float(median) + 0.05 and float(median) <= float(high) + 0.05
        )
    assert "range of 2 rounds" in out
    ceiling = re.search(
        r"^\s+32 network only\s+(\d+)\s+([\d.]+)x\s+([\d.]+)-([\d.]+)", out, re.M
    )
    assert ceiling and int(ceiling.group(1)) > 0, out
    # --out saves the same rows as printed (book/benchmarks.md copies them; tests/test_claims.py checks the copy).
    saved = json.loads(out_file.read_text())
    assert saved["rounds"] == 2 and saved["data"] == "synthetic"
    assert [(r["size"], r["measure"]) for r in saved["rows"]] == [
        (32, "data only"),
        (32, "whole step"),
        (32, "network only"),
        (32, "vs source as written"),
    ]
    for row, (_, src, ours, median, low, high) in zip(saved["rows"], rows):
        assert (
            f"{row['source_images_per_second']:.0f}",
            f"{row['images_per_second']:.0f}",
        ) == (src, ours)
        assert (
            f"{row['ratio']:.2f}",
            f"{row['ratio_low']:.2f}",
            f"{row['ratio_high']:.2f}",
        ) == (median, low, high)
    assert saved["rows"][2]["source_images_per_second"] is None
    assert f"{saved['rows'][2]['ratio']:.2f}" == ceiling.group(2)
    # The source's loop as its code stands (NCHW, float32) against tlbook's same whole step.
    written = re.search(
        r"^\s+32 vs source as written\s+(\d+)\s+(\d+)\s+([\d.]+)x\s+([\d.]+)-([\d.]+)",
        out,
        re.M,
    )
    assert written and int(written.group(1)) > 0, out
    assert written.group(2) == rows[1][2]  # tlbook's column: the whole step's images/s
    as_written = saved["rows"][3]
    assert f"{as_written['source_images_per_second']:.0f}" == written.group(1)
    assert as_written["images_per_second"] == saved["rows"][1]["images_per_second"]
    assert f"{as_written['ratio']:.2f}" == written.group(3)


def test_as_written_step_keeps_the_default_memory_format(bench, monkeypatch):
    # The source's model stays NCHW; tlbook's goes channels_last, as fit() does.
    made = []
    real_create = bench.create_model

    def create(*args, **kwargs):
        made.append(real_create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(bench, "create_model", create)
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    bench.make_step("efficientnet_lite0", torch.device("cpu"))(
        x.contiguous(memory_format=torch.channels_last), y
    )
    bench.make_step("efficientnet_lite0", torch.device("cpu"), as_written=True)(x, y)
    tlbook_model, source_model = made
    conv = lambda m: next(p for p in m.parameters() if p.ndim == 4)  # noqa: E731
    assert conv(tlbook_model).is_contiguous(memory_format=torch.channels_last)
    assert conv(source_model).is_contiguous() and not conv(source_model).is_contiguous(
        memory_format=torch.channels_last
    )


def test_rounds_must_be_positive(bench):
    with pytest.raises(SystemExit):
        bench.main(["--rounds", "0"])


def test_padding_benchmark_prints_and_saves_one_ratio_per_size(capsys, tmp_path):
    """A formatting check of benchmarks/padding_speed.py at a tiny size (not a speed test)."""
    spec = importlib.util.spec_from_file_location(
        "padding_speed", SCRIPT.parent / "padding_speed.py"
    )
    padding = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(padding)
    out = tmp_path / "padding.json"
    padding.main(["--quick", "--rounds", "1", "--sizes", "32", "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert "ratio tf_/symmetric" in lines[1]
    size, tf_speed, sym_speed, ratio, spread = lines[2].split()
    assert (
        size == "32px"
        and float(tf_speed) > 0
        and float(sym_speed) > 0
        and float(ratio) > 0
    )
    saved = json.loads(
        out.read_text()
    )  # what tools/claims.py quotes on the benchmarks page
    (row,) = saved["rows"]
    assert row["size"] == 32 and f"{row['ratio']:.2f}" == ratio and saved["rounds"] == 1
    with pytest.raises(SystemExit):
        padding.main(["--rounds", "0"])


def test_probe_benchmark_prints_the_ratio_and_agreement(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "probe_speed", SCRIPT.parent / "probe_speed.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out_file = tmp_path / "probe.json"
    args = ["--per-class", "3", "--image-size", "32", "--max-iter", "5"]
    assert module.main([*args, "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"cached probe [\d.]+ s, uncached [\d.]+ s \(\d+ backbone passes\): \d+x", out
    )
    saved = json.loads(out_file.read_text())
    assert saved["same_test_predictions"] is True
    assert saved["backbone_passes_uncached"] > 1


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_frontier_operations_count_what_each_recipe_computes():
    ops = _script("frontier_ops")
    forward, none = ops.operations_per_image("probe", "efficientnet_lite0", 64)
    assert forward > 0 and none == 0
    f_full, step_full = ops.operations_per_image("finetune", "efficientnet_lite0", 64)
    _, step_partial = ops.operations_per_image("partial", "efficientnet_lite0", 64)
    assert f_full == forward  # the same network at the same size
    # A backward pass costs about twice a forward one (the first layer's input needs no gradient);
    # frozen layers need no weight gradients, and nothing below the first trained layer runs backward.
    assert 2.5 * forward < step_full <= 3 * forward
    assert forward < step_partial < step_full
    assert ops.operations_per_image("probe", "efficientnet_lite2", 64)[0] > forward


def test_head_first_counts_its_head_phase_as_a_probe_trains():
    """Head first's first quarter of the epochs trains the head alone: fewer operations than full fine-tuning."""
    ops = _script("frontier_ops")
    size, n = 64, dict(epochs=8, train_images=10, val_images=4)
    forward, step_full = ops.operations_per_image(
        "finetune", "efficientnet_lite0", size
    )
    _, step_head = ops.operations_per_image("linear", "efficientnet_lite0", size)
    assert step_head < step_full
    full = ops.training_operations("finetune", "efficientnet_lite0", size, **n)
    assert full == 8 * (10 * step_full + 4 * forward)
    head_first = ops.training_operations("head_first", "efficientnet_lite0", size, **n)
    assert head_first == 2 * (10 * step_head + 4 * forward) + 6 * (
        10 * step_full + 4 * forward
    )
    assert (
        ops.training_operations("probe", "efficientnet_lite0", size, **n)
        == 14 * forward
    )


def test_frontier_operations_match_the_textbook_count_of_a_small_network(monkeypatch):
    """One 3x3 convolution and a linear layer, counted by hand: 2 operations per multiply-add."""
    import torch
    from torch import nn

    ops = _script("frontier_ops")
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, groups=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)
    )
    out = net[0](torch.zeros(1, 3, 8, 8))
    assert ops._layer_operations(net[0], out) == 2 * (4 * 8 * 8) * 3 * 9
    depthwise = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    assert ops._layer_operations(depthwise, depthwise(out)) == 2 * (4 * 8 * 8) * 1 * 9
    assert ops._layer_operations(net[2], torch.zeros(1, 10)) == 2 * 10 * 256


def test_frontier_benchmark_prints_and_saves_a_fraction_of_peak(capsys, tmp_path):
    from tlbook.studies import FRONTIER

    ops = _script("frontier_ops")
    config = {"preset": "smoke"}
    rows = [
        {
            "recipe": r.name,
            "seed": 0,
            "test_accuracy": 0.5,
            "seconds": 2.0,
            "machine": "m",
        }
        for r in FRONTIER
    ]
    study = tmp_path / "frontier.json"
    study.write_text(json.dumps({"study": "frontier", "config": config, "rows": rows}))
    out_file = tmp_path / "ops.json"
    assert ops.main(["--study", str(study), "--out", str(out_file)]) == 0
    assert "of peak" in capsys.readouterr().out
    saved = json.loads(out_file.read_text())
    assert [r["recipe"] for r in saved["rows"]] == [r.name for r in FRONTIER]
    assert saved["peak_gflop_per_second"] > 0
    assert all(0 < r["fraction_of_peak"] for r in saved["rows"])
