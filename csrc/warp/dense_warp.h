// SPDX-License-Identifier: Apache-2.0
// Fused deformation + warp of the LivePortrait warping network.
//
// deformation[n, d, h, w] = sum_j mask[n, j, d, h, w] * motion_j(d, h, w), where
// motion_0 = L (align-corners lattice over the mask's D, H, W) and
// motion_k = L - kp_driving[k-1] + kp_source[k-1]; the feature is then sampled at
// the deformation (trilinear, zeros padding, align_corners=False) in the same pass.
#pragma once

#include "common/isa.h"
#include "common/strided_view.h"

namespace pyavatar {
namespace cpu {

struct DenseWarpParams {
  StridedView<const float, 5> feature;     // (N, C, Df, Hf, Wf)
  StridedView<const float, 5> mask;        // (N, K+1, D, H, W)
  StridedView<const float, 3> kp_source;   // (N, K, 3)
  StridedView<const float, 3> kp_driving;  // (N, K, 3)
  float* output = nullptr;                 // (N, C, D, H, W), contiguous
  float* deformation = nullptr;            // (N, D, H, W, 3), contiguous, or nullptr when not wanted
};

PYAVATAR_DECLARE_ISA_VARIANTS(void dense_warp(const DenseWarpParams& p))
inline void dense_warp(const DenseWarpParams& p) { PYAVATAR_ISA_DISPATCH(dense_warp, p); }

}  // namespace cpu
}  // namespace pyavatar
