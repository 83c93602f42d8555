"""The runtime report Colab's setup cell prints: the device found, and on a CPU how to get a GPU."""

import torch

from tlbook.devices import runtime_report


def test_on_a_cpu_it_says_how_to_switch_to_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = runtime_report()
    assert report.startswith("Running on the CPU") and "Change runtime type" in report
    assert "the numbers stay those of the page" in report.lower()


def test_on_a_gpu_it_names_the_gpu_and_the_full_preset(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    report = runtime_report()
    assert (
        report.startswith("Running on a GPU (Tesla T4)")
        and "TLBOOK_PRESET=full" in report
    )
    assert "Change runtime type" not in report
