"""Figures and the augmentation explorer draw what they say, without pyplot state."""

import re
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tlbook.augment import rotation
from tlbook.plots import accuracy_bars, plot_history, sampling_grid, show_images
from tlbook.train import EpochStats, History
from tlbook.widgets import augmentation_explorer, explorer_figure


def test_figures_are_not_left_open():
    before = len(plt.get_fignums())
    fig = show_images(
        torch.zeros(5, 3, 8, 8, dtype=torch.uint8), titles=list("abcde"), ncols=3
    )
    assert len(fig.axes) == 5
    accuracy_bars({"a": 0.5, "b": 0.25}, chance=0.1)
    assert len(plt.get_fignums()) == before


def test_history_plot_has_train_and_validation_lines():
    h = History(
        epochs=[
            EpochStats(e, 1.0 / e, 0.1 * e, 1.2 / e, 0.1 * e, 1e-3, 1.0)
            for e in (1, 2, 3)
        ]
    )
    fig = plot_history({"run": h})
    loss_ax = fig.axes[0]
    assert len(loss_ax.lines) == 2


def test_sampling_grid_of_the_identity_covers_the_image():
    fig = show_images(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    ax = fig.axes[0]
    sampling_grid(ax, torch.eye(3), height=16, width=16, step=4)
    xs = torch.cat([torch.as_tensor(line.get_xdata()) for line in ax.lines])
    assert xs.min() == -0.5 and xs.max() == 15.5


def test_explorer_static_and_live():
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    fig = explorer_figure(image, angle=90.0)
    matrix_text = fig.axes[2].texts[0].get_text()
    expected = rotation(90.0)
    assert f"{expected[0, 1].item():7.3f}" in matrix_text
    widget = augmentation_explorer(image)

    def descendants(w):
        for child in getattr(w, "children", ()):
            yield child
            yield from descendants(child)

    controls = {
        w.description: w for w in descendants(widget) if getattr(w, "description", "")
    }
    assert set(controls) == {
        "angle (deg)",
        "zoom",
        "shift x",
        "shift y",
        "shear (deg)",
        "mirror left-right",
        "interpolation",
    }, controls
    pictures = [w for w in descendants(widget) if isinstance(w, ipywidgets.Image)]
    assert len(pictures) == 1 and pictures[0].value[:4] == b"\x89PNG"
    before = pictures[0].value
    controls["mirror left-right"].value = True
    assert pictures[0].value != before, "moving a control must redraw the picture"


def test_no_output_widgets_in_executed_code():
    """ipywidgets.Output (and interact, built on it) can hang headless execution.

    nbclient mimics an Output widget by writing comm messages to the shell socket
    while it waits on that socket for the cell's reply; now and then the reply is
    lost and the build stalls until its timeout (jupyter/nbclient#312; seen here
    as chapter 2 hanging under load). The book's code and library avoid them.
    """
    root = Path(__file__).resolve().parents[1]
    pattern = re.compile(
        r"\b(Output\(|interact\(|interactive\(|interactive_output\(|interact_manual\()"
    )
    offenders = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for folder in ("src/tlbook", "chapters")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert not offenders, "Output-widget based code found:\n" + "\n".join(offenders)


def test_evaluation_plots_draw_their_data():
    from tlbook.evaluation import reliability
    from tlbook.plots import (
        plot_confusion,
        plot_data_curve,
        plot_reliability,
        plot_robustness,
    )

    fig = plot_confusion(torch.tensor([[3, 1], [0, 4]]), ["cat", "dog"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["1", "3", "4"]  # zero cells left blank

    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    fig = plot_reliability(
        {"before": reliability(probs, torch.tensor([0, 1, 1]), bins=5)}
    )
    assert (
        len(fig.axes[0].patches) == 2
    )  # confidences 0.9 and 0.8 share a bin; 0.6 has its own
    assert list(fig.axes[0].lines[0].get_xdata()) == [
        0,
        1,
    ]  # the diagonal spans the confidence axis

    rows = [
        {"strategy": s, "per_class": k, "seed": seed, "test_accuracy": a}
        for s, base in (("finetune", 0.5), ("scratch", 0.2))
        for k in (5, 10)
        for seed, a in ((0, base), (1, base + 0.1))
    ]
    fig = plot_data_curve(rows, val_per_class=20)
    assert "20 per class for validation" in fig.axes[0].get_xlabel()
    means = [
        line.get_ydata()
        for line in fig.axes[0].lines
        if len(line.get_xdata()) == 2 and line.get_marker() == "o"
    ]
    assert [list(m) for m in means] == [[55.0, 55.0], [25.0, 25.0]]

    fig = plot_robustness(
        {"m": {"blur": [0.5, 0.3]}}, severities=[1, 3], clean={"m": 0.7}
    )
    assert list(fig.axes[0].lines[0].get_ydata()) == [70.0, 50.0, 30.0]


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcdefghij ,()", min_size=1, max_size=30),
        st.tuples(
            st.sampled_from([1e4, 2e4, 2.5e6, 3e6, 3.4e6]),
            st.floats(0.3, 0.8),
            st.floats(0, 0.03),
        ),
        min_size=1,
        max_size=9,
    )
)
def test_accuracy_cost_labels_never_overlap_or_leave_the_axes(points):
    """Chapter 6's figure once piled its strategy labels on each other and ran them outside the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tlbook.plots import plot_accuracy_cost

    fig = plot_accuracy_cost(points, xlabel="trainable parameters")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    from matplotlib.text import Text

    boxes = [
        Text.get_window_extent(text, renderer) for text in ax.texts
    ]  # the words, not their leader lines
    inside = ax.get_window_extent(renderer)
    for i, box in enumerate(boxes):
        assert inside.x0 - 1 <= box.x0 and box.x1 <= inside.x1 + 1, (
            f"label {ax.texts[i].get_text()!r} leaves the axes"
        )
        for other in boxes[i + 1 :]:
            assert not box.overlaps(other), "two labels overlap"


def _legends_cover_nothing(fig) -> None:
    """An independent check of a drawn figure: no legend box holds a point of any line,
    error bar or filled edge (each segment sampled densely), nor meets a bar or a text."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.container import BarContainer

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
    assert legends, "the figure has no legend to check"
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    assert not any(
        a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]
    ), "two legends overlap"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            spanning = (
                ax.get_xaxis_transform(which="grid"),
                ax.get_yaxis_transform(which="grid"),
            )  # axvline, axhline: the rest of such a line stays in view
            paths = [
                (line.get_transform().transform_path(line.get_path()).vertices, line)
                for line in ax.lines
                if line.get_transform() not in spanning
            ] + [
                (c.get_transform().transform_path(p).vertices, c)
                for c in ax.collections
                if isinstance(c, (LineCollection, PolyCollection))
                for p in c.get_paths()
            ]
            for points, artist in paths:
                dots = getattr(artist, "get_linestyle", lambda: "-")() in ("None", "")
                if not dots and len(points) > 1:  # 50 points along every segment
                    t = np.linspace(0, 1, 50)[:, None, None]
                    points = (points[:-1] + t * (points[1:] - points[:-1])).reshape(
                        -1, 2
                    )
                points = points[np.isfinite(points).all(axis=1)]
                inside = (
                    (points[:, 0] > box.x0)
                    & (points[:, 0] < box.x1)
                    & (points[:, 1] > box.y0)
                    & (points[:, 1] < box.y1)
                )
                assert not inside.any(), (
                    f"the legend covers {artist} at {points[inside][0]}"
                )
            for container in ax.containers:
                if isinstance(container, BarContainer):
                    assert not any(
                        b.get_window_extent().overlaps(box) for b in container.patches
                    ), "the legend covers a bar"
            assert not any(
                t.get_window_extent(renderer).overlaps(box) for t in ax.texts
            ), "the legend covers a text"


