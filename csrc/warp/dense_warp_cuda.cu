// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA dense_warp kernels (bodies in dense_warp.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "common/cuda_launchers.h"
#include "warp/dense_warp.cuh"
#include "warp/warp_launch.h"

namespace pyavatar {
namespace cuda {

cudaError_t dense_warp_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_dense_warp_f32);
}

cudaError_t dense_warp(int dtype, const DeviceView<5>& feature, const DeviceView<5>& mask,
                       const DeviceView<3>& kp_source, const DeviceView<3>& kp_driving, void* output, void* deformation,
                       cudaStream_t stream) {
  return launch_for_dtype(dtype, pyavatar_dense_warp_f32, pyavatar_dense_warp_f16, pyavatar_dense_warp_bf16,
                          [&](auto tag, auto kernel) {
                            using T = element_of<decltype(tag)>;
                            pyavatar_warp::DenseWarpParams<T> p{};
                            p.feature = kernel_view<const T>(feature);
                            p.mask = kernel_view<const T>(mask);
                            p.kp_source = kernel_view<const T>(kp_source);
                            p.kp_driving = kernel_view<const T>(kp_driving);
                            p.output = static_cast<T*>(output);
                            p.deformation = static_cast<T*>(deformation);
                            const int64_t work = mask.size[0] * mask.size[2] * mask.size[3] * mask.size[4];
                            return launch_warp(kernel, p, work, feature.size[1], stream);
                          });
}

}  // namespace cuda
}  // namespace pyavatar
