"""Strategies as data, and one-call runs in the smoke preset."""

import pytest

from tlbook.backbones import count_parameters, get_head
from tlbook.config import get_config
from tlbook.experiment import STRATEGIES, prepare_model, recipe_for, run


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_each_strategy_trains_what_it_says(name):
    recipe = recipe_for(get_config("smoke"), name)
    model, groups = prepare_model("efficientnet_lite0", name, num_classes=10, recipe=recipe)
    head = sum(p.numel() for p in get_head(model, "efficientnet_lite0").parameters())
    trainable = count_parameters(model, trainable_only=True)
    in_groups = sum(p.numel() for g in groups for p in g["params"])
    assert in_groups == trainable
    if name == "linear":
        assert trainable == head
    elif name == "partial":
        assert head < trainable < count_parameters(model)
    else:
        assert trainable == count_parameters(model)
    if name == "discriminative":
        assert {g["lr"] for g in groups} == {recipe.lr, recipe.lr * 0.1}


def test_unknown_strategy():
    with pytest.raises(ValueError, match="known strategies: linear"):
        recipe_for(get_config("smoke"), "frozen")


def test_run_in_the_smoke_preset(dataset_root):
    cfg = get_config("smoke", data=str(dataset_root))
    result = run(cfg, strategy="finetune")
    assert len(result.history.epochs) == cfg.epochs
    assert result.test.confusion.sum() == 3 * cfg.test_per_class
    m = result.metrics()
    assert m["config"]["preset"] == "smoke" and m["strategy"] == "finetune"


def test_run_rejects_an_unknown_backbone_before_loading_data(tmp_path):
    with pytest.raises(ValueError, match="unknown backbone"):
        run(get_config("smoke", backbone="alexnet", data=str(tmp_path / "none")))