ACCURACIES = st.floats(0.0, 1.0)


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    strategies=st.integers(1, 3),
    sizes=st.lists(
        st.sampled_from([1, 5, 10, 25, 50, 100, 500]),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    seeds=st.integers(1, 3),
)
def test_the_data_curves_legend_covers_no_data(data, strategies, sizes, seeds):
    """The data curve's legend once covered the fine-tuned curve's error bar at 25 per class."""
    from tlbook.plots import plot_data_curve

    rows = [
        {
            "strategy": f"strategy {i}",
            "per_class": k,
            "seed": s,
            "test_accuracy": data.draw(ACCURACIES),
        }
        for i in range(strategies)
        for k in sizes
        for s in range(seeds)
    ]
    _legends_cover_nothing(plot_data_curve(rows, val_per_class=20))


@settings(max_examples=25, deadline=None)
@given(
    results=st.dictionaries(
        st.text("abcdefgh ", min_size=1, max_size=30),
        ACCURACIES,
        min_size=1,
        max_size=8,
    ),
    spread=st.floats(0.0, 0.1),
    show_gains=st.booleans(),
)
def test_the_accuracy_bars_legend_covers_no_bar_or_label(results, spread, show_gains):
    from tlbook.plots import accuracy_bars

    fig = accuracy_bars(
        results, chance=0.1, errors={k: spread for k in results}, show_gains=show_gains
    )
    _legends_cover_nothing(fig)


