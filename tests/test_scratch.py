"""The from-scratch baseline's schedule is chosen on validation, and called converged only when a longer one lost."""

from hypothesis import given
from hypothesis import strategies as st

from tlbook.studies import SCRATCH_SCALES, long_scratch_label, scratch_budget

ACCURACY = st.integers(0, 200).map(lambda k: k / 200)  # 200 validation images


@given(
    scales=st.integers(2, len(SCRATCH_SCALES)),
    seeds=st.integers(1, 4),
    data=st.data(),
)
def test_the_chosen_schedule_is_the_best_on_validation_and_converged_only_if_a_longer_one_lost(
    scales, seeds, data
):
    names = [long_scratch_label(k) for k in SCRATCH_SCALES[:scales]]
    val = {
        (n, s): data.draw(ACCURACY, label=f"{n}, seed {s}")
        for n in names
        for s in range(seeds)
    }
    rows = [
        {"strategy": n, "seed": s, "best_val_accuracy": a, "epochs": 8}
        for (n, s), a in val.items()
    ]
    # A test accuracy would change nothing: the choice never reads the test set.
    budget = scratch_budget([{**r, "test_accuracy": 0.0} for r in rows])
    assert budget == scratch_budget(rows)
    mean = {n: sum(val[(n, s)] for s in range(seeds)) / seeds for n in names}
    best = max(mean.values())
    assert mean[budget["strategy"]] == best
    # Ties go to the shorter schedule; converged means some longer schedule was measured and lost.
    assert all(mean[n] < best for n in names[: names.index(budget["strategy"])])
    assert budget["converged"] == (budget["strategy"] != names[-1])
    assert budget["seeds"] == list(range(seeds))


def test_only_seeds_that_ran_every_schedule_count():
    rows = [
        {"strategy": n, "seed": s, "best_val_accuracy": a, "epochs": 8}
        for n, s, a in (
            ("scratch", 0, 0.30),
            ("scratch, 4x epochs", 0, 0.40),
            ("scratch", 1, 0.35),  # seed 1 has not run 4x yet
        )
    ]
    budget = scratch_budget(rows)
    assert budget["seeds"] == [0] and budget["strategy"] == "scratch, 4x epochs"
    assert not budget[
        "converged"
    ]  # the longest measured won: a longer one might still help
