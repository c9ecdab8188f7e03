"""Public kernel entry points: validate, normalise into the op's args (:mod:`.spec`), pick a backend, run.

Each op is also registered as a ``torch.library`` op (``torch.ops.pyavatar.<name>``, schema and
fake implementation derived from its spec) so that it composes with ``torch.compile`` and
inference mode. Eager calls go straight to the chosen backend; under ``torch.compile`` the
registered op is what gets traced.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from pyavatar.kernels._checks import check_equal, check_tensor
from pyavatar.kernels.dispatch import select
from pyavatar.kernels.spec import (
    SPECS,
    Args,
    DeformFeaturesArgs,
    DenseWarpArgs,
    GridSample3dArgs,
    OpSpec,
    Outputs,
    RelposAttentionArgs,
)

_FLOATS = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
MAX_HEAD_DIM = 512

_LIBRARY = torch.library.Library("pyavatar", "DEF")  # type: ignore[no-untyped-call]  # torch leaves it unannotated


def _to_schema(spec: OpSpec, outputs: Outputs, like: Tensor) -> Tensor | tuple[Tensor, ...]:
    """Outputs as the schema returns them: absent optional outputs become empty tensors."""
    if spec.max_outputs == 1:
        return outputs[0]
    return (*outputs, *(like.new_empty((0,)) for _ in range(spec.max_outputs - len(outputs))))


def _register(spec: OpSpec) -> None:
    """Define ``torch.ops.pyavatar.<op>`` from its spec: a backend call and a shape-only fake."""

    def call(*values: Any) -> Tensor | tuple[Tensor, ...]:
        *fields, backend = values
        args = spec.args(*fields)
        ref = args[0]
        outputs = select(spec.name, ref.device, ref.dtype, str(backend) or None).run(spec.name, args)
        return _to_schema(spec, outputs, ref)

    def fake(*values: Any) -> Tensor | tuple[Tensor, ...]:
        args = spec.args(*values[:-1])
        return _to_schema(spec, spec.outputs(args), args[0])

    _LIBRARY.define(spec.name + spec.schema())  # type: ignore[no-untyped-call]  # unannotated in torch
    _LIBRARY.impl(spec.name, call, "CompositeExplicitAutograd")  # type: ignore[no-untyped-call]  # unannotated in torch
    torch.library.register_fake(f"pyavatar::{spec.name}", fake, lib=_LIBRARY)


for _spec in SPECS.values():
    _register(_spec)


def _run(op: str, args: Args, backend: str | None) -> Outputs:
    """Run validated ``args`` of ``op``: through the registered op under ``torch.compile``, else directly."""
    ref = args[0]
    if torch.compiler.is_compiling():
        result = getattr(torch.ops.pyavatar, op)(*args, backend or "")
        outputs = (result,) if isinstance(result, Tensor) else tuple(result)
        return outputs[: len(SPECS[op].outputs(args))]  # drop the placeholders of absent optional outputs
    return select(op, ref.device, ref.dtype, backend).run(op, args)


# ----------------------------------------------------------------------------- grid_sample_3d


def grid_sample_3d(
    input: Tensor,
    grid: Tensor,
    padding_mode: str = "zeros",
    align_corners: bool = False,
    *,
    backend: str | None = None,
) -> Tensor:
    """Trilinear sampling of a volume; same result as 5-D ``F.grid_sample(mode="bilinear")``.

    Args:
        input: (N, C, D, H, W) volume.
        grid: (N, Do, Ho, Wo, 3) sample points, last axis (x, y, z) in [−1, 1]
            (points outside read padding).
        padding_mode: ``"zeros"`` or ``"border"``.
        align_corners: whether −1/+1 are the centres (True) or the outer edges
            (False) of the corner voxels.
        backend: force a backend (see :func:`pyavatar.kernels.backends`).

    Returns:
        (N, C, Do, Ho, Wo), dtype of ``input``.
    """
    op = "grid_sample_3d"
    s = check_tensor(op, "input", input, shape=("N", "C", "D", "H", "W"), dtypes=_FLOATS)
    g = check_tensor(op, "grid", grid, shape=("N", "Do", "Ho", "Wo", 3), dtype=input.dtype, device=input.device)
    check_equal(op, "batch size N", {"input": s["N"], "grid": g["N"]})
    if padding_mode not in ("zeros", "border"):
        raise ValueError(f"{op}: padding_mode must be 'zeros' or 'border', got {padding_mode!r}")
    if min(s["D"], s["H"], s["W"]) == 0:
        raise ValueError(f"{op}: argument 'input' has an empty spatial axis: {tuple(input.shape)}")
    if input.numel() == 0 or grid.numel() == 0:
        return input.new_zeros((s["N"], s["C"], g["Do"], g["Ho"], g["Wo"]))
    return _run(op, GridSample3dArgs(input, grid, padding_mode, bool(align_corners)), backend)[0]


# ----------------------------------------------------------------------------- deform_features


def _check_keypoints(op: str, kp_source: Tensor, kp_driving: Tensor, ref: Tensor) -> int:
    a = check_tensor(op, "kp_source", kp_source, shape=("N", "K", 3), dtype=ref.dtype, device=ref.device)
    b = check_tensor(op, "kp_driving", kp_driving, shape=("N", "K", 3), dtype=ref.dtype, device=ref.device)
    check_equal(op, "keypoint count K", {"kp_source": a["K"], "kp_driving": b["K"]})
    check_equal(op, "batch size N", {"kp_source": a["N"], "kp_driving": b["N"], "volume": ref.shape[0]})
    return a["K"]


def _check_lattice(op: str, name: str, spatial: tuple[int, ...]) -> None:
    if min(spatial) < 2:
        raise ValueError(
            f"{op}: argument '{name}' needs at least 2 samples per spatial axis for the "
            f"align-corners lattice, got (D, H, W) = {tuple(spatial)}"
        )


def deform_features(
    feature: Tensor,
    kp_source: Tensor,
    kp_driving: Tensor,
    kp_variance: float = 0.01,
    *,
    backend: str | None = None,
) -> Tensor:
    """Dense-motion network input (LivePortrait), fused: no sparse grids are materialised.

    Args:
        feature: (N, C, D, H, W) compressed feature volume (D, H, W ≥ 2).
        kp_source: (N, K, 3) source keypoints.
        kp_driving: (N, K, 3) driving keypoints.
        kp_variance: Gaussian heatmap variance (LivePortrait: 0.01).
        backend: force a backend.

    Returns:
        (N, K+1, C+1, D, H, W): per group, the heatmap difference (channel 0)
        and the feature sampled at the identity lattice (group 0) or at the
        lattice moved by ``kp_source − kp_driving`` (groups 1..K); see
        :func:`pyavatar.kernels.reference.deform_features`.
    """
    op = "deform_features"
    s = check_tensor(op, "feature", feature, shape=("N", "C", "D", "H", "W"), dtypes=_FLOATS)
    _check_keypoints(op, kp_source, kp_driving, feature)
    _check_lattice(op, "feature", (s["D"], s["H"], s["W"]))
    if not math.isfinite(kp_variance) or kp_variance <= 0:
        raise ValueError(f"{op}: kp_variance must be a positive number, got {kp_variance}")
    if feature.numel() == 0:
        k = kp_source.shape[1]
        return feature.new_zeros((s["N"], k + 1, s["C"] + 1, s["D"], s["H"], s["W"]))
    return _run(op, DeformFeaturesArgs(feature, kp_source, kp_driving, float(kp_variance)), backend)[0]


# ----------------------------------------------------------------------------- dense_warp


def dense_warp(
    feature: Tensor,
    mask: Tensor,
    kp_source: Tensor,
    kp_driving: Tensor,
    *,
    return_deformation: bool = False,
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Deformation from a motion mask and the feature warped by it, in one pass.

    Args:
        feature: (N, C, Df, Hf, Wf) appearance volume.
        mask: (N, K+1, D, H, W) softmaxed motion mask (D, H, W ≥ 2).
        kp_source: (N, K, 3) source keypoints.
        kp_driving: (N, K, 3) driving keypoints.
        return_deformation: also return the (N, D, H, W, 3) deformation.
        backend: force a backend.

    Returns:
        warped (N, C, D, H, W), and the deformation when requested; see
        :func:`pyavatar.kernels.reference.dense_warp`.
    """
    op = "dense_warp"
    f = check_tensor(op, "feature", feature, shape=("N", "C", "Df", "Hf", "Wf"), dtypes=_FLOATS)
    m = check_tensor(op, "mask", mask, shape=("N", "K1", "D", "H", "W"), dtype=feature.dtype, device=feature.device)
    k = _check_keypoints(op, kp_source, kp_driving, feature)
    check_equal(op, "batch size N", {"feature": f["N"], "mask": m["N"]})
    if m["K1"] != k + 1:
        raise ValueError(f"{op}: argument 'mask' must have K+1 = {k + 1} channels, got {m['K1']}")
    _check_lattice(op, "mask", (m["D"], m["H"], m["W"]))
    if min(f["Df"], f["Hf"], f["Wf"]) == 0:
        raise ValueError(f"{op}: argument 'feature' has an empty spatial axis: {tuple(feature.shape)}")
    if feature.numel() == 0 or mask.numel() == 0:
        warped = feature.new_zeros((f["N"], f["C"], m["D"], m["H"], m["W"]))
        deformation = feature.new_zeros((f["N"], m["D"], m["H"], m["W"], 3))
        return (warped, deformation) if return_deformation else warped
    outputs = _run(op, DenseWarpArgs(feature, mask, kp_source, kp_driving, bool(return_deformation)), backend)
    return (outputs[0], outputs[1]) if return_deformation else outputs[0]


