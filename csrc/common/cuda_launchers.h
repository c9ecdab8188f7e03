// SPDX-License-Identifier: Apache-2.0
// The host launchers of the CUDA kernels (defined in csrc/*/*_cuda.cu, called by bindings/cuda.cpp).
//
// Each takes the dtype code (0 fp32, 1 fp16, 2 bf16), the op's args in pyavatar.kernels.spec order (tensors
// as views: data, sizes and element strides), one pointer per output (contiguous; an optional output that is
// not wanted is null) and the stream. It fills the op's params struct (warp/warp_params.h,
// attention/relpos_params.h) and launches the kernel of that dtype; shapes were validated in Python.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/strided_view.h"

namespace pyavatar {
namespace cuda {

template <int R>
using DeviceView = StridedView<const void, R>;

// input (N, C, D, H, W), grid (N, Do, Ho, Wo, 3); padding_mode 0 zeros, 1 border; output (N, C, Do, Ho, Wo).
cudaError_t grid_sample_3d(int dtype, const DeviceView<5>& input, const DeviceView<5>& grid, int padding_mode,
                           bool align_corners, void* output, cudaStream_t stream);
// feature (N, C, D, H, W), kp_source / kp_driving (N, K, 3); output (N, K+1, C+1, D, H, W).
cudaError_t deform_features(int dtype, const DeviceView<5>& feature, const DeviceView<3>& kp_source,
                            const DeviceView<3>& kp_driving, float kp_variance, void* output, cudaStream_t stream);
// feature (N, C, Df, Hf, Wf), mask (N, K+1, D, H, W), kp_source / kp_driving (N, K, 3); output (N, C, D, H, W),
// deformation (N, D, H, W, 3) or null.
cudaError_t dense_warp(int dtype, const DeviceView<5>& feature, const DeviceView<5>& mask,
                       const DeviceView<3>& kp_source, const DeviceView<3>& kp_driving, void* output, void* deformation,
                       cudaStream_t stream);
// q, k, v (B, T, H, Dk), pos (B, 2T-1, H, Dk; batch stride may be 0), pos_bias_u / pos_bias_v (H, Dk),
// key_mask (B, T) uint8 or a null view; output (B, T, H, Dk).
cudaError_t relpos_attention(int dtype, const DeviceView<4>& q, const DeviceView<4>& k, const DeviceView<4>& v,
                             const DeviceView<4>& pos, const DeviceView<2>& pos_bias_u, const DeviceView<2>& pos_bias_v,
                             const StridedView<const uint8_t, 2>& key_mask, int64_t left, int64_t right, float scale,
                             void* output, cudaStream_t stream);

// cudaSuccess when the current device can run the op's kernels (a kernel image for its architecture exists).
cudaError_t grid_sample_3d_probe();
cudaError_t deform_features_probe();
cudaError_t dense_warp_probe();
cudaError_t relpos_attention_probe();

}  // namespace cuda
}  // namespace pyavatar
