"""Strategies as data, and one-call runs in the smoke preset."""

import pytest
import torch
from torch import nn

from tlbook import experiment
from tlbook.backbones import count_parameters, get_head
from tlbook.config import get_config
from tlbook.experiment import (
    HEAD_FRACTION,
    LAYER_DECAY,
    STRATEGIES,
    prepare_model,
    recipe_for,
    run,
)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_each_strategy_trains_what_it_says(name):
    recipe = recipe_for(get_config("smoke"), name)
    model, groups = prepare_model(
        "efficientnet_lite0", name, num_classes=10, recipe=recipe
    )
    head = sum(p.numel() for p in get_head(model, "efficientnet_lite0").parameters())
    trainable = count_parameters(model, trainable_only=True)
    in_groups = sum(p.numel() for g in groups for p in g["params"])
    assert in_groups == trainable
    if name in (
        "linear",
        "probe",
    ):  # the probe's head is fitted on cached features instead
        assert trainable == head
    elif name == "partial":
        assert head < trainable < count_parameters(model)
    else:
        assert trainable == count_parameters(model)
    if name == "discriminative":
        assert {g["lr"] for g in groups} == {recipe.lr, recipe.lr * 0.1}
    if (
        name == "layerwise"
    ):  # one rate per stage and the head, falling by LAYER_DECAY per stage
        rates = sorted({g["lr"] for g in groups}, reverse=True)
        assert rates[0] == recipe.lr and len(rates) == 9
        assert all(
            b == pytest.approx(a * LAYER_DECAY) for a, b in zip(rates, rates[1:])
        )


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


@pytest.mark.parametrize(
    "strategy, second_phase_bn_trains",
    [("head_first", False), ("head_first_bn_train", True)],
)
def test_head_first_trains_the_head_then_everything_within_the_budget(
    dataset_root, monkeypatch, strategy, second_phase_bn_trains
):
    cfg = get_config("smoke", data=str(dataset_root), epochs=4)
    calls, bn_modes = [], []
    real_fit = experiment.fit

    def recording_fit(model, train, val, *, recipe, param_groups, **kwargs):
        head = {id(p) for p in get_head(model, cfg.backbone).parameters()}
        trained = {id(p) for g in param_groups for p in g["params"]}
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        before = {
            "running": [m.running_mean.clone() for m in bns],
            "scale": [m.weight.detach().clone() for m in bns],
        }
        phase = len(calls)

        def record(module, args):  # BatchNorm's mode in every training step
            if torch.is_grad_enabled():
                bn_modes.append((phase, module.training))

        hooks = [m.register_forward_pre_hook(record) for m in bns]
        calls.append(
            {
                "epochs": recipe.epochs,
                "lr": recipe.lr,
                "head_only": trained == head,
                "all": trained == {id(p) for p in model.parameters()},
            }
        )
        history = real_fit(
            model, train, val, recipe=recipe, param_groups=param_groups, **kwargs
        )
        for h in hooks:
            h.remove()
        calls[-1]["running_changed"] = any(
            not torch.equal(a, m.running_mean) for a, m in zip(before["running"], bns)
        )
        calls[-1]["scale_changed"] = any(
            not torch.equal(a, m.weight) for a, m in zip(before["scale"], bns)
        )
        return history

    monkeypatch.setattr(experiment, "fit", recording_fit)
    result = run(cfg, strategy=strategy)
    head_epochs = round(HEAD_FRACTION * cfg.epochs)
    assert [c["epochs"] for c in calls] == [head_epochs, cfg.epochs - head_epochs]
    assert calls[0]["head_only"] and calls[0]["lr"] == pytest.approx(
        cfg.lr * STRATEGIES["linear"].lr_scale
    )
    # Phase 1: the frozen backbone's BatchNorm normalises with ImageNet's statistics.
    assert {mode for phase, mode in bn_modes if phase == 0} == {False}
    assert not calls[0]["running_changed"] and not calls[0]["scale_changed"]
    # Phase 2: every layer trains; BatchNorm in inference mode (the Keras guide), or
    # with batch statistics again (the variant measured beside it).
    assert {mode for phase, mode in bn_modes if phase == 1} == {second_phase_bn_trains}
    assert calls[1]["running_changed"] == second_phase_bn_trains
    assert calls[1]["scale_changed"], "BatchNorm's scale and shift learn in phase 2"
    assert calls[1]["all"] and calls[1]["lr"] == pytest.approx(
        recipe_for(cfg, strategy).lr
    )
    assert [e.epoch for e in result.history.epochs] == list(range(1, cfg.epochs + 1))
    assert (
        result.history.best_epoch > head_epochs
    )  # the weights kept are the second phase's


@pytest.mark.parametrize(
    "strategy, bn_trains", [("finetune", True), ("finetune_bn_eval", False)]
)
def test_full_finetuning_with_batchnorm_in_inference_mode_from_the_first_step(
    dataset_root, monkeypatch, strategy, bn_trains
):
    # One phase, every parameter trains; only BatchNorm's mode (and so its running statistics) differs.
    cfg = get_config("smoke", data=str(dataset_root), epochs=2)
    modes = []

    def record(module, args):
        if torch.is_grad_enabled():
            modes.append(module.training)

    real_fit = experiment.fit
    seen = {}

    def recording_fit(model, train, val, *, recipe, param_groups, **kwargs):
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        seen["running"] = [m.running_mean.clone() for m in bns]
        seen["bns"] = bns
        seen["all"] = {id(p) for g in param_groups for p in g["params"]} == {
            id(p) for p in model.parameters()
        }
        hooks = [m.register_forward_pre_hook(record) for m in bns]
        try:
            return real_fit(
                model, train, val, recipe=recipe, param_groups=param_groups, **kwargs
            )
        finally:
            for h in hooks:
                h.remove()

    monkeypatch.setattr(experiment, "fit", recording_fit)
    run(cfg, strategy=strategy)
    assert seen["all"] and set(modes) == {bn_trains}
    changed = any(
        not torch.equal(a, m.running_mean) for a, m in zip(seen["running"], seen["bns"])
    )
    assert changed == bn_trains