# ----------------------------------------------------------------------------- relpos_attention


def relpos_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    pos: Tensor,
    pos_bias_u: Tensor,
    pos_bias_v: Tensor,
    *,
    key_mask: Tensor | None = None,
    context: tuple[int, int] | None = None,
    scale: float | None = None,
    backend: str | None = None,
) -> Tensor:
    """Fused relative-position self-attention core (conformer / Transformer-XL).

    Args:
        q: (B, T, H, Dk) projected queries (Dk ≤ 512), any strides.
        k: (B, T, H, Dk) projected keys, any strides.
        v: (B, T, H, Dk) projected values, any strides.
        pos: (2T−1, H, Dk) or (Bp, 2T−1, H, Dk), Bp ∈ {1, B}: projected relative
            position embeddings, row m = distance T−1−m.
        pos_bias_u: (H, Dk) content bias.
        pos_bias_v: (H, Dk) position bias.
        key_mask: optional (B, T), nonzero/True = valid key.
        context: optional (left, right) window: query i sees keys
            i − left … i + right (−1 = unlimited; (−1, 0) is causal).
        scale: default 1/sqrt(Dk).
        backend: force a backend.

    Returns:
        (B, T, H, Dk), dtype of ``q``; rows without any allowed key are zero.
        See :func:`pyavatar.kernels.reference.relpos_attention`.
    """
    op = "relpos_attention"
    s = check_tensor(op, "q", q, shape=("B", "T", "H", "Dk"), dtypes=_FLOATS)
    b, t, h, dk = s["B"], s["T"], s["H"], s["Dk"]
    for name, x in (("k", k), ("v", v)):
        check_tensor(op, name, x, shape=(b, t, h, dk), dtype=q.dtype, device=q.device)
    if pos.dim() == 3:
        check_tensor(op, "pos", pos, shape=(2 * t - 1, h, dk), dtype=q.dtype, device=q.device)
        pos = pos.unsqueeze(0)
    else:
        p = check_tensor(op, "pos", pos, shape=("Bp", 2 * t - 1, h, dk), dtype=q.dtype, device=q.device)
        if p["Bp"] not in (1, b):
            raise ValueError(f"{op}: argument 'pos' must have batch 1 or B={b}, got {p['Bp']}")
    pos = pos.expand(b, 2 * t - 1, h, dk)
    for name, x in (("pos_bias_u", pos_bias_u), ("pos_bias_v", pos_bias_v)):
        check_tensor(op, name, x, shape=(h, dk), dtype=q.dtype, device=q.device)
    if dk > MAX_HEAD_DIM:
        raise ValueError(f"{op}: head dim Dk={dk} exceeds the supported maximum {MAX_HEAD_DIM}")
    mask_u8 = None
    if key_mask is not None:
        check_tensor(op, "key_mask", key_mask, shape=(b, t), device=q.device)
        mask_u8 = (key_mask != 0).to(torch.uint8)
    left, right = -1, -1
    if context is not None:
        if len(context) != 2 or any(not isinstance(c, int) or c < -1 for c in context):
            raise ValueError(f"{op}: context must be (left, right) integers >= -1, got {context!r}")
        # Windows wider than the sequence are unlimited; clamping keeps index math in range.
        left, right = (min(c, t) for c in context)
    scale = dk**-0.5 if scale is None else float(scale)
    if q.numel() == 0:
        return q.new_zeros(q.shape)
    args = RelposAttentionArgs(q, k, v, pos, pos_bias_u, pos_bias_v, mask_u8, left, right, scale)
    return _run(op, args, backend)[0]
