"""Figures the chapters draw (images, accuracy bars, learning curves, sampling grids, evaluation plots)
and :func:`glue`, which hands a measured number to the chapter's prose.

Every function returns a matplotlib ``Figure`` made without pyplot, so a
notebook cell that ends with the call shows the figure exactly once, and no
figure stays open afterwards.

>>> import torch
>>> fig = show_images(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), titles=["a", "b"])
>>> len(fig.axes)
2
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.transforms import Bbox

from .lr_finder import LRFinderResult
from .train import History, Recipe, lr_factor

__all__ = [
    "plot_prediction",
    "glue",
    "BookFigure",
    "to_display",
    "show_images",
    "accuracy_bars",
    "plot_history",
    "sampling_grid",
    "plot_confusion",
    "plot_reliability",
    "plot_accuracy_cost",
    "plot_data_curve",
    "plot_robustness",
    "plot_lr_finder",
    "plot_schedule",
    "place_legend",
    "hides_data",
    "LEGEND_SPOTS",
]

TAB10 = colormaps["tab10"].colors  # type: ignore[attr-defined]  # a ListedColormap: one colour per run or class


class _Sentence(str):
    """A glued sentence: shown as its text, not as a quoted Python string."""

    def __repr__(self) -> str:
        return str(self)


def glue(name: str, value: float | int | str) -> float | int | str:
    """Make a measured number (or a sentence built from one) available to the chapter's prose; return it unchanged.

    The markdown writes ``{glue:text}`name:.1f``` where the number belongs, so
    re-running a chapter cannot leave its prose behind (myst-nb's glue). A
    string, such as a paired test's verdict, is inserted as plain text with
    ``{glue:text}`name```. Where myst-nb is not installed (Colab), nothing is
    recorded and the prose shows the role; the value is in the cell's printed
    output.

    >>> glue("example_accuracy", 70.7)
    70.7
    >>> repr(_Sentence("a is better than b"))
    'a is better than b'
    """
    _record(name, _Sentence(value) if isinstance(value, str) else value)
    return value


def glue_sentence(name: str, write: Callable[[str], str]) -> str:
    """Glue the sentence ``write(language)`` in every language the book has; return the English one.

    The English edition pastes ``name`` where its text says ``{glue:text}`name```; the
    edition in another language pastes ``name__<language>`` there (the book's Sphinx
    extension ``_ext/bilingual.py`` looks for it), so a verdict reads in the
    page's language and holds the same numbers.

    >>> glue_sentence("example", lambda language: {"en": "a is better", "zh_CN": "a 更好"}[language])
    'a is better'
    """
    from .config import LANGUAGES

    english = write("en")
    _record(name, _Sentence(english))
    for language in LANGUAGES[1:]:
        _record(f"{name}__{language}", _Sentence(write(language)))
    return english


def _record(name: str, value: float | int | str) -> None:
    """myst-nb's glue, where there is one to record into."""
    try:
        from myst_nb import glue as record
    except ImportError:
        return
    try:
        record(name, value, display=False)
    except (
        Exception
    ):  # no IPython kernel (a plain interpreter, a doctest): nothing to record into
        pass


class BookFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in Jupyter, whatever the backend.

    Figures made without pyplot are not displayed by the inline backend until
    pyplot has been used in the session; ``_repr_png_`` makes the display
    independent of that.

    >>> BookFigure(figsize=(1, 1))._repr_png_()[:4]
    b'\\x89PNG'
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(
            self
        )  # a renderer to measure text with (legend placement), no screen needed

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
        return buffer.getvalue()


# Where a legend may sit inside the axes, in the order tried (the caller's preference first).
LEGEND_SPOTS = (
    "upper right",
    "upper left",
    "lower right",
    "lower left",
    "center right",
    "center left",
    "upper center",
    "lower center",
)


def _data_lines(ax: Axes) -> list[Any]:
    """``ax``'s lines but the reference lines that span the axes (``axvline``, ``axhline``):
    a legend over a stretch of those hides nothing, the rest of the line stays in view."""
    spanning = (
        ax.get_xaxis_transform(which="grid"),
        ax.get_yaxis_transform(which="grid"),
    )
    return [line for line in ax.lines if line.get_transform() not in spanning]


def hides_data(ax: Axes, box: Bbox, *, pad: float = 3.0) -> bool:
    """Whether the display-space ``box`` (a legend's, say) covers any of ``ax``'s data.

    Data are the lines (every segment, not only the vertices; dots alone where
    a line has no line style; not the reference lines that span the axes), error bars and other line collections, filled
    regions' edges, bars and the texts written on the axes. ``pad`` pixels
    around the box stand for marker sizes and line widths.

    >>> fig = BookFigure(figsize=(3, 2))
    >>> ax = fig.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> fig.canvas.draw()
    >>> middle = ax.transData.transform([[0.4, 0.4], [0.6, 0.6]])
    >>> hides_data(ax, Bbox(middle)), hides_data(ax, Bbox(middle + [0, 200]))
    (True, False)
    """
    box = box.padded(pad)
    for line in _data_lines(ax):
        path = line.get_transform().transform_path(line.get_path())
        if line.get_linestyle() in ("None", " ", ""):
            if box.count_contains(path.vertices):
                return True
        elif path.intersects_bbox(box, filled=False):
            return True
    for collection in ax.collections:
        if isinstance(collection, (LineCollection, PolyCollection)):
            to_display = collection.get_transform()
            if any(
                to_display.transform_path(path).intersects_bbox(box, filled=False)
                for path in collection.get_paths()
            ):
                return True
        else:  # dots: their positions
            offsets = collection.get_offset_transform().transform(
                collection.get_offsets()
            )
            if box.count_contains(offsets):
                return True
    for container in ax.containers:
        if isinstance(container, BarContainer) and any(
            bar.get_window_extent().overlaps(box) for bar in container.patches
        ):
            return True
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    return any(
        text.get_visible() and text.get_window_extent(renderer).overlaps(box)
        for text in ax.texts
    )


def place_legend(ax: Axes, *, prefer: str = "upper right", **options: Any) -> Legend:
    """``ax``'s legend where it hides no data: ``prefer`` if clear, else the first clear spot of
    :data:`LEGEND_SPOTS`, else below the axes, as wide as the figure allows.

    Call it once the figure's layout is done (after ``tight_layout``): the test
    is made on the drawn figure, in pixels. ``options`` go to ``ax.legend``.
    matplotlib's ``loc="best"`` weighs line vertices and can still cover an
    error bar or a bar's label; this tests every segment (:func:`hides_data`).

    >>> fig = BookFigure(figsize=(4, 3))
    >>> ax = fig.subplots()
    >>> _ = ax.plot([0, 1], [1, 1], label="high")
    >>> _ = ax.set_ylim(0, 1.1)  # the line runs along the top: the upper spots are taken
    >>> place_legend(ax)._loc == Legend.codes["lower right"]
    True
    """
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    canvas = fig.canvas
    if not isinstance(
        canvas, FigureCanvasAgg
    ):  # a figure made elsewhere: give it a renderer
        canvas = FigureCanvasAgg(fig)
    handles, labels = ax.get_legend_handles_labels()
    for spot in dict.fromkeys((prefer, *LEGEND_SPOTS)):
        legend = ax.legend(handles, labels, **{"loc": spot, **options})
        canvas.draw()
        if not hides_data(ax, legend.get_window_extent(canvas.get_renderer())):
            return legend
    legend.remove()
    # Below everything the axes draw (tick labels, axis labels, texts that spill over),
    # centred, in as many columns as the figure's width holds: the page width stays.
    renderer = canvas.get_renderer()
    bottom = (
        min(
            [box.y0 for a in fig.axes if (box := a.get_tightbbox(renderer)) is not None]
            + [other.get_window_extent(renderer).y0 for other in fig.legends]
        )
        - 4
    )  # pixels; under the legends already placed there too
    anchor = (0.5, bottom / fig.bbox.height)
    for columns in range(max(1, min(len(labels), 3)), 0, -1):
        below = fig.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=anchor,
            ncols=columns,
            **options,
        )
        if columns == 1 or below.get_window_extent(renderer).width <= fig.bbox.width:
            return below
        below.remove()
    raise AssertionError("unreachable: one column always returns")


