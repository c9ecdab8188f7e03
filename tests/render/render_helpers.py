"""Helpers shared by the renderer tests."""

from __future__ import annotations

import torch

BACKENDS = ("cpp", "torch")


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference, as float."""
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return float((a.double() - b.double()).abs().max())


#: A LivePortrait config small enough to run the whole neural path in a test (random weights, tiny widths).
TINY_LP_CONFIG = {
    "appearance_feature_extractor_params": {
        "block_expansion": 4,
        "max_features": 32,
        "reshape_channel": 2,
        "num_resblocks": 1,
    },
    "motion_extractor_params": {"_reduced_backbone": {"depths": [1, 1, 1, 1], "dims": [4, 8, 8, 16]}},
    "warping_module_params": {
        "block_expansion": 1,
        "max_features": 32,
        "reshape_channel": 2,
        "dense_motion_params": {"block_expansion": 2, "max_features": 8, "compress": 1},
    },
    "spade_generator_params": {"block_expansion": 1, "max_features": 4, "out_channels": 2, "spade_hidden": 8},
    "stitching_retargeting_module_params": {
        "stitching": {"input_size": 126, "hidden_sizes": [8], "output_size": 65},
        "lip": {"input_size": 65, "hidden_sizes": [8], "output_size": 63},
        "eye": {"input_size": 66, "hidden_sizes": [8], "output_size": 63},
    },
}
