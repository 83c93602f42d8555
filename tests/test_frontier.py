"""The frontier study's verdicts: a goal is met exactly when a recipe reaches it, by the unit of the claim (recipes, averaged over seeds)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlbook.studies import FRONTIER_GOALS, frontier_goals, frontier_summary

recipe_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 3),
        st.floats(0.0, 1.0),
        st.floats(0.5, 1000.0),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda t: (t[0], t[1]),
)


@given(recipe_rows)
def test_a_goal_is_met_exactly_when_a_recipes_means_reach_it(generated):
    rows = [
        {"recipe": r, "seed": s, "test_accuracy": a, "seconds": t}
        for r, s, a, t in generated
    ]
    summary = frontier_summary(rows)
    sentences = frontier_goals(rows)
    assert len(sentences) == len(FRONTIER_GOALS)
    for (accuracy, seconds), sentence in zip(FRONTIER_GOALS, sentences):
        reached = any(
            m["mean"] >= accuracy and m["seconds"] <= seconds for m in summary.values()
        )
        assert (": met by " in sentence) == reached, sentence
        if not reached and any(m["seconds"] <= seconds for m in summary.values()):
            assert "points short" in sentence


def test_summary_averages_over_seeds_not_images():
    rows = [
        {"recipe": "p", "seed": 0, "test_accuracy": 0.5, "seconds": 10.0},
        {"recipe": "p", "seed": 1, "test_accuracy": 0.9, "seconds": 30.0},
    ]
    m = frontier_summary(rows)["p"]
    assert m["mean"] == pytest.approx(0.7) and (m["seeds"], m["seconds"]) == (2, 20.0)
