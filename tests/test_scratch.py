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


@given(data=st.data(), seeds=st.integers(1, 3), stop=st.integers(0, 6))
def test_longer_schedules_run_only_while_the_longest_still_wins(data, seeds, stop):
    """The study runs schedule by schedule and stops once a longer schedule lost on validation."""
    import types
    from unittest import mock

    import torch

    from tlbook.config import get_config
    from tlbook.studies import scratch_schedules

    val = {
        (long_scratch_label(k), s): data.draw(ACCURACY, label=f"{k}x, seed {s}")
        for k in SCRATCH_SCALES
        for s in range(seeds)
    }
    ran: list[tuple[str, int]] = []

    def fake_run(cfg, *, strategy):
        name = long_scratch_label(cfg.epochs // base.epochs)
        ran.append((name, cfg.seed))
        history = types.SimpleNamespace(
            best_val_accuracy=val[(name, cfg.seed)], best_epoch=1, to_dict=dict
        )
        test = types.SimpleNamespace(
            accuracy=0.5, predictions=torch.zeros(2), labels=torch.zeros(2)
        )
        return types.SimpleNamespace(
            test=test, history=history, trainable_parameters=1, recipe=None, seconds=1.0
        )

    base = get_config("smoke")
    saved: list[list[dict]] = []
    with mock.patch("tlbook.studies.run", fake_run):
        rows = scratch_schedules(base, seeds=tuple(range(seeds)), on_row=saved.append)
        # Resuming from any saved prefix gives the same rows and runs only what is missing.
        prefix = saved[min(stop, len(saved) - 1)]
        ran.clear()
        resumed = scratch_schedules(base, seeds=tuple(range(seeds)), previous=prefix)
    assert resumed == rows and len(ran) == len(rows) - len(prefix)
    # What is saved after each run is every row so far, in the order they ran.
    assert [len(s) for s in saved] == list(range(1, len(rows) + 1))
    assert all(s == rows[: len(s)] for s in saved)
    # Schedule by schedule, every seed before the next schedule, shortest first.
    names = list(dict.fromkeys(r["strategy"] for r in rows))
    mean = {n: sum(val[(n, s)] for s in range(seeds)) / seeds for n in names}
    assert names == [long_scratch_label(k) for k in SCRATCH_SCALES[: len(names)]]
    assert [(r["strategy"], r["seed"]) for r in rows] == [
        (n, s) for n in names for s in range(seeds)
    ]
    # Each schedule before the last one run was still winning (so the next had to run);
    # the study ends converged, or with every schedule measured.
    by_name = {
        n: [r for r in rows if r["strategy"] in names[: i + 1]]
        for i, n in enumerate(names)
    }
    assert all(not scratch_budget(by_name[n])["converged"] for n in names[1:-1])
    assert len(names) == len(SCRATCH_SCALES) or scratch_budget(rows)["converged"]
    assert scratch_budget(rows)["strategy"] == max(names, key=lambda n: mean[n])
