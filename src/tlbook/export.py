"""A trained run as a file that runs without tlbook: ONNX, checked against PyTorch before it is kept.

:func:`export_onnx` writes a folder with two files:

* ``model.onnx`` -- the network with its normalisation inside: input
  ``image``, uint8 ``(batch, 3, size, size)`` RGB; output ``logits``,
  float32 ``(batch, classes)``.
* ``model.json`` -- the class names in output order, the input size, how to
  resize a photo to it, and the check below.

Before the folder appears, ONNX Runtime runs the file on check images (the
caller's, ideally real photos; else seeded noise) and must agree with the
PyTorch model: the same top-1 class for every image and logits within
:data:`TOLERANCE`. A failed check, an error or Ctrl-C leaves nothing behind
(:func:`tlbook.files.atomic_folder`). The ONNX packages are an optional
extra: without them the error names it in one line.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import Preprocessing
from .errors import ExportError, OutputError
from .files import atomic_folder, check_writable, show, write_json_atomic
from .prediction import TrainedRun, load_run

__all__ = ["TOLERANCE", "EXTRA", "ExportError", "export_onnx"]

TOLERANCE = 1e-3  # largest |ONNX Runtime logit - PyTorch logit| accepted (float32, other kernels)
EXTRA = 'pip install "tlbook[export]"'  # onnx, onnxscript (the exporter's), onnxruntime (the check)
FORMAT = "tlbook-onnx-1"


class Normalised(nn.Module):
    """uint8 images ``(B, 3, S, S)`` -> the run's normalisation -> the network's logits ``(B, K)``."""

    def __init__(self, model: nn.Module, pre: Preprocessing) -> None:
        super().__init__()
        self.model = model
        std, mean = torch.tensor(pre.std), torch.tensor(pre.mean)
        # (x / 255 - mean) / std  ==  x * scale - shift, per channel: (1, 3, 1, 1)
        self.scale: torch.Tensor
        self.shift: torch.Tensor
        self.register_buffer("scale", (1.0 / (255.0 * std)).view(1, 3, 1, 1))
        self.register_buffer("shift", (mean / std).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.float() * self.scale - self.shift)


def _require_packages() -> Any:
    try:
        import onnx  # noqa: F401 - the exporter needs it
        import onnxruntime
        import onnxscript  # noqa: F401 - torch's exporter translates with it
    except ImportError as e:
        raise ExportError(f"export needs the package {e.name}: {EXTRA}") from None
    return onnxruntime


def export_onnx(
    run: str | os.PathLike | TrainedRun,
    out: str | os.PathLike,
    *,
    check_images: torch.Tensor | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``out/model.onnx`` and ``out/model.json`` for ``run``; return what ``model.json`` holds.

    ``check_images``: uint8 ``(N, 3, H, W)``, resized to the run's input size
    (default: 8 images of seeded noise). ``out`` must not exist unless
    ``overwrite``; it is replaced whole.
    """
    ort = _require_packages()
    out = Path(out).expanduser()
    if os.path.lexists(out) and not overwrite:
        raise OutputError(
            f"{show(out)} already exists; choose another --out or pass --overwrite"
        )
    check_writable(out, folder=True)
    trained = load_run(run)
    size = trained.preprocessing.size
    real = check_images is not None
    if check_images is None:
        g = torch.Generator().manual_seed(0)
        check_images = torch.randint(0, 256, (8, 3, size, size), generator=g).to(
            torch.uint8
        )
    if (
        check_images.dtype != torch.uint8
        or check_images.ndim != 4
        or check_images.shape[1] != 3
    ):
        raise ExportError(
            f"check images must be uint8 (N, 3, H, W); got {check_images.dtype} {tuple(check_images.shape)}"
        )
    if tuple(check_images.shape[2:]) != (
        size,
        size,
    ):  # to the model's input: (N, 3, size, size)
        check_images = (
            F.interpolate(
                check_images.float(), size=(size, size), mode="bilinear", antialias=True
            )
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
    wrapped = Normalised(trained.model, trained.preprocessing).eval()
    with atomic_folder(out) as tmp:
        batch = torch.export.Dim("batch", min=1, max=4096)
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
            torch.onnx.export(
                wrapped,
                (check_images[:2],),
                tmp / "model.onnx",
                input_names=["image"],
                output_names=["logits"],
                dynamic_shapes={"image": {0: batch}},
                dynamo=True,
                external_data=False,  # one file to take away
                verbose=False,
            )
        session = ort.InferenceSession(
            str(tmp / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        theirs = torch.from_numpy(session.run(None, {"image": check_images.numpy()})[0])
        with torch.no_grad():
            ours = wrapped(check_images)  # (N, K)
        gap = float((theirs - ours).abs().max())
        same_top1 = bool((theirs.argmax(1) == ours.argmax(1)).all())
        if gap > TOLERANCE or not same_top1:
            raise ExportError(
                f"the exported model disagrees with PyTorch on the check images (largest logit "
                f"difference {gap:.2e}, tolerance {TOLERANCE:.0e}; same top-1 for all: {same_top1}); "
                "nothing was written"
            )
        info = {
            "format": FORMAT,
            "classes": list(trained.classes),
            "backbone": trained.backbone,
            "input": {
                "name": "image",
                "dtype": "uint8",
                "shape": ["batch", 3, size, size],
                "layout": "RGB, channels first; normalisation is inside the model",
            },
            "output": {"name": "logits", "shape": ["batch", len(trained.classes)]},
            "preprocessing": {
                **asdict(trained.preprocessing),
                "resize": f"shorter side to {size} px, then centre crop {size} x {size}",
            },
            "check": {
                "images": len(check_images),
                "kind": "given images" if real else "seeded noise",
                "largest_logit_difference": gap,
                "tolerance": TOLERANCE,
                "same_top1": same_top1,
            },
        }
        write_json_atomic(tmp / "model.json", info)
    return info
