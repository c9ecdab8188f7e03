"""A missing optional dependency is reported with the extra that installs it."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_data_tools_without_scipy_name_the_training_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.signal", None)
    monkeypatch.delitem(sys.modules, "pyavatar.data._signal", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'pyavatar\[training\]'"):
        importlib.import_module("pyavatar.data._signal")
    monkeypatch.delitem(sys.modules, "pyavatar.data._signal", raising=False)  # the next import gets scipy back


def test_microphone_without_sounddevice_names_the_mic_extra(monkeypatch):
    from pyavatar.audio import mic
    from pyavatar.audio.mic import AudioDeviceError

    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(AudioDeviceError, match=r"pyavatar\[mic\]"):
        mic._sounddevice()


def test_bench_sample_portrait_without_scikit_image_names_the_bench_extra(monkeypatch):
    from pyavatar.bench.tracking import portrait_image

    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(SystemExit, match=r"needs skimage: pip install 'pyavatar\[bench\]'"):
        portrait_image("astronaut")
