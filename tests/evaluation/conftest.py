"""Shared fixtures for the lip-sync evaluation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def espeak():
    """The espeak-ng library (skips when it is missing)."""
    from pyavatar.evaluation.espeak import Espeak, EspeakError

    try:
        return Espeak()
    except EspeakError as e:
        pytest.skip(f"espeak-ng unavailable: {e}")
