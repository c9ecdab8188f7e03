"""Inference-form building blocks shared by the LivePortrait modules.

Checkpoints store training-form tensors (BatchNorm statistics, spectral-norm
``weight_orig``/``weight_u``/``weight_v``). Modules here keep only what a
forward pass needs: BatchNorm that follows a convolution is folded into it,
spectral norm is divided out, a BatchNorm that precedes an activation becomes a
per-channel affine. A module whose own tensors differ from the checkpoint's
subclasses :class:`CheckpointMapped`; every other module maps its direct
parameters one to one (see :mod:`pyavatar.render.liveportrait.weights`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TensorSpec = tuple[tuple[int, ...], torch.dtype]
BN_EPS = 1e-5
_F32 = torch.float32


class CheckpointMapped(nn.Module, abc.ABC):
    """A module that derives its own tensors from differently named checkpoint tensors.

    Child modules are mapped separately; only the module's *direct* tensors are
    described by :meth:`checkpoint_layout` and filled by :meth:`load_checkpoint`.
    """

    @abc.abstractmethod
    def checkpoint_layout(self) -> dict[str, TensorSpec]:
        """Checkpoint keys (relative to this module) → (shape, dtype)."""

    @abc.abstractmethod
    def load_checkpoint(self, tensors: Mapping[str, Tensor]) -> None:
        """Fill the module from the tensors of :meth:`checkpoint_layout` (already shape-checked)."""


def frozen(*shape: int) -> nn.Parameter:
    """An inference-only parameter (no gradient), zero-initialised."""
    return nn.Parameter(torch.zeros(shape), requires_grad=False)


def bn_layout(prefix: str, n: int) -> dict[str, TensorSpec]:
    """Checkpoint entries of a BatchNorm with ``n`` channels under ``prefix``."""
    specs: dict[str, TensorSpec] = {
        f"{prefix}.{k}": ((n,), _F32) for k in ("weight", "bias", "running_mean", "running_var")
    }
    specs[f"{prefix}.num_batches_tracked"] = ((), torch.int64)
    return specs


def conv_layout(prefix: str, cout: int, cin: int, kernel: tuple[int, ...], bias: bool = True) -> dict[str, TensorSpec]:
    """Checkpoint entries of a convolution under ``prefix``."""
    specs: dict[str, TensorSpec] = {f"{prefix}.weight": ((cout, cin, *kernel), _F32)}
    if bias:
        specs[f"{prefix}.bias"] = ((cout,), _F32)
    return specs


def bn_affine(tensors: Mapping[str, Tensor], prefix: str) -> tuple[Tensor, Tensor]:
    """Eval-mode BatchNorm as ``x·scale + shift`` (per channel)."""
    scale = tensors[f"{prefix}.weight"] / torch.sqrt(tensors[f"{prefix}.running_var"] + BN_EPS)
    shift = tensors[f"{prefix}.bias"] - tensors[f"{prefix}.running_mean"] * scale
    return scale, shift


def fold_conv_bn(tensors: Mapping[str, Tensor], conv: str, norm: str) -> tuple[Tensor, Tensor]:
    """Weight and bias of ``norm(conv(x))`` as one convolution."""
    scale, shift = bn_affine(tensors, norm)
    weight = tensors[f"{conv}.weight"]
    weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    bias = tensors[f"{conv}.bias"] * scale + shift
    return weight, bias


def conv(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """2-D or 3-D convolution (by the weight's rank), stride 1."""
    fn = F.conv3d if weight.dim() == 5 else F.conv2d
    return fn(x, weight, bias, padding=padding)


class ConvBN(CheckpointMapped):
    """[nearest ×2 up-sample →] conv → BatchNorm → activation [→ 2×2 average pool], norm folded.

    Covers LivePortrait's SameBlock2d, DownBlock2d/3d and UpBlock3d (3-D blocks
    resample H and W only). Checkpoint keys ``conv.*`` and ``norm.*``.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        *,
        negative_slope: float = 0.0,
        resample: str | None = None,
    ) -> None:
        super().__init__()
        if dims not in (2, 3) or resample not in (None, "up", "down"):
            raise ValueError(f"ConvBN: dims must be 2 or 3 and resample None/'up'/'down', got {dims}, {resample!r}")
        self.kernel = (kernel,) * dims
        self.padding = kernel // 2
        self.negative_slope = negative_slope
        self.resample = resample
        self.weight = frozen(out_channels, in_channels, *self.kernel)
        self.bias = frozen(out_channels)

    def checkpoint_layout(self) -> dict[str, TensorSpec]:
        """The conv and batch-norm tensors this block reads, with their shapes."""
        cout, cin = self.weight.shape[:2]
        return {**conv_layout("conv", cout, cin, self.kernel), **bn_layout("norm", cout)}

    def load_checkpoint(self, tensors: Mapping[str, Tensor]) -> None:
        """Fold the checkpoint's batch norm into the convolution's weight and bias."""
        w, b = fold_conv_bn(tensors, "conv", "norm")
        self.weight.copy_(w)
        self.bias.copy_(b)

    def forward(self, x: Tensor) -> Tensor:
        """Resample (when set), convolve with the folded weights, then ReLU."""
        spatial = (1, 2, 2) if x.dim() == 5 else (2, 2)
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=spatial, mode="nearest")
        x = conv(x, self.weight, self.bias, self.padding)
        x = F.leaky_relu(x, self.negative_slope) if self.negative_slope else F.relu(x)
        if self.resample == "down":
            x = (F.avg_pool3d if x.dim() == 5 else F.avg_pool2d)(x, spatial)
        return x


class ResBlock3d(CheckpointMapped):
    """Pre-activation residual block: x + conv2(relu(BN2(conv1(relu(BN1(x)))))).

    BN1 becomes a per-channel affine, BN2 is folded into conv1. Checkpoint keys
    ``conv1.*``, ``conv2.*``, ``norm1.*``, ``norm2.*``.
    """

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = (kernel,) * 3
        self.padding = kernel // 2
        self.scale = frozen(channels, 1, 1, 1)
        self.shift = frozen(channels, 1, 1, 1)
        self.weight1 = frozen(channels, channels, *self.kernel)
        self.bias1 = frozen(channels)
        self.weight2 = frozen(channels, channels, *self.kernel)
        self.bias2 = frozen(channels)

    def checkpoint_layout(self) -> dict[str, TensorSpec]:
        """The two convolutions and two batch norms this block reads."""
        c = self.bias1.shape[0]
        return {
            **conv_layout("conv1", c, c, self.kernel),
            **conv_layout("conv2", c, c, self.kernel),
            **bn_layout("norm1", c),
            **bn_layout("norm2", c),
        }

    def load_checkpoint(self, tensors: Mapping[str, Tensor]) -> None:
        """Keep the first norm as an affine; fold the second into ``conv1``."""
        scale, shift = bn_affine(tensors, "norm1")
        self.scale.copy_(scale.view(-1, 1, 1, 1))
        self.shift.copy_(shift.view(-1, 1, 1, 1))
        w1, b1 = fold_conv_bn(tensors, "conv1", "norm2")
        self.weight1.copy_(w1)
        self.bias1.copy_(b1)
        self.weight2.copy_(tensors["conv2.weight"])
        self.bias2.copy_(tensors["conv2.bias"])

    def forward(self, x: Tensor) -> Tensor:
        """Pre-activation residual: x + conv2(relu(conv1(relu(norm1(x)))))."""
        y = F.relu(x * self.scale.to(x.dtype) + self.shift.to(x.dtype))
        y = F.relu(F.conv3d(y, self.weight1, self.bias1, padding=self.padding))
        y = F.conv3d(y, self.weight2, self.bias2, padding=self.padding)
        return x + y


class SNConv2d(CheckpointMapped):
    """Convolution stored in spectral-norm form; the effective kernel weight_orig/σ is computed at load.

    σ = uᵀ·W·v with W the kernel reshaped to (out, in·kh·kw) and the stored
    (converged) u, v: the eval-mode value, no power iteration. Checkpoint keys
    ``weight_orig``, ``weight_u``, ``weight_v`` and ``bias`` when present.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, bias: bool = True) -> None:
        super().__init__()
        self.padding = kernel // 2
        self.weight = frozen(out_channels, in_channels, kernel, kernel)
        self.bias = frozen(out_channels) if bias else None

    def checkpoint_layout(self) -> dict[str, TensorSpec]:
        """The spectral-norm weight (``weight_orig`` with its power-iteration vectors) and bias."""
        cout, cin, kh, kw = self.weight.shape
        specs: dict[str, TensorSpec] = {
            "weight_orig": ((cout, cin, kh, kw), _F32),
            "weight_u": ((cout,), _F32),
            "weight_v": ((cin * kh * kw,), _F32),
        }
        if self.bias is not None:
            specs["bias"] = ((cout,), _F32)
        return specs

    def load_checkpoint(self, tensors: Mapping[str, Tensor]) -> None:
        """Store the spectrally normalised weight, computed once at load."""
        self.weight.copy_(spectral_normalised(tensors["weight_orig"], tensors["weight_u"], tensors["weight_v"]))
        if self.bias is not None:
            self.bias.copy_(tensors["bias"])

    def forward(self, x: Tensor) -> Tensor:
        """Convolve with the normalised weight."""
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


def spectral_normalised(weight_orig: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """weight_orig / σ with σ = u · (W_mat v), as an eval-mode spectral norm computes it.

    σ is accumulated in float64 so the result does not depend on BLAS blocking
    or memory alignment.
    """
    w = weight_orig.double().reshape(weight_orig.shape[0], -1)
    sigma = torch.dot(u.double(), torch.mv(w, v.double()))
    return weight_orig / sigma.to(weight_orig.dtype)