@settings(max_examples=15, deadline=None)
@given(data=st.data(), corruptions=st.integers(1, 3), models=st.integers(1, 3))
def test_the_robustness_legend_covers_no_data(data, corruptions, models):
    from tlbook.plots import plot_robustness

    kinds = [f"kind {j}" for j in range(corruptions)]
    results = {
        f"model {i}": {k: [data.draw(ACCURACIES) for _ in range(3)] for k in kinds}
        for i in range(models)
    }
    clean = {m: data.draw(ACCURACIES) for m in results}
    _legends_cover_nothing(plot_robustness(results, severities=[1, 2, 3], clean=clean))


@settings(max_examples=15, deadline=None)
@given(data=st.data(), runs=st.integers(1, 3), epochs=st.integers(1, 30))
def test_the_learning_curves_legend_covers_no_data(data, runs, epochs):
    from tlbook.plots import plot_history
    from tlbook.train import EpochStats, History

    def stats(e):
        return EpochStats(
            e,
            data.draw(st.floats(0.0, 3.0)),
            data.draw(ACCURACIES),
            data.draw(st.floats(0.0, 3.0)),
            data.draw(ACCURACIES),
            1e-3,
            1.0,
        )

    histories = {
        f"run {i}": History(epochs=[stats(e) for e in range(1, epochs + 1)])
        for i in range(runs)
    }
    _legends_cover_nothing(plot_history(histories))


@settings(max_examples=15, deadline=None)
@given(data=st.data(), models=st.integers(1, 3), bins=st.integers(2, 15))
def test_the_reliability_legends_cover_no_bar_and_not_each_other(data, models, bins):
    from tlbook.plots import plot_reliability

    def curve():
        count = torch.tensor(
            [data.draw(st.integers(0, 50)) for _ in range(bins)], dtype=torch.float
        )
        accuracy = torch.tensor([data.draw(ACCURACIES) for _ in range(bins)])
        confidence = torch.tensor([data.draw(ACCURACIES) for _ in range(bins)])
        return {"count": count, "accuracy": accuracy, "confidence": confidence}

    _legends_cover_nothing(
        plot_reliability({f"model {i}": curve() for i in range(models)})
    )


@settings(max_examples=15, deadline=None)
@given(
    losses=st.lists(st.floats(0.1, 5.0), min_size=3, max_size=40),
    suggestion=st.integers(0, 39),
    chosen=st.none() | st.integers(0, 39),
)
def test_the_lr_finders_legend_covers_no_data(losses, suggestion, chosen):
    from tlbook.lr_finder import LRFinderResult
    from tlbook.plots import plot_lr_finder

    lrs = list(np.geomspace(1e-4, 1e-1, len(losses)))
    at = lambda i: lrs[min(i, len(lrs) - 1)]  # noqa: E731
    fig = plot_lr_finder(
        LRFinderResult(lrs, losses, at(suggestion)),
        chosen=None if chosen is None else at(chosen),
    )
    _legends_cover_nothing(fig)
