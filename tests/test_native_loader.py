"""pyavatar._native: the one loader of the compiled modules."""

from __future__ import annotations

import sys

import pytest

import pyavatar
from pyavatar import _native


def test_core_is_the_extension():
    core = _native.core()
    assert core.__name__ == "pyavatar._core"
    assert _native.core() is core


def test_a_module_never_built_is_named_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyavatar._core", None)  # as if the C++ build had not run
    with pytest.raises(ImportError) as e:
        _native.core()
    assert str(e.value).startswith("pyavatar._core was not built")
    assert "pip install --no-build-isolation -e ." in str(e.value)
    with pytest.raises(ImportError, match=r"pyavatar\._none was not built; build it with X$"):
        _native.load("_none", missing="build it with X")


def test_a_broken_module_reports_the_load_failure_and_the_rebuild(tmp_path, monkeypatch):
    # A module that is found but fails while importing, as an extension built for another Python does.
    (tmp_path / "_broken_ext.py").write_text("raise ImportError('undefined symbol: PyFoo')\n")
    monkeypatch.setattr(pyavatar, "__path__", [*pyavatar.__path__, str(tmp_path)])
    with pytest.raises(ImportError, match=r"pyavatar\._broken_ext failed to load \(undefined symbol: PyFoo\)") as e:
        _native.load("_broken_ext")
    assert "pip install --no-build-isolation -e ." in str(e.value)
