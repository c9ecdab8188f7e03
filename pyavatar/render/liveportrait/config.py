"""Constructor parameters of the five LivePortrait inference modules.

The dataclasses mirror the published ``models.yaml``; their defaults are the
released (full-size) model. :meth:`LivePortraitConfig.from_dict` reads that
layout (including the ``_reduced_backbone`` override of the conformance
fixtures) and :meth:`LivePortraitConfig.validate` checks the couplings the
architecture relies on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

_CONVNEXTV2_TINY = {"depths": (3, 3, 9, 3), "dims": (96, 192, 384, 768)}


@dataclass(frozen=True)
class AppearanceConfig:
    """F: 2-D encoder whose last map is reshaped into a 3-D feature volume."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


@dataclass(frozen=True)
class MotionConfig:
    """M: ConvNeXt-V2 backbone with keypoint, pose-bin, translation, expression and scale heads."""

    num_kp: int = 21
    num_bins: int = 66
    image_channel: int = 3
    depths: tuple[int, ...] = _CONVNEXTV2_TINY["depths"]
    dims: tuple[int, ...] = _CONVNEXTV2_TINY["dims"]


@dataclass(frozen=True)
class DenseMotionConfig:
    """Dense-motion network inside W (hourglass over keypoint-deformed features)."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4


@dataclass(frozen=True)
class WarpingConfig:
    """W: dense motion, feature warping, 2-D projection and occlusion."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)

    @property
    def out_channels(self) -> int:
        """Width of the warped 2-D feature map W returns."""
        return self.block_expansion * 2**self.num_down_blocks


