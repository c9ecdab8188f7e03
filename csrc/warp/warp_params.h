// SPDX-License-Identifier: Apache-2.0
// Params structs of the CUDA warp kernels: one per kernel, passed by value (layout rules in
// common/view_params.h). T is the element type: float, f16 or bf16 (common/cuda_dtype.cuh).
#ifndef PYAVATAR_WARP_PARAMS_H
#define PYAVATAR_WARP_PARAMS_H

#include "../common/view_params.h"

namespace pyavatar_warp {

using pyavatar_params::View;

// Trilinear sampling of `input` at `grid` (torch.nn.functional.grid_sample, mode='bilinear' on 5-D input).
template <typename T>
struct GridSample3dParams {
  View<const T, 5> input;  // (N, C, D, H, W)
  View<const T, 5> grid;   // (N, Do, Ho, Wo, 3), last axis (x, y, z) = (W, H, D)
  T* output;               // (N, C, Do, Ho, Wo), contiguous
  int padding_mode;        // 0 zeros, 1 border
  int align_corners;       // 0 or 1
};

// Gaussian keypoint heatmaps and keypoint-deformed copies of `feature` (LivePortrait's dense motion input).
template <typename T>
struct DeformFeaturesParams {
  View<const T, 5> feature;     // (N, C, D, H, W)
  View<const T, 3> kp_source;   // (N, K, 3)
  View<const T, 3> kp_driving;  // (N, K, 3)
  T* output;                    // (N, K+1, C+1, D, H, W), contiguous
  float kp_variance;
};

// Fused deformation + warp of LivePortrait's warping network (see dense_warp.h).
template <typename T>
struct DenseWarpParams {
  View<const T, 5> feature;     // (N, C, Df, Hf, Wf)
  View<const T, 5> mask;        // (N, K+1, D, H, W)
  View<const T, 3> kp_source;   // (N, K, 3)
  View<const T, 3> kp_driving;  // (N, K, 3)
  T* output;                    // (N, C, D, H, W), contiguous
  T* deformation;               // (N, D, H, W, 3), contiguous, or null when not wanted
};

}  // namespace pyavatar_warp

#endif  // PYAVATAR_WARP_PARAMS_H
