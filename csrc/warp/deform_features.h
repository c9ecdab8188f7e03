// SPDX-License-Identifier: Apache-2.0
// Dense-motion input of the LivePortrait warping network, fused.
//
// With the align-corners lattice L over the feature's (D, H, W) and K keypoint
// pairs, group 0 is the feature sampled at L and group k (1..K) the feature
// sampled at L - kp_driving[k-1] + kp_source[k-1] (trilinear, zeros padding,
// align_corners=False). Channel 0 of each group is the Gaussian heatmap
// difference exp(-|p - kd|^2 / (2 var)) - exp(-|p - ks|^2 / (2 var)) (zero for group 0).
#pragma once

#include "common/isa.h"
#include "warp/warp_params.h"

namespace pyavatar {
namespace cpu {

// The one params struct of this kernel, shared with CUDA and CuPy (warp/warp_params.h).
using DeformFeaturesParams = pyavatar_warp::DeformFeaturesParams<float>;

PYAVATAR_DECLARE_ISA_VARIANTS(void deform_features(const DeformFeaturesParams& p))
inline void deform_features(const DeformFeaturesParams& p) { PYAVATAR_ISA_DISPATCH(deform_features, p); }

}  // namespace cpu
}  // namespace pyavatar
