"""Each kernel op defined once: the arguments every backend receives, and the outputs it allocates.

An op's *args* class (a ``NamedTuple``) is the kernel boundary: the public entry point in
:mod:`pyavatar.kernels.ops` validates and normalises the user's call into one, and every backend's
``run(op, args)`` receives it. The ``torch.library`` schema of the custom op, its fake (shape-only)
implementation and the allocation of the outputs all derive from :data:`SPECS`, so adding a
parameter touches the args class here and the kernels that read it.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from torch import Tensor

from pyavatar.kernels._outputs import (
    deform_features_output,
    dense_warp_outputs,
    grid_sample_3d_output,
    relpos_attention_output,
)


class GridSample3dArgs(NamedTuple):
    """input (N, C, D, H, W), grid (N, Do, Ho, Wo, 3); padding ``zeros`` or ``border``."""

    input: Tensor
    grid: Tensor
    padding_mode: str
    align_corners: bool


class DeformFeaturesArgs(NamedTuple):
    """feature (N, C, D, H, W), keypoints (N, K, 3), Gaussian variance."""

    feature: Tensor
    kp_source: Tensor
    kp_driving: Tensor
    kp_variance: float


class DenseWarpArgs(NamedTuple):
    """feature (N, C, Df, Hf, Wf), mask (N, K+1, D, H, W), keypoints (N, K, 3)."""

    feature: Tensor
    mask: Tensor
    kp_source: Tensor
    kp_driving: Tensor
    return_deformation: bool


class RelposAttentionArgs(NamedTuple):
    """q, k, v (B, T, H, Dk); pos 4-D (B or broadcast, 2T−1, H, Dk); key_mask uint8 (B, T) or None.

    The attention window is ``left``/``right`` (−1 = unlimited).
    """

    q: Tensor
    k: Tensor
    v: Tensor
    pos: Tensor
    pos_bias_u: Tensor
    pos_bias_v: Tensor
    key_mask: Tensor | None
    left: int
    right: int
    scale: float


Outputs = tuple[Tensor, ...]
#: What a backend's ``run(op, args)`` receives: one of the ``*Args`` classes above (fields by position).
Args = tuple[Any, ...]
#: The args classes, one per op.
KernelArgs = GridSample3dArgs | DeformFeaturesArgs | DenseWarpArgs | RelposAttentionArgs


def _outputs_of(
    allocate: Callable[..., Tensor | tuple[Tensor, Tensor | None]], *fields: str
) -> Callable[[Args], Outputs]:
    """``args -> outputs``: ``allocate`` (:mod:`._outputs`) on the named fields, absent optional outputs dropped."""

    def outputs(a: Args) -> Outputs:
        made = allocate(*(getattr(a, f) for f in fields))
        return (made,) if isinstance(made, Tensor) else tuple(t for t in made if t is not None)

    return outputs


_SCHEMA_TYPES: dict[object, str] = {Tensor: "Tensor", float: "float", int: "int", bool: "bool", str: "str"}


def _schema_type(hint: object) -> str:
    """``torch.library`` schema type of an args field annotation (``Tensor | None`` -> ``Tensor?``)."""
    if set(typing.get_args(hint)) == {Tensor, type(None)}:
        return "Tensor?"
    return _SCHEMA_TYPES[hint]  # a KeyError names an unsupported field type


@dataclass(frozen=True)
class OpSpec:
    """One kernel op: its name, its args class and how its outputs are allocated.

    ``outputs(args)`` allocates what a backend writes (``new_empty``: input dtype and device, fake
    tensors under ``torch.compile``). ``max_outputs`` is how many it can return; an op whose later
    outputs are optional (``dense_warp``'s deformation) returns fewer when they are not asked for.
    """

    name: str
    args: type[KernelArgs]
    outputs: Callable[[Args], Outputs]
    max_outputs: int = 1

    def schema(self) -> str:
        """The ``torch.library`` schema: the args, a ``backend`` name ('' = automatic), the outputs."""
        hints = typing.get_type_hints(self.args)
        params = ", ".join(f"{_schema_type(hints[f])} {f}" for f in self.args._fields)
        returns = "Tensor" if self.max_outputs == 1 else "(" + ", ".join(["Tensor"] * self.max_outputs) + ")"
        return f"({params}, str backend) -> {returns}"


SPECS: dict[str, OpSpec] = {
    s.name: s
    for s in (
        OpSpec("grid_sample_3d", GridSample3dArgs, _outputs_of(grid_sample_3d_output, "input", "grid")),
        OpSpec("deform_features", DeformFeaturesArgs, _outputs_of(deform_features_output, "feature", "kp_source")),
        OpSpec(
            "dense_warp",
            DenseWarpArgs,
            _outputs_of(dense_warp_outputs, "feature", "mask", "return_deformation"),
            max_outputs=2,
        ),
        OpSpec("relpos_attention", RelposAttentionArgs, _outputs_of(relpos_attention_output, "q")),
    )
}
OPS = tuple(SPECS)
