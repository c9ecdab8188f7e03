"""JoyVASA (arXiv 2411.09209) motion generator: released checkpoints and sampler.

Its post-processing (motion layout, template, driving keypoints) lives in
:mod:`pyavatar.motion.common.keypoints`, shared with the diffusion model, and is re-exported here.
"""

from pyavatar.motion.common.keypoints import (
    LAYOUT,
    LIP_KEYPOINTS,
    MotionTemplate,
    SourceKeypoints,
    compose_keypoints,
    driving_pose,
    ema_smooth,
    load_template,
    pack,
    rotation_matrix,
    unpack,
)
from pyavatar.motion.joyvasa.loader import ALLOWED_GLOBALS, load_joyvasa, read_checkpoint
from pyavatar.motion.joyvasa.model import JoyVASA, JoyVASAConfig, pad_for_hubert, sinusoid_table
from pyavatar.motion.joyvasa.sampler import SILENCE_PAD, generate, sample_window, window_plan

__all__ = [
    "ALLOWED_GLOBALS",
    "LAYOUT",
    "LIP_KEYPOINTS",
    "SILENCE_PAD",
    "JoyVASA",
    "JoyVASAConfig",
    "MotionTemplate",
    "SourceKeypoints",
    "compose_keypoints",
    "driving_pose",
    "ema_smooth",
    "generate",
    "load_joyvasa",
    "load_template",
    "pack",
    "pad_for_hubert",
    "read_checkpoint",
    "rotation_matrix",
    "sample_window",
    "sinusoid_table",
    "unpack",
    "window_plan",
]
