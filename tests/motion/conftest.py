"""Motion tests run their tiny models on one torch thread."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Applies the root ``one_torch_thread`` to every motion test module."""
