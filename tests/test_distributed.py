"""Training under torchrun (DistributedDataParallel, Gloo on the CPU) matches one process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tlbook.distributed import shard, world

pytestmark = pytest.mark.slow  # launches processes with torchrun: left out of make unit


def _train(out: Path, data: Path, *, processes: int) -> subprocess.CompletedProcess:
    # Linear probe: BatchNorm frozen in eval, so each image's gradient is independent of the others in its batch
    # and splitting the batch between processes changes nothing (training BatchNorm is not synchronised on Gloo).
    flags = [
        "train",
        "--preset",
        "smoke",
        "--data",
        str(data),
        "--strategy",
        "linear",
        "--per-class",
        "4",
        "--batch-size",
        "12",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--quiet",
    ]
    if processes == 1:
        cmd = [sys.executable, "-m", "tlbook", *flags]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "tlbook",
            *flags,
        ]
    env = {
        "OMP_NUM_THREADS": "1",
        "PATH": "/usr/bin:/bin",
        "TLBOOK_PRESET": "smoke",
        "MPLBACKEND": "Agg",
        "HOME": str(out.parent),
    }
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_two_processes_train_like_one_with_the_same_global_batch(
    dataset_root, tmp_path
):
    one, two = (
        _train(tmp_path / "one", dataset_root, processes=1),
        _train(tmp_path / "two", dataset_root, processes=2),
    )
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "metrics.json",
        "model.pt",
    ], "written once"
    assert two.stdout.count("wrote ") == 1, "only rank 0 prints and writes"
    m1, m2 = (
        json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two")
    )
    assert (m1["processes"], m2["processes"]) == (1, 2)
    assert len(m1["history"]["epochs"]) == len(m2["history"]["epochs"]) == 1
    # 3 classes x 4 images = 12 = one global batch: one optimiser step in both runs.
    assert m1["recipe"]["batch_size"] == m2["recipe"]["batch_size"] == 12
    s1 = torch.load(tmp_path / "one" / "model.pt", weights_only=True)["state_dict"]
    s2 = torch.load(tmp_path / "two" / "model.pt", weights_only=True)["state_dict"]
    head = [k for k in s1 if k.startswith("classifier.")]
    assert head, "the head was trained"
    for k in s1:
        assert torch.allclose(s1[k].float(), s2[k].float(), atol=1e-6, rtol=1e-5), k
    # The test set was scored once per image across the two processes: the same accuracy on the same images.
    assert (
        m1["test"]["n"] == m2["test"]["n"] == 12
        and m1["test"]["accuracy"] == m2["test"]["accuracy"]
    )


def test_a_batch_that_does_not_split_evenly_is_refused_before_training(
    dataset_root, tmp_path
):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "tlbook",
        "train",
        "--preset",
        "smoke",
        "--data",
        str(dataset_root),
        "--batch-size",
        "7",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode != 0
    assert (
        "--batch-size 7 must divide evenly between 2 processes"
        in proc.stderr + proc.stdout
    )
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_alone_there_is_one_process_and_nothing_is_split():
    assert world() == (1, 0)
    assert shard(torch.arange(5)).tolist() == [0, 1, 2, 3, 4]
