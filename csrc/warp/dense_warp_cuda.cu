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

namespace {

template <typename T, typename Kernel>
cudaError_t launch(Kernel kernel, const pyavatar_warp::DenseWarpParams<T>& p, cudaStream_t stream) {
  static_assert(is_kernel_params_v<pyavatar_warp::DenseWarpParams<T>>, "params must be plain data");
  const int64_t work = p.mask.size[0] * p.mask.size[2] * p.mask.size[3] * p.mask.size[4];
  const int64_t channels = p.feature.size[1];
  if (work == 0) return cudaSuccess;
  if (!warp_channels_fit(channels)) return cudaErrorInvalidConfiguration;
  kernel<<<warp_blocks(work, channels), pyavatar_warp::kWarpThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

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
                            return launch(kernel, p, stream);
                          });
}

}  // namespace cuda
}  // namespace pyavatar