def to_display(image: torch.Tensor) -> np.ndarray:
    """A ``(3, H, W)`` uint8 or [0, 1] float image as ``(H, W, 3)`` float for imshow."""
    x = image.detach().cpu()
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def show_images(
    images: torch.Tensor | Sequence[torch.Tensor],
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.6,
    suptitle: str | None = None,
) -> Figure:
    """A grid of images ``(N, 3, H, W)`` (uint8 or [0, 1] floats) with optional titles."""
    n = len(images)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = BookFigure(figsize=(size * ncols, size * nrows + (0.3 if titles else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_display(images[i]), interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    for ax in axes.flat[n:]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_prediction(
    images: Sequence[torch.Tensor],
    classes: Sequence[str],
    probabilities: Sequence[float],
    *,
    titles: Sequence[str],
) -> Figure:
    """Photos ``(3, H, W)`` uint8 side by side, then a bar per class of the prediction's probabilities.

    >>> fig = plot_prediction([torch.zeros(3, 8, 8, dtype=torch.uint8)], ["cat", "dog"], [0.9, 0.1],
    ...                       titles=["photo"])
    >>> [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    ['cat', 'dog']
    """
    n = len(images)
    fig = BookFigure(figsize=(2.2 * n + 3.6, 2.4))
    grid = fig.add_gridspec(1, n + 2)
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(to_display(image), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    bars = fig.add_subplot(grid[0, n:])
    y = np.arange(len(classes))
    bars.barh(y, probabilities, color="C0")
    bars.set_yticks(y, list(classes))
    bars.invert_yaxis()  # the most probable class on top
    bars.set_xlim(0, 1)
    bars.set_xlabel("probability")
    for yi, p in zip(y, probabilities):
        inside = p > 0.78  # a long bar carries its label inside, in white
        x = p - 0.02 if inside else p + 0.02
        bars.text(
            x,
            float(yi),
            f"{p:.1%}",
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "black",
            fontsize=9,
        )
    fig.tight_layout()
    return fig


def accuracy_bars(
    results: dict[str, float],
    *,
    title: str = "",
    chance: float | None = None,
    errors: dict[str, float] | None = None,
    show_gains: bool = False,
) -> Figure:
    """Horizontal bars of accuracies (fractions), labelled in percent.

    ``errors`` (fractions, e.g. the standard deviation over seeds) draws error
    bars; ``show_gains`` adds each bar's change from the bar above it (for a
    ladder of cumulative changes).

    >>> fig = accuracy_bars({"a": 0.5, "b": 0.75}, errors={"a": 0.02, "b": 0.01}, show_gains=True)
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['50.0 %', '75.0 % (+25.0)']
    """
    fig = BookFigure(figsize=(7 if show_gains else 6, 0.5 + 0.45 * len(results)))
    ax = fig.subplots()
    names = list(results)
    values = [100 * results[k] for k in names]
    xerr = [100 * errors[k] for k in names] if errors else None
    bars = ax.barh(
        names,
        values,
        xerr=xerr,
        capsize=3 if xerr else 0,
        color=TAB10[: len(names)]
        if len(names) <= 10
        else [TAB10[i % 10] for i in range(len(names))],
    )
    labels = [f"{v:.1f} %" for v in values]
    if show_gains:
        labels = [labels[0]] + [
            f"{lab} ({v - prev:+.1f})"
            for lab, v, prev in zip(labels[1:], values[1:], values)
        ]
    ax.bar_label(bars, labels=labels, padding=3 + (12 if xerr else 0))
    if chance is not None:
        ax.axvline(
            100 * chance, color="grey", linestyle="--", linewidth=1, label="chance"
        )
    ax.set_xlim(0, 115 if show_gains else 105)
    ax.set_xlabel("test accuracy (%)")
    ax.invert_yaxis()
    ax.set_title(title)
    fig.tight_layout()
    if chance is not None:
        place_legend(ax, prefer="lower right")
    return fig


def plot_history(histories: dict[str, History], *, title: str = "") -> Figure:
    """Loss and accuracy per epoch, train (dashed) and validation (solid), for several runs."""
    fig = BookFigure(figsize=(10, 3.5))
    (ax_loss, ax_acc) = fig.subplots(1, 2)
    for i, (name, h) in enumerate(histories.items()):
        colour = TAB10[i % 10]
        epochs = [e.epoch for e in h.epochs]
        ax_loss.plot(epochs, [e.train_loss for e in h.epochs], "--", color=colour)
        ax_acc.plot(
            epochs, [100 * e.train_accuracy for e in h.epochs], "--", color=colour
        )
        if h.epochs and h.epochs[0].val_loss is not None:
            ax_loss.plot(
                epochs,
                [e.val_loss for e in h.epochs],
                "-o",
                color=colour,
                label=name,
                markersize=3,
            )
            ax_acc.plot(
                epochs,
                [100 * (e.val_accuracy or 0.0) for e in h.epochs],
                "-o",
                color=colour,
                label=name,
                markersize=3,
            )
    ax_loss.set(
        xlabel="epoch",
        ylabel="cross-entropy",
        title="loss (dashed: train, solid: validation)",
    )
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if ax_acc.get_legend_handles_labels()[0]:
        place_legend(ax_acc, prefer="lower right")
    return fig


def sampling_grid(
    ax,
    matrix: torch.Tensor,
    *,
    height: int,
    width: int,
    step: int = 4,
    colour: str = "yellow",
) -> None:
    """Draw on ``ax`` where the output pixels sample the input (the inverse map), as a grid.

    ``matrix`` is a forward matrix in centred pixel coordinates; the lines
    show the output's pixel grid mapped back into the input image.
    """
    inverse = torch.linalg.inv(matrix.to(torch.float64))
    ys = torch.arange(0, height + 1, step, dtype=torch.float64)
    xs = torch.arange(0, width + 1, step, dtype=torch.float64)
    fine_x = torch.linspace(0, width, 50, dtype=torch.float64)
    fine_y = torch.linspace(0, height, 50, dtype=torch.float64)

    def back(px: torch.Tensor, py: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # image edge coordinates (0..W) -> centred -> inverse map -> image coordinates for imshow (-0.5 offset)
        pts = torch.stack(
            [px - width / 2, py - height / 2, torch.ones_like(px)]
        )  # (3, M)
        src = inverse @ pts
        return src[0] + width / 2 - 0.5, src[1] + height / 2 - 0.5

    for y in ys:
        sx, sy = back(fine_x, torch.full_like(fine_x, float(y)))
        ax.plot(sx, sy, color=colour, linewidth=0.6)
    for x in xs:
        sx, sy = back(torch.full_like(fine_y, float(x)), fine_y)
        ax.plot(sx, sy, color=colour, linewidth=0.6)
    ax.set_xlim(-0.5 - width * 0.25, width * 1.25 - 0.5)
    ax.set_ylim(height * 1.25 - 0.5, -0.5 - height * 0.25)


def plot_confusion(
    confusion: torch.Tensor, classes: Sequence[str], *, title: str = ""
) -> Figure:
    """The confusion matrix ``(K, K)`` (rows: true class, columns: prediction) as row percentages."""
    counts = confusion.double()
    rows = (
        100 * counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    )  # (K, K) percent of each true class
    fig = BookFigure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    im = ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=100)
    k = len(classes)
    for i in range(k):
        for j in range(k):
            if counts[i, j] > 0:
                ax.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rows[i, j] > 50 else "black",
                )
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title=title or "confusion matrix (counts; colour: % of row)",
    )
    fig.colorbar(im, ax=ax, label="% of the true class")
    fig.tight_layout()
    return fig


def plot_reliability(
    curves: dict[str, dict[str, torch.Tensor]], *, title: str = ""
) -> Figure:
    """Reliability diagrams side by side: accuracy against confidence per bin.

    ``curves`` maps a name to :func:`tlbook.evaluation.reliability`'s output;
    a perfectly calibrated model lies on the diagonal.
    """
    fig = BookFigure(figsize=(4.2 * len(curves), 4))
    axes = np.atleast_1d(fig.subplots(1, len(curves)))
    for ax, (name, r) in zip(axes, curves.items()):
        bins = len(r["count"])
        centres = (np.arange(bins) + 0.5) / bins
        used = r["count"].numpy() > 0
        ax.bar(
            centres[used],
            100 * r["accuracy"].numpy()[used],
            width=1 / bins,
            edgecolor="black",
            color=TAB10[0],
            alpha=0.8,
            label="accuracy in bin",
        )
        ax.plot(
            [0, 1], [0, 100], "--", color="grey", linewidth=1
        )  # perfect calibration
        ax.plot(
            centres[used],
            100 * r["confidence"].numpy()[used],
            "o",
            color=TAB10[3],
            markersize=4,
            label="mean confidence in bin",
        )
        ax.set(
            xlim=(0, 1),
            ylim=(0, 100),
            xlabel="confidence (max probability)",
            ylabel="accuracy (%)",
            title=name,
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    place_legend(
        fig.axes[0], prefer="upper left", fontsize=8
    )  # the same in every panel
    return fig


def plot_accuracy_cost(
    points: dict[str, tuple[float, float, float]],
    *,
    xlabel: str,
    title: str = "",
    goals: dict[str, tuple[float, float]] | None = None,
    legend: bool = False,
) -> Figure:
    """Accuracy against a cost, one labelled point per strategy: ``points[name] = (cost, mean, sd)``.

    The cost axis is logarithmic (trainable parameters span five orders of
    magnitude); accuracies are fractions, drawn in percent with the standard
    deviation as error bars. Each of ``goals``, ``{label: (accuracy, cost)}``,
    is drawn as a shaded corner: a point inside it (at least that accuracy for
    at most that cost) meets it. ``legend`` names the points in a legend beside
    the axes instead of next to each point (for points too close to label).

    >>> fig = plot_accuracy_cost({"probe": (1e4, 0.6, 0.01), "full": (3e6, 0.7, 0.02)}, xlabel="parameters")
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['probe', 'full']
    """
    fig = BookFigure(figsize=(9.5 if legend else 6.5, 4))
    ax = fig.subplots()
    for i, (name, (cost, mean, sd)) in enumerate(points.items()):
        ax.errorbar(
            [cost],
            [100 * mean],
            yerr=[100 * sd],
            marker="o",
            capsize=3,
            color=TAB10[i % 10],
            label=name,
        )
    ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="test accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    goals = goals or {}
    costs = [c for c, _, _ in points.values()] + [c for _, c in goals.values()]
    lo, hi = math.log10(min(costs)), math.log10(max(costs))
    ax.set_xlim(10 ** (lo - 0.6), 10 ** (hi + 0.6))  # room for the labels on both sides
    accuracies = [100 * m for _, m, _ in points.values()] + [
        100 * a for a, _ in goals.values()
    ]
    span = max(accuracies) - min(accuracies) or 1.0
    ax.set_ylim(min(accuracies) - 0.12 * span, max(accuracies) + 0.12 * span)
    for label, (
        accuracy,
        cost,
    ) in goals.items():  # the corner "at least this accuracy, at most this cost"
        ax.fill_between(
            [10 ** (lo - 0.6), cost],
            100 * accuracy,
            ax.get_ylim()[1],
            color="0.85",
            zorder=0,
        )
        ax.annotate(
            label,
            (cost, 100 * accuracy),
            xytext=(-4, 4),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.35",
        )
    if legend:
        ax.legend(
            loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False
        )
    else:
        _label_points(
            ax,
            {name: (c, 100 * m) for name, (c, m, _) in points.items()},
            gap=0.06 * span,
        )
    fig.tight_layout()
    return fig


def _spread(ys: list[float], *, gap: float) -> list[float]:
    """Label heights for points at heights ``ys`` (descending): each group of labels that would touch is
    spaced ``gap`` apart and centred on its points, until no two labels are closer than ``gap``.

    >>> [round(y, 2) for y in _spread([10.0, 9.9, 9.8, 0.0], gap=1.0)]
    [10.9, 9.9, 8.9, 0.0]
    """
    groups = [[i] for i in range(len(ys))]
    while True:
        placed = []
        for group in groups:
            centre = sum(ys[i] for i in group) / len(group)
            top = centre + gap * (len(group) - 1) / 2
            placed.append([top - gap * k for k in range(len(group))])
        merged = False
        for g in range(len(groups) - 1):
            if (
                placed[g][-1] - placed[g + 1][0] < gap - 1e-9
            ):  # the lowest of one touches the next group
                groups[g : g + 2] = [groups[g] + groups[g + 1]]
                merged = True
                break
        if not merged:
            return [y for group in placed for y in group]


def _label_points(
    ax: Any, points: dict[str, tuple[float, float]], *, gap: float
) -> None:
    """Name each point without labels piling up: points at about the same cost (log scale) form a column,
    whose labels are spread ``gap`` apart vertically, joined to their points by thin lines; columns in the
    right half of the axes are labelled on the left, so no label runs outside the axes."""
    left, right = (math.log10(x) for x in ax.get_xlim())
    columns: list[list[str]] = []
    for name in sorted(points, key=lambda n: math.log10(points[n][0])):
        if (
            columns
            and math.log10(points[name][0]) - math.log10(points[columns[-1][0]][0])
            < 0.3
        ):
            columns[-1].append(name)
        else:
            columns.append([name])
    for column in columns:
        column.sort(key=lambda n: -points[n][1])
        ys = [points[n][1] for n in column]
        placed = _spread(ys, gap=gap)
        xs = [points[n][0] for n in column]
        x = min(xs) if math.log10(max(xs)) > (left + right) / 2 else max(xs)
        on_left = math.log10(max(xs)) > (left + right) / 2
        for name, y_label in zip(column, placed):
            px, py = points[name]
            ax.annotate(
                name,
                (px, py),
                xytext=(x * (10**-0.08 if on_left else 10**0.08), y_label),
                textcoords="data",
                ha="right" if on_left else "left",
                va="center",
                fontsize=9,
                arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6}
                if abs(y_label - py) > 1e-9
                else None,
            )


def plot_data_curve(
    rows: Sequence[dict],
    *,
    val_per_class: int,
    title: str = "",
    reference: tuple[float, str] | None = None,
) -> Figure:
    """Test accuracy against labelled images per class, one line per strategy, mean ± sd over seeds.

    ``rows`` are :func:`tlbook.studies.data_curve`'s rows (``strategy``,
    ``per_class``, ``seed``, ``test_accuracy``); each seed is also drawn as a dot,
    and a strategy measured with one seed only is dashed and says so.
    ``val_per_class``: the labelled validation images per class every run also
    used (to choose its epoch); the axis counts them, so "5 per class" never
    hides the other labels. ``reference = (accuracy, label)`` draws a
    horizontal line to read the curve against (say, the best the network from
    scratch reached).
    """
    fig = BookFigure(figsize=(6.5, 4))
    ax = fig.subplots()
    for i, name in enumerate(dict.fromkeys(r["strategy"] for r in rows)):
        ks = sorted({r["per_class"] for r in rows if r["strategy"] == name})
        accs = [
            np.array(
                [
                    100 * r["test_accuracy"]
                    for r in rows
                    if r["strategy"] == name and r["per_class"] == k
                ]
            )
            for k in ks
        ]
        means = [a.mean() for a in accs]
        sds = [a.std(ddof=1) if len(a) > 1 else 0.0 for a in accs]
        seeds = max(len(a) for a in accs)
        label = (
            f"{name} (mean ± sd, {seeds} seeds)" if seeds > 1 else f"{name} (one seed)"
        )
        ax.errorbar(
            ks,
            means,
            yerr=sds,
            marker="o",
            capsize=3,
            color=TAB10[i],
            label=label,
            linestyle="-" if seeds > 1 else "--",
        )
        for k, a in zip(ks, accs):
            ax.plot([k] * len(a), a, ".", color=TAB10[i], alpha=0.4)
    if reference is not None:
        ax.axhline(
            100 * reference[0],
            color="grey",
            linestyle=":",
            linewidth=1.5,
            label=reference[1],
        )
    ax.set_xscale("log")
    ax.set_xticks(
        sorted({r["per_class"] for r in rows}),
        [str(k) for k in sorted({r["per_class"] for r in rows})],
    )
    ax.set(
        xlabel="labelled training images per class (log scale); every run also"
        f" uses {val_per_class} per class for validation",
        ylabel="test accuracy (%)",
        title=title or "accuracy against labelled data",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    place_legend(ax, prefer="lower right")
    return fig


def plot_robustness(
    results: dict[str, dict[str, Sequence[float]]],
    *,
    severities: Sequence[int],
    clean: dict[str, float],
    title: str = "",
) -> Figure:
    """Accuracy under each corruption against severity; one panel per corruption, one line per model.

    ``results[model][corruption]`` holds one accuracy (fraction) per severity;
    ``clean[model]`` is the accuracy on the uncorrupted images (severity 0).
    """
    corruptions = list(next(iter(results.values())))
    fig = BookFigure(figsize=(3.2 * len(corruptions), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(corruptions), sharey=True))
    xs = [0, *severities]
    for ax, kind in zip(axes, corruptions):
        for i, (model, per_kind) in enumerate(results.items()):
            ax.plot(
                xs,
                [100 * clean[model], *(100 * a for a in per_kind[kind])],
                "-o",
                color=TAB10[i],
                markersize=4,
                label=model,
            )
        ax.set(title=kind.replace("_", " "), xlabel="severity (0: clean)", xticks=xs)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    place_legend(axes[0], fontsize=8)
    return fig


def plot_lr_finder(
    result: LRFinderResult, *, chosen: float | None = None, title: str = ""
) -> Figure:
    """The learning-rate range test: smoothed loss against the rate (log scale), its suggestion and ``chosen``.

    >>> fig = plot_lr_finder(LRFinderResult([1e-4, 1e-3, 1e-2], [2.3, 1.9, 3.0], 1e-3), chosen=2e-3)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    fig = BookFigure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.plot(result.lrs, result.losses, color=TAB10[0])
    ax.axvline(
        result.suggestion,
        color=TAB10[1],
        linestyle="--",
        label=f"finder's suggestion {result.suggestion:.1g}",
    )
    if chosen is not None:
        ax.axvline(
            chosen,
            color=TAB10[2],
            linestyle=":",
            label=f"chosen on validation {chosen:g}",
        )
    ax.set(
        xscale="log",
        xlabel="learning rate (head)",
        ylabel="training loss (smoothed)",
        title=title,
    )
    fig.tight_layout()
    place_legend(ax)
    return fig


def plot_schedule(recipe: Recipe, *, steps_per_epoch: int, title: str = "") -> Figure:
    """The learning rate of every optimiser step under ``recipe`` (peak ``recipe.lr``), warm-up and decay labelled.

    >>> fig = plot_schedule(Recipe(epochs=2, lr=1e-3), steps_per_epoch=10)
    >>> len(fig.axes[0].lines[0].get_xdata())
    20
    """
    total = recipe.epochs * steps_per_epoch
    steps = np.arange(total)
    lrs = [recipe.lr * lr_factor(int(s), total, recipe) for s in steps]
    fig = BookFigure(figsize=(6, 3))
    ax = fig.subplots()
    ax.plot(steps, lrs, color=TAB10[0])
    warm = max(1, round(recipe.warmup * total)) if recipe.schedule != "constant" else 0
    if warm:
        ax.axvspan(
            0, warm, color=TAB10[1], alpha=0.15, label=f"linear warm-up ({warm} steps)"
        )
        ax.annotate(
            "cosine decay", xy=(warm + (total - warm) / 2, recipe.lr / 2), ha="left"
        )
    for e in range(1, recipe.epochs):
        ax.axvline(e * steps_per_epoch, color="grey", linewidth=0.5)
    ax.set(
        xlabel=f"optimiser step (grey lines: epochs of {steps_per_epoch} steps)",
        ylabel="learning rate",
        title=title or f"{recipe.schedule}: peak {recipe.lr:g}",
    )
    fig.tight_layout()
    if warm:
        place_legend(ax)
    return fig
