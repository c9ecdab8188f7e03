// SPDX-License-Identifier: Apache-2.0
// Fused deformation + warp of the LivePortrait warping network.
//
// deformation[n, d, h, w] = sum_j mask[n, j, d, h, w] * motion_j(d, h, w), where
// motion_0 = L (align-corners lattice over the mask's D, H, W) and
// motion_k = L - kp_driving[k-1] + kp_source[k-1]; the feature is then sampled at
// the deformation (trilinear, zeros padding, align_corners=False) in the same pass.
#pragma once

#include "common/isa.h"
#include "warp/warp_params.h"

namespace pyavatar {
namespace cpu {

// The one params struct of this kernel, shared with CUDA and CuPy (warp/warp_params.h).
using DenseWarpParams = pyavatar_warp::DenseWarpParams<float>;

PYAVATAR_DECLARE_ISA_VARIANTS(void dense_warp(const DenseWarpParams& p))
inline void dense_warp(const DenseWarpParams& p) { PYAVATAR_ISA_DISPATCH(dense_warp, p); }

}  // namespace cpu
}  // namespace pyavatar
