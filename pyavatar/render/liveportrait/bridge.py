"""FaceParams ↔ LivePortrait motion: one motion stream drives the neural renderer too.

Forward (:meth:`LivePortraitBridge.to_motion`): head pose becomes a rotation
relative to the source (R_d = R_Δ·R_s, as LivePortrait's relative motion),
translation and scale; mouth and eye opening go through the retargeting MLPs
(target lip / eye ratios, taken relative to the MLPs' output at the source's
own openness so zero parameters leave the source unchanged); any other field
with an expression basis adds its offset. Everything lands in a plain
:class:`Motion` (a keypoint delta Δ is the expression offset Δ/scale).

Backward (:meth:`LivePortraitBridge.from_motion`): pose from the rotation,
translation and scale relative to the source; the driven keypoints' expression
residual is matched against the MLPs' lip and per-eye curves (nearest point on
a fine grid) and the basis (least squares), alternating a few rounds.

Sign conventions follow the keypoint frame (x right, y down, z into the
screen): LivePortrait pitch = head_pitch, yaw = −head_yaw, roll = −head_roll
(:data:`SIGNS`; unverified against the released checkpoint, hence a
constructor argument). Blink per eye: the eye MLP has one target, so it is
evaluated for each side and each keypoint takes its own side's delta (sides
split at the eyes' keypoint centre; the avatar's left is image right).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pyavatar.face.params import FIELDS, NAMES, FaceParams
from pyavatar.render.liveportrait.keypoints import EYE_KEYPOINTS, Motion, rotation_matrix
from pyavatar.render.liveportrait.stitching import StitchingRetargeting

SIGNS = (1.0, -1.0, -1.0)  # LivePortrait (pitch, yaw, roll) per FaceParams (head_pitch, head_yaw, head_roll)
FACE_HEIGHT = 1.0  # face height in LivePortrait's normalised keypoint units (the crop spans 2)
LIP_OPEN_RATIO = 0.8  # target lip ratio (inner-lip gap / mouth width) at jaw_open = 1
EYE_WIDE_GAIN = 0.35  # eye ratio grows by this fraction at eye_wide = 1
GRID = 101  # samples of each retargeting curve used when reading motion back
ROUNDS = 3
# Fields driven by pose or by the retargeting MLPs (everything else needs a basis).
DRIVEN = (
    "head_yaw",
    "head_pitch",
    "head_roll",
    "head_x",
    "head_y",
    "head_z",
    "jaw_open",
    "blink_left",
    "blink_right",
    "eye_wide",
)


@dataclass(frozen=True)
class BridgeSource:
    """What the bridge needs to know about one prepared source (batch 1).

    Attributes:
        canonical: (1, K, 3) canonical keypoints.
        motion: the source's own motion.
        keypoints: (1, K, 3) posed source keypoints x_s.
        eye_ratio: source eye openness as the eye MLP takes it (image-left eye first).
        lip_ratio: source mouth openness.
        left: (K,) bool, keypoints on the avatar's left (image right).
        jaw_grid, lip_curve: (G,) jaw values and (G, K, 3) lip-MLP deltas (0 at jaw 0).
        eye_grid, eye_curve: (G,) openness factors and (G, K, 3) eye-MLP deltas (0 at factor 1).
    """

    canonical: Tensor
    motion: Motion
    keypoints: Tensor
    eye_ratio: tuple[float, float]
    lip_ratio: float
    left: Tensor
    jaw_grid: Tensor
    lip_curve: Tensor
    eye_grid: Tensor
    eye_curve: Tensor


def _degrees_from_rotation(rotation: Tensor) -> Tensor:
    """(B, 3, 3) row-vector rotations R = (Rz·Ry·Rx)ᵀ → (B, 3) pitch, yaw, roll in degrees."""
    m = rotation.transpose(1, 2).double()
    yaw = torch.asin((-m[:, 2, 0]).clamp(-1, 1))
    pitch = torch.atan2(m[:, 2, 1], m[:, 2, 2])
    roll = torch.atan2(m[:, 1, 0], m[:, 0, 0])
    return torch.stack([pitch, yaw, roll], dim=1) * (180 / math.pi)


class LivePortraitBridge:
    """Maps FaceParams to LivePortrait motion and back for one set of retargeting MLPs.

    Args:
        stitching: the models' :class:`StitchingRetargeting` (its eye and lip MLPs are used).
        basis: optional expression offsets per unit of a FaceParams field, each (K, 3)
            (e.g. from :func:`expression_basis`); fields driven by pose or the MLPs are not allowed.
        signs: LivePortrait (pitch, yaw, roll) sign per FaceParams (head_pitch, head_yaw, head_roll).
    """

    def __init__(
        self,
        stitching: StitchingRetargeting,
        basis: Mapping[str, Tensor] | None = None,
        signs: tuple[float, float, float] = SIGNS,
    ) -> None:
        basis = dict(basis or {})
        bad = sorted(k for k in basis if k not in NAMES or k in DRIVEN)
        if bad:
            raise ValueError(f"basis: fields {bad} cannot have an expression basis (unknown or driven by pose/MLPs)")
        self.stitching = stitching
        self.basis_fields = tuple(basis)
        self.basis = torch.stack([basis[k].float().reshape(-1, 3) for k in self.basis_fields]) if basis else None
        self.signs = signs

    def _device(self) -> torch.device:
        return next(self.stitching.parameters()).device

    # ----------------------------------------------------------------------------------- calibration

    @torch.inference_mode()
    def calibrate(
        self, canonical: Tensor, motion: Motion, eye_ratio: tuple[float, float] = (0.3, 0.3), lip_ratio: float = 0.0
    ) -> BridgeSource:
        """Prepare one source: canonical keypoints (1, K, 3), motion, eye ratios (image-left first), lip ratio."""
        dev = self._device()
        canonical = canonical.to(dev, torch.float32)
        motion = motion.to(dev)
        x_s = motion.keypoints(canonical)
        k = x_s.shape[1]
        if self.basis is not None and self.basis.shape[1] != k:
            raise ValueError(f"basis: expected ({k}, 3) offsets, got {tuple(self.basis.shape[1:])}")
        eye_x = x_s[0, list(EYE_KEYPOINTS), 0].mean() if k > max(EYE_KEYPOINTS) else x_s[0, :, 0].mean()
        left = x_s[0, :, 0] > eye_x
        eyes = (float(eye_ratio[0]), float(eye_ratio[1]))
        jaw_grid = torch.linspace(0, 1, GRID, device=dev)
        eye_grid = torch.linspace(0, 1 + EYE_WIDE_GAIN, GRID, device=dev)
        lip_curve = self._lip_delta(x_s, float(lip_ratio), jaw_grid)
        eye_curve = self._eye_delta(x_s, eyes, eye_grid)
        return BridgeSource(
            canonical, motion, x_s, eyes, float(lip_ratio), left, jaw_grid, lip_curve, eye_grid, eye_curve
        )

    def _lip_delta(self, x_s: Tensor, lip_ratio: float, jaw: Tensor) -> Tensor:
        """(N, K, 3) lip-MLP keypoint deltas at jaw values ``jaw`` (N,), relative to jaw 0."""
        target = lip_ratio + jaw.float() * max(LIP_OPEN_RATIO - lip_ratio, 0.0)
        ratios = torch.stack([torch.full_like(target, lip_ratio), target], dim=1)
        ratios = torch.cat([ratios, torch.tensor([[lip_ratio, lip_ratio]], device=ratios.device)])
        delta = self.stitching.lip_delta(x_s.expand(len(ratios), -1, -1), ratios)
        return delta[:-1] - delta[-1:]

    def _eye_delta(self, x_s: Tensor, eye_ratio: tuple[float, float], factor: Tensor) -> Tensor:
        """(N, K, 3) eye-MLP deltas at openness factors (N,) (1 = as the source, 0 = closed), relative to 1."""
        left, right = eye_ratio
        factor = torch.cat([factor.float(), torch.ones(1, device=factor.device)])
        target = (left + right) / 2 * factor
        ratios = torch.stack([torch.full_like(factor, left), torch.full_like(factor, right), target], dim=1)
        delta = self.stitching.eye_delta(x_s.expand(len(ratios), -1, -1), ratios)
        return delta[:-1] - delta[-1:]

    # ------------------------------------------------------------------------------------------ forward

    @torch.inference_mode()
    def to_motion(self, src: BridgeSource, params: FaceParams) -> Motion:
        """Driving motion (batch T) for every frame of ``params`` on the calibrated source."""
        dev = src.keypoints.device
        p = {n: torch.tensor(np.asarray(params[n]), dtype=torch.float32, device=dev) for n in NAMES}
        sp, sy, sr = self.signs
        r_delta = rotation_matrix(sp * p["head_pitch"], sy * p["head_yaw"], sr * p["head_roll"])
        b = len(params)
        rotation = r_delta @ src.motion.rotation.expand(b, -1, -1)
        t = src.motion.t.expand(b, -1).clone()
        t[:, 0] += p["head_x"] * FACE_HEIGHT
        t[:, 1] -= p["head_y"] * FACE_HEIGHT
        scale = src.motion.scale.expand(b, -1) * (1 + p["head_z"])[:, None]
        delta = self._lip_delta(src.keypoints, src.lip_ratio, p["jaw_open"])
        for side, mask in (("left", src.left), ("right", ~src.left)):
            factor = (1 - p[f"blink_{side}"]) * (1 + EYE_WIDE_GAIN * p["eye_wide"])
            delta = delta + self._eye_delta(src.keypoints, src.eye_ratio, factor) * mask[None, :, None]
        exp = src.motion.exp.expand(b, -1, -1) + delta / scale[:, :, None]
        if self.basis is not None:
            weights = torch.stack([p[f] for f in self.basis_fields], dim=1)
            exp = exp + torch.einsum("bf,fkc->bkc", weights, self.basis.to(dev))
        return Motion(rotation, exp, t, scale)

    # ----------------------------------------------------------------------------------------- backward

    @staticmethod
    def _nearest(curve: Tensor, grid: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Grid value (B,) whose curve point (G, K, 3) is nearest to target (B, K, 3), on keypoints ``mask``."""
        diff = target[:, None] - curve[None]
        if mask is not None:
            diff = diff * mask[None, None, :, None]
        return grid[diff.pow(2).sum(dim=(2, 3)).argmin(dim=1)]

    @torch.inference_mode()
    def from_motion(self, src: BridgeSource, motion: Motion) -> FaceParams:
        """FaceParams (T frames) read back from a driving motion on the calibrated source."""
        motion = motion.to(src.keypoints.device)
        b = motion.batch
        sp, sy, sr = self.signs
        deg = _degrees_from_rotation(motion.rotation @ src.motion.rotation.transpose(1, 2).expand(b, -1, -1))
        rel_t = (motion.t - src.motion.t)[:, :2] / FACE_HEIGHT
        rel_s = (motion.scale / src.motion.scale)[:, 0] - 1
        # expression residual of the driven keypoints in keypoint units: x_d − t − scale·kp·R − scale·exp_s
        x_d = motion.keypoints(src.canonical)
        shift = torch.cat([motion.t[:, :2], torch.zeros_like(motion.t[:, :1])], dim=1)[:, None]
        posed = motion.scale[:, :, None] * (src.canonical.expand(b, -1, -1) @ motion.rotation)
        residual = x_d - shift - posed - motion.scale[:, :, None] * src.motion.exp
        jaw = torch.zeros(b, device=residual.device)
        factors = {"left": torch.ones(b, device=residual.device), "right": torch.ones(b, device=residual.device)}
        weights = None
        grid_j, grid_e = src.jaw_grid, src.eye_grid
        for _ in range(ROUNDS):
            rest = residual
            if weights is not None:
                rest = rest - motion.scale[:, :, None] * torch.einsum("bf,fkc->bkc", weights, self.basis)
            eyes = sum(self._eye_curve_at(src, factors[s]) * m[None, :, None] for s, m in self._sides(src))
            jaw = self._nearest(src.lip_curve, grid_j, rest - eyes)
            lips = self._lip_curve_at(src, jaw)
            for side, mask in self._sides(src):
                factors[side] = self._nearest(src.eye_curve, grid_e, rest - lips, mask)
            if self.basis is not None:
                eyes = sum(self._eye_curve_at(src, factors[s]) * m[None, :, None] for s, m in self._sides(src))
                target = (residual - lips - eyes) / motion.scale[:, :, None]
                a = self.basis.reshape(len(self.basis_fields), -1).T  # (K·3, F)
                sol = torch.linalg.lstsq(a[None].expand(b, -1, -1), target.reshape(b, -1, 1)).solution[..., 0]
                lo = torch.tensor([FIELDS[f][0] for f in self.basis_fields], device=sol.device)
                hi = torch.tensor([FIELDS[f][1] for f in self.basis_fields], device=sol.device)
                weights = torch.maximum(torch.minimum(sol, hi), lo)
        fields = {
            "head_pitch": deg[:, 0] * sp,
            "head_yaw": deg[:, 1] * sy,
            "head_roll": deg[:, 2] * sr,
            "head_x": rel_t[:, 0],
            "head_y": -rel_t[:, 1],
            "head_z": rel_s,
            "jaw_open": jaw,
            "blink_left": (1 - factors["left"]).clamp(min=0),
            "blink_right": (1 - factors["right"]).clamp(min=0),
            "eye_wide": ((torch.maximum(factors["left"], factors["right"]) - 1) / EYE_WIDE_GAIN).clamp(min=0),
        }
        if weights is not None:
            fields.update({f: weights[:, i] for i, f in enumerate(self.basis_fields)})
        return FaceParams.from_fields(b, **{k: v.double().cpu().numpy() for k, v in fields.items()})

    @staticmethod
    def _sides(src: BridgeSource) -> tuple[tuple[str, Tensor], tuple[str, Tensor]]:
        return ("left", src.left.float()), ("right", (~src.left).float())

    @staticmethod
    def _lip_curve_at(src: BridgeSource, jaw: Tensor) -> Tensor:
        idx = torch.searchsorted(src.jaw_grid, jaw.contiguous()).clamp(max=len(src.jaw_grid) - 1)
        return src.lip_curve[idx]

    @staticmethod
    def _eye_curve_at(src: BridgeSource, factor: Tensor) -> Tensor:
        idx = torch.searchsorted(src.eye_grid, factor.contiguous()).clamp(max=len(src.eye_grid) - 1)
        return src.eye_curve[idx]


def expression_basis(neutral: Motion, examples: Mapping[str, tuple[Motion, float]]) -> dict[str, Tensor]:
    """Expression offsets per unit field from example motions.

    Args:
        neutral: a motion with every field at rest (batch 1).
        examples: ``{field: (motion, value)}``: a motion showing ``field`` at ``value``.

    Returns:
        ``{field: (K, 3) expression offset per unit of the field}``.
    """
    out = {}
    for name, (motion, value) in examples.items():
        if not np.isfinite(value) or value == 0:
            raise ValueError(f"expression_basis: example value of {name!r} must be finite and non-zero, got {value}")
        out[name] = ((motion.exp[0] - neutral.exp[0]) / value).float()
    return out
