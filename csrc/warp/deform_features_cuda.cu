// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA deform_features kernels (bodies in deform_features.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "common/cuda_launchers.h"
#include "warp/deform_features.cuh"
#include "warp/warp_launch.h"

namespace pyavatar {
namespace cuda {

cudaError_t deform_features_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_deform_features_f32);
}

cudaError_t deform_features(int dtype, const DeviceView<5>& feature, const DeviceView<3>& kp_source,
                            const DeviceView<3>& kp_driving, float kp_variance, void* output, cudaStream_t stream) {
  return launch_for_dtype(dtype, pyavatar_deform_features_f32, pyavatar_deform_features_f16,
                          pyavatar_deform_features_bf16, [&](auto tag, auto kernel) {
                            using T = element_of<decltype(tag)>;
                            pyavatar_warp::DeformFeaturesParams<T> p{};
                            p.feature = kernel_view<const T>(feature);
                            p.kp_source = kernel_view<const T>(kp_source);
                            p.kp_driving = kernel_view<const T>(kp_driving);
                            p.output = static_cast<T*>(output);
                            p.kp_variance = kp_variance;
                            const int64_t groups = kp_source.size[1] + 1;
                            const int64_t work =
                                feature.size[0] * groups * feature.size[2] * feature.size[3] * feature.size[4];
                            return launch_warp(kernel, p, work, 0, stream);  // no channel chunks: one thread per voxel
                          });
}

}  // namespace cuda
}  // namespace pyavatar
