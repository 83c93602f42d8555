"""The ablation ladder's plan: from the source's recipe to the book's, one declared change per rung."""

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from tlbook.backbones import BACKBONES, Preprocessing, preprocessing_for
from tlbook.config import get_config
from tlbook.experiment import recipe_for
from tlbook.studies import LADDER, LADDER_SGD_LRS, ladder_rungs, verdict

STEPS = {s.name: s for s in LADDER}


def _changed(before, after) -> set[str]:
    """Which settings differ between two rungs: recipe fields by name, then the others."""
    out = {
        f.name
        for f in dataclasses.fields(before.recipe)
        if getattr(before.recipe, f.name) != getattr(after.recipe, f.name)
    }
    if before.preprocessing.size != after.preprocessing.size:
        out.add("size")
    if (before.preprocessing.mean, before.preprocessing.std) != (
        after.preprocessing.mean,
        after.preprocessing.std,
    ):
        out.add("mean/std")
    for name in ("eval_mode", "test_augment"):
        if getattr(before, name) != getattr(after, name):
            out.add(name)
    return out


def _declared(step) -> set[str]:
    """What a rung says it changes."""
    out = set(step.recipe) | ({"lr"} if step.lr_grid else set())
    if step.size is not None:
        out.add("size")
    if step.weights_preprocessing is not None:
        out.add("mean/std")
    out |= {n for n in ("eval_mode", "test_augment") if getattr(step, n) is not None}
    return out


@settings(max_examples=60, deadline=None)
@given(
    backbone=st.sampled_from(sorted(BACKBONES)),
    size=st.integers(33, 320),
    preset=st.sampled_from(["smoke", "cpu", "full"]),
    sgd_lr=st.sampled_from((None, *LADDER_SGD_LRS)),
)
def test_every_ladder_goes_from_the_source_to_the_book_one_declared_change_at_a_time(
    backbone, size, preset, sgd_lr
):
    cfg = get_config(preset, backbone=backbone, image_size=size)
    rungs = ladder_rungs(cfg, sgd_lr=sgd_lr)
    first, last = rungs[0][1], rungs[-1][1]
    # The source: SGD at 0.001, 32 px, Normalize(0.5), train-mode evaluation with random transforms.
    assert (first.recipe.optimizer, first.recipe.lr) == ("sgd", 1e-3)
    assert first.preprocessing == Preprocessing(32, (0.5,) * 3, (0.5,) * 3)
    assert (first.eval_mode, first.test_augment) == (False, True)
    # The book: its recipe, the weights' preprocessing at the preset's size, deterministic evaluation.
    assert last.recipe == recipe_for(cfg, "finetune")
    assert last.preprocessing == preprocessing_for(backbone, size)
    assert (last.eval_mode, last.test_augment) == (True, False)
    for (_, before), (name, after) in zip(rungs, rungs[1:]):
        changed = _changed(before, after)
        assert changed <= _declared(STEPS[name]), (name, changed)
        # No rung that changes nothing (the grid's rung may keep the rate it had: a measured choice).
        assert changed or STEPS[name].lr_grid, name


def test_the_mean_std_rung_is_left_out_where_the_weights_expect_the_sources_normalisation():
    names = lambda backbone: [  # noqa: E731
        n for n, _ in ladder_rungs(get_config("cpu", backbone=backbone))
    ]
    assert preprocessing_for("efficientnet_lite0").mean == (0.5,) * 3
    assert "+ the weights' own mean/std" not in names("efficientnet_lite0")
    assert "+ the weights' own mean/std" in names("resnet18")


def test_ladder_verdicts_compare_rungs_over_seeds():
    rows = [
        {"step": step, "seed": seed, "correct": c}
        for seed, (a, b) in enumerate(
            [("1100", "1110"), ("1000", "1110"), ("1100", "1111")]
        )
        for step, c in (("a", a), ("b", b))
    ]
    said = verdict(rows, "b", "a", key="step")
    assert "3 seeds" in said and said.startswith("b is better than a")
