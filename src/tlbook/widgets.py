"""The augmentation explorer of chapter 2: sliders -> matrix -> image and sampling grid.

The drawing is a plain function (:func:`explorer_figure`), so the static book
can show the same picture for fixed parameters; :func:`augmentation_explorer`
only wires ipywidgets sliders to it. Python callbacks do not run in the
rendered book: there the widget shows the state it was saved with.

>>> import torch
>>> fig = explorer_figure(torch.zeros(3, 16, 16, dtype=torch.uint8), angle=30.0)
>>> [ax.get_title() for ax in fig.axes]
['input and where the output samples it', 'output I_aug = T(I)', 'matrix A (input -> output)']
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from .augment import affine_matrix, warp
from .plots import BookFigure, sampling_grid, to_display

__all__ = ["explorer_figure", "explorer_grid", "augmentation_explorer"]


def explorer_figure(
    image: torch.Tensor,
    *,
    axes: tuple | None = None,
    angle: float = 0.0,
    zoom: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    shear_angle: float = 0.0,
    hflip: bool = False,
    mode: str = "bilinear",
) -> Figure:
    """Input with its sampling grid, the augmented output, and the matrix, for one setting.

    ``image`` is ``(3, H, W)`` uint8; shifts are fractions of the image side.
    ``axes`` draws into three existing axes instead of a new figure.
    """
    _, h, w = image.shape
    a = affine_matrix(
        angle=angle,
        zoom=zoom,
        shift=(shift_x * w, shift_y * h),
        shear_angle=shear_angle,
        hflip=hflip,
    )
    out = warp(image[None].float() / 255, a, mode=mode, padding_mode="zeros")[
        0
    ]  # (3, H, W)
    if axes is None:
        fig = BookFigure(figsize=(10, 3.4))
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1, 0.9]})
    ax_in, ax_out, ax_m = axes
    fig = ax_in.figure
    ax_in.imshow(to_display(image), interpolation="nearest")
    sampling_grid(ax_in, a, height=h, width=w, step=max(1, h // 8))
    ax_in.set_title("input and where the output samples it", fontsize=9)
    ax_out.imshow(to_display(out), interpolation="nearest")
    ax_out.set_title("output I_aug = T(I)", fontsize=9)
    for ax in (ax_in, ax_out):
        ax.set_xticks([])
        ax.set_yticks([])
    ax_m.axis("off")
    rows = "\n".join("  ".join(f"{v:7.3f}" for v in row) for row in a.tolist())
    ax_m.text(0.0, 0.5, rows, family="monospace", fontsize=10, va="center")
    ax_m.set_title("matrix A (input -> output)", fontsize=9)
    fig.tight_layout()
    return fig


def explorer_grid(image: torch.Tensor, settings: list[dict]) -> Figure:
    """One row of :func:`explorer_figure` panels per setting: the static stand-in for the sliders.

    >>> fig = explorer_grid(torch.zeros(3, 8, 8, dtype=torch.uint8), [dict(angle=10.0), dict(hflip=True)])
    >>> len(fig.axes)
    6
    """
    fig = BookFigure(figsize=(10, 3.0 * len(settings)))
    rows = fig.subplots(
        len(settings), 3, gridspec_kw={"width_ratios": [1.3, 1, 0.9]}, squeeze=False
    )
    for row, setting in zip(rows, settings):
        explorer_figure(image, axes=tuple(row), **setting)
        row[0].set_ylabel(", ".join(f"{k}={v}" for k, v in setting.items()), fontsize=9)
    fig.tight_layout()
    return fig


def augmentation_explorer(image: torch.Tensor, *, dpi: int = 80):
    """Sliders for angle, zoom, shift, shear and flip, redrawing :func:`explorer_figure` live.

    The picture is an ``ipywidgets.Image`` whose PNG bytes each slider move
    replaces; there is deliberately no ``ipywidgets.Output`` (nor ``interact``,
    which uses one). When a notebook is executed headless (the book build,
    nbval, the Colab check), nbclient mimics an Output widget by sending comm
    messages on the shell socket from the coroutine that reads IOPub, while
    another coroutine waits on that socket for the cell's reply; now and then
    the reply is never seen and the build hangs until its timeout
    (jupyter/nbclient#312). An Image widget involves no such traffic.

    >>> import torch
    >>> box = augmentation_explorer(torch.zeros(3, 16, 16, dtype=torch.uint8))
    >>> picture = box.children[-1]
    >>> before = picture.value
    >>> box.children[0].children[0].children[0].value = 45.0  # the angle slider
    >>> picture.value != before
    True
    """
    import io

    import ipywidgets as W

    controls = {
        "angle": W.FloatSlider(
            value=20.0, min=-180.0, max=180.0, step=1.0, description="angle (deg)"
        ),
        "zoom": W.FloatLogSlider(
            value=1.2, base=2, min=-1.5, max=1.5, step=0.05, description="zoom"
        ),
        "shift_x": W.FloatSlider(
            value=0.0, min=-0.5, max=0.5, step=0.02, description="shift x"
        ),
        "shift_y": W.FloatSlider(
            value=0.0, min=-0.5, max=0.5, step=0.02, description="shift y"
        ),
        "shear_angle": W.FloatSlider(
            value=0.0, min=-45.0, max=45.0, step=1.0, description="shear (deg)"
        ),
        "hflip": W.Checkbox(value=False, description="mirror left-right"),
        "mode": W.ToggleButtons(
            options=["bilinear", "nearest"], description="interpolation"
        ),
    }
    picture = W.Image(format="png")

    def redraw(_change: object = None) -> None:
        fig = explorer_figure(image, **{name: c.value for name, c in controls.items()})
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=dpi)
        picture.value = png.getvalue()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    sliders = list(controls.values())
    return W.VBox([W.HBox([W.VBox(sliders[:4]), W.VBox(sliders[4:])]), picture])
