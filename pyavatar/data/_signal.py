"""SciPy's signal functions for the data tools, or an ImportError naming the ``training`` extra."""

from __future__ import annotations

try:
    from scipy.signal import butter, resample_poly, sosfilt
except ImportError as exc:  # scipy is in the [training] extra, not the runtime dependencies
    raise ImportError(
        f"pyavatar's data and training tools need SciPy ({exc}): pip install 'pyavatar[training]'"
    ) from exc

__all__ = ["butter", "resample_poly", "sosfilt"]