@dataclass(frozen=True)
class DecoderConfig:
    """G: SPADE decoder from the warped feature map to the RGB image."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64
    spade_hidden: int = 128
    num_middle_blocks: int = 6

    @property
    def in_channels(self) -> int:
        """Width of the feature map G takes (also the SPADE label width)."""
        return min(self.max_features, self.block_expansion * 2**self.num_down_blocks)


@dataclass(frozen=True)
class MLPConfig:
    """A plain Linear/ReLU stack (stitching and retargeting)."""

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


@dataclass(frozen=True)
class StitchingConfig:
    """The three small MLPs of the stitching/retargeting checkpoint."""

    stitching: MLPConfig = MLPConfig(126, (128, 128, 64), 65)
    lip: MLPConfig = MLPConfig(65, (128, 128, 64), 63)
    eye: MLPConfig = MLPConfig(66, (256, 256, 128, 128, 64), 63)


@dataclass(frozen=True)
class LivePortraitConfig:
    """All module configurations; ``LivePortraitConfig()`` is the released model."""

    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    warping: WarpingConfig = field(default_factory=WarpingConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    stitching: StitchingConfig = field(default_factory=StitchingConfig)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LivePortraitConfig:
        """Read the ``models.yaml`` layout (``appearance_feature_extractor_params``, ...).

        Missing sections keep their defaults. The motion section accepts
        ``backbone: convnextv2_tiny`` or an explicit ``_reduced_backbone``
        ``{depths, dims}``.
        """
        known = {
            "appearance_feature_extractor_params",
            "motion_extractor_params",
            "warping_module_params",
            "spade_generator_params",
            "stitching_retargeting_module_params",
        }
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"LivePortraitConfig: unknown section(s) {sorted(unknown)}; expected {sorted(known)}")
        app = _build(AppearanceConfig, d.get("appearance_feature_extractor_params", {}), "appearance")

        mp = dict(d.get("motion_extractor_params", {}))
        backbone = mp.pop("backbone", "convnextv2_tiny")
        reduced = mp.pop("_reduced_backbone", None)
        if reduced is not None:
            mp.update(depths=tuple(reduced["depths"]), dims=tuple(reduced["dims"]))
        elif backbone == "convnextv2_tiny":
            mp.update(_CONVNEXTV2_TINY)
        else:
            raise ValueError(f"motion_extractor_params: unsupported backbone {backbone!r} (only 'convnextv2_tiny')")
        motion = _build(MotionConfig, mp, "motion")

        wp = dict(d.get("warping_module_params", {}))
        dense = _build(DenseMotionConfig, wp.pop("dense_motion_params", {}), "dense_motion_params")
        warping = _build(WarpingConfig, {**wp, "dense_motion": dense}, "warping")
        decoder = _build(DecoderConfig, d.get("spade_generator_params", {}), "decoder")

        sp = d.get("stitching_retargeting_module_params", {})
        mlps = {}
        for name in ("stitching", "lip", "eye"):
            if name in sp:
                m = sp[name]
                mlps[name] = MLPConfig(int(m["input_size"]), tuple(m["hidden_sizes"]), int(m["output_size"]))
        return cls(app, motion, warping, decoder, StitchingConfig(**mlps))

    @classmethod
    def from_json(cls, path: str | Path) -> LivePortraitConfig:
        """:meth:`from_dict` of a JSON file."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_dict(self) -> dict[str, Any]:
        """The ``models.yaml`` layout of this configuration (inverse of :meth:`from_dict`)."""
        motion = asdict(self.motion)
        depths, dims = motion.pop("depths"), motion.pop("dims")
        if (tuple(depths), tuple(dims)) == tuple(_CONVNEXTV2_TINY.values()):
            motion["backbone"] = "convnextv2_tiny"
        else:
            motion.update(backbone="convnextv2_tiny", _reduced_backbone={"depths": list(depths), "dims": list(dims)})
        warping = asdict(self.warping)
        warping["dense_motion_params"] = warping.pop("dense_motion")
        return {
            "appearance_feature_extractor_params": asdict(self.appearance),
            "motion_extractor_params": motion,
            "warping_module_params": warping,
            "spade_generator_params": asdict(self.decoder),
            "stitching_retargeting_module_params": {
                k: {**asdict(v), "hidden_sizes": list(v.hidden_sizes)} for k, v in _shallow(self.stitching).items()
            },
        }

    def validate(self) -> None:
        """Raise ValueError when the modules could not be chained."""
        a, m, w, g = self.appearance, self.motion, self.warping, self.decoder
        if a.max_features != a.reshape_channel * a.reshape_depth:
            raise ValueError(
                f"appearance: max_features ({a.max_features}) must equal reshape_channel × reshape_depth "
                f"({a.reshape_channel} × {a.reshape_depth})"
            )
        if w.reshape_channel != a.reshape_channel or w.dense_motion.reshape_depth != a.reshape_depth:
            raise ValueError(
                f"warping: reshape_channel/reshape_depth ({w.reshape_channel}/{w.dense_motion.reshape_depth}) must "
                f"match the appearance volume ({a.reshape_channel}/{a.reshape_depth})"
            )
        if w.max_features != w.reshape_channel * w.dense_motion.reshape_depth:
            raise ValueError(
                f"warping: max_features ({w.max_features}) must equal reshape_channel × reshape_depth "
                f"({w.reshape_channel} × {w.dense_motion.reshape_depth})"
            )
        if w.num_kp != m.num_kp:
            raise ValueError(f"warping.num_kp ({w.num_kp}) must equal motion.num_kp ({m.num_kp})")
        if g.in_channels != w.out_channels:
            raise ValueError(f"decoder input width ({g.in_channels}) must equal the warping output ({w.out_channels})")
        if len(m.depths) != len(m.dims):
            raise ValueError(f"motion: depths {m.depths} and dims {m.dims} must have the same length")
        s = self.stitching
        if s.stitching.input_size != 6 * m.num_kp or s.stitching.output_size != 3 * m.num_kp + 2:
            raise ValueError(f"stitching MLP must map {6 * m.num_kp} → {3 * m.num_kp + 2}, got {s.stitching}")
        if s.lip.input_size != 3 * m.num_kp + 2 or s.eye.input_size != 3 * m.num_kp + 3:
            raise ValueError(f"lip/eye MLPs must take {3 * m.num_kp}+2 / +3 inputs, got {s.lip} / {s.eye}")


def _shallow(obj: Any) -> dict[str, Any]:
    """Fields of a dataclass without recursing (keeps nested dataclasses)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _build(cls: type, values: Mapping[str, Any], section: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{section}: unknown parameter(s) {sorted(unknown)}; expected some of {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
