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
    assert budget == {**scratch_budget(rows), "test_accuracy": 0.0}
    mean = {n: sum(val[(n, s)] for s in range(seeds)) / seeds for n in names}
    best = max(mean.values())
    assert mean[budget["strategy"]] == best
    # Ties go to the shorter schedule; converged means some longer schedule was measured and lost.
    assert all(mean[n] < best for n in names[: names.index(budget["strategy"])])
    assert budget["converged"] == (budget["strategy"] != names[-1])
    assert budget["seeds"] == list(range(seeds))


@given(
    scales=st.integers(1, len(SCRATCH_SCALES) - 1),
    seeds=st.integers(2, 4),
    data=st.data(),
)
def test_a_schedule_begun_for_some_seeds_only_decides_nothing_yet(scales, seeds, data):
    """An unfinished study (saved after each run) chooses from its whole schedules, over every seed."""
    names = [long_scratch_label(k) for k in SCRATCH_SCALES[: scales + 1]]
    whole = [
        {
            "strategy": n,
            "seed": s,
            "best_val_accuracy": data.draw(ACCURACY),
            "epochs": 8,
        }
        for n in names[:-1]
        for s in range(seeds)
    ]
    begun = data.draw(
        st.integers(1, seeds - 1), label="seeds of the unfinished schedule"
    )
    partial = [
        {
            "strategy": names[-1],
            "seed": s,
            "best_val_accuracy": data.draw(ACCURACY),
            "epochs": 8,
        }
        for s in range(begun)
    ]
    budget = scratch_budget(whole + partial)
    assert {k: v for k, v in budget.items() if k != "unfinished"} == {
        k: v for k, v in scratch_budget(whole).items() if k != "unfinished"
    }
    assert budget["unfinished"] == [names[-1]] and budget["seeds"] == list(range(seeds))


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


@given(
    scale=st.sampled_from(SCRATCH_SCALES),
    val=ACCURACY,
    seeds=st.integers(1, 5),
    converged=st.booleans(),
    unfinished=st.booleans(),
)
def test_the_budget_sentence_says_the_same_numbers_in_every_language(
    scale, val, seeds, converged, unfinished
):
    import re

    from tlbook.config import LANGUAGES
    from tlbook.studies import scratch_sentence

    budget = {
        "scale": scale,
        "epochs": 8 * scale,
        "val_accuracy": val,
        "seeds": list(range(seeds)),
        "converged": converged,
        "unfinished": ["scratch, 16x epochs"] if unfinished else [],
    }
    said = {lang: scratch_sentence(budget, language=lang) for lang in LANGUAGES}
    numbers = {
        lang: sorted(re.findall(r"\d+(?:\.\d+)?", s)) for lang, s in said.items()
    }
    assert all(n == numbers["en"] for n in numbers.values()), said
    assert f"{100 * val:.1f} %" in said["en"]
    assert ("converged" in said["en"]) and (("not shown" in said["en"]) != converged)


@given(
    converged=st.booleans(),
    needed=st.none() | st.integers(1, 10_000),
    largest=st.integers(1, 10_000),
)
def test_the_words_around_the_budget_never_claim_more_than_the_budget_shows(
    converged, needed, largest
):
    from tlbook.config import LANGUAGES
    from tlbook.studies import labels_needed, scratch_rest_sentence, scratch_state

    budget = {"converged": converged}
    state = {lang: scratch_state(budget, language=lang) for lang in LANGUAGES}
    rest = {lang: scratch_rest_sentence(budget, language=lang) for lang in LANGUAGES}
    # Only a converged baseline is called converged, and only then is the rest of the
    # gap put down to data; each language says it or not alike.
    assert ("not shown" in state["en"]) != converged
    assert ("lacks in data" in rest["en"]) == converged
    assert ("未能证明" in state["zh_CN"]) != converged
    assert ("数据上的欠缺" in rest["zh_CN"]) == converged
    said = {
        lang: labels_needed(needed, largest=largest, language=lang)
        for lang in LANGUAGES
    }
    number = str(needed if needed is not None else largest)
    assert all(number in s for s in said.values()), said
    assert (said["en"] == number) == (needed is not None)


@given(scales=st.lists(st.integers(1, 1000), min_size=1, max_size=8, unique=True))
def test_the_schedule_list_names_every_schedule_in_order_in_every_language(scales):
    import re

    from tlbook.config import LANGUAGES
    from tlbook.studies import scale_list

    for lang in LANGUAGES:
        said = scale_list(sorted(scales), language=lang)
        assert [int(n) for n in re.findall(r"\d+", said)] == sorted(scales), said
