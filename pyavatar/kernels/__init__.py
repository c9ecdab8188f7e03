"""pyavatar's hot kernels with a PyTorch reference and C++/CUDA/CuPy/Triton backends.

Ops: :func:`grid_sample_3d`, :func:`deform_features`, :func:`dense_warp`,
:func:`relpos_attention`. :func:`backends` reports what can run here and why
anything cannot; see :mod:`pyavatar.kernels.dispatch` for selection rules.
"""

from pyavatar.kernels.dispatch import BackendStatus, BackendUnavailable, backends, get_backend
from pyavatar.kernels.ops import deform_features, dense_warp, grid_sample_3d, relpos_attention

__all__ = [
    "BackendStatus",
    "BackendUnavailable",
    "backends",
    "deform_features",
    "dense_warp",
    "get_backend",
    "grid_sample_3d",
    "relpos_attention",
]
