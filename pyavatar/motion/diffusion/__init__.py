"""Diffusion motion generation: conformer denoiser, DDIM sampler with guidance, streaming generator, controls.

Typical use::

    model = load_motion_model("motion.safetensors")          # or random_model(MotionModelConfig(...))
    gen = StreamingMotionGenerator(model, StreamConfig(new_frames=10, lookahead=10, steps=5))
    for chunk in audio_chunks:                                # AudioChunk at 16 kHz
        motion = gen.push(chunk)                              # MotionChunk or None
        gen.set(emotion="happy", emotion_intensity=0.7)       # applies from the next frame
    tail = gen.flush()
"""

from pyavatar.motion.common.ssl import SSLConfig, SSLEncoder, load_ssl_encoder
from pyavatar.motion.diffusion.audio import LogMelFrames, SSLFrontEnd, StreamingSSL
from pyavatar.motion.diffusion.conformer import Conditions, ConformerConfig, ConformerDenoiser, DenoiserCache
from pyavatar.motion.diffusion.controls import MotionControls, emotion_vector, reference_expression
from pyavatar.motion.diffusion.model import (
    DiffusionMotionModel,
    MotionModelConfig,
    load_motion_model,
    random_model,
    save_motion_model,
)
from pyavatar.motion.diffusion.sampler import Guidance, NoiseSchedule, ddim_sample, guidance_plan
from pyavatar.motion.diffusion.smoothing import EMAFilter, KalmanFilter, OneEuroFilter, make_smoother
from pyavatar.motion.diffusion.space import (
    FACE_PARAMS,
    KEYPOINTS,
    MotionSpace,
    chunk_face_params,
    chunk_fields,
    get_space,
    normalization_from_template,
)
from pyavatar.motion.diffusion.stream import StreamConfig, StreamingMotionGenerator

__all__ = [
    "FACE_PARAMS",
    "KEYPOINTS",
    "Conditions",
    "ConformerConfig",
    "ConformerDenoiser",
    "DenoiserCache",
    "DiffusionMotionModel",
    "EMAFilter",
    "Guidance",
    "KalmanFilter",
    "LogMelFrames",
    "MotionControls",
    "MotionModelConfig",
    "MotionSpace",
    "NoiseSchedule",
    "OneEuroFilter",
    "SSLConfig",
    "SSLEncoder",
    "SSLFrontEnd",
    "StreamConfig",
    "StreamingMotionGenerator",
    "StreamingSSL",
    "ddim_sample",
    "chunk_face_params",
    "chunk_fields",
    "emotion_vector",
    "get_space",
    "guidance_plan",
    "load_motion_model",
    "load_ssl_encoder",
    "make_smoother",
    "normalization_from_template",
    "random_model",
    "reference_expression",
    "save_motion_model",
]
