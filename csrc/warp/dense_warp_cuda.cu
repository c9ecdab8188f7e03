// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA dense_warp kernels (bodies in dense_warp.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "warp/dense_warp.cuh"
#include "warp/warp_launch.h"

namespace pyavatar {
namespace cuda {

namespace {

template <typename T, typename Kernel>
cudaError_t launch(Kernel kernel, const void* feature, const int64_t* fs, const int64_t* fst, const void* mask,
                   const int64_t* ms, const int64_t* mst, const void* kp_source, const int64_t* sst,
                   const void* kp_driving, const int64_t* dst, void* output, void* deformation, cudaStream_t stream) {
  const int64_t work = ms[0] * ms[2] * ms[3] * ms[4];
  if (work == 0) return cudaSuccess;
  if (!warp_channels_fit(fs[1])) return cudaErrorInvalidConfiguration;
  kernel<<<warp_blocks(work, fs[1]), pyavatar_warp::kWarpThreads, 0, stream>>>(
      static_cast<const T*>(feature), static_cast<const T*>(mask), static_cast<const T*>(kp_source),
      static_cast<const T*>(kp_driving), static_cast<T*>(output), static_cast<T*>(deformation), fs[0], fs[1], fs[2],
      fs[3], fs[4], fst[0], fst[1], fst[2], fst[3], fst[4], ms[1], ms[2], ms[3], ms[4], mst[0], mst[1], mst[2], mst[3],
      mst[4], sst[0], sst[1], sst[2], dst[0], dst[1], dst[2]);
  return cudaGetLastError();
}

}  // namespace

cudaError_t dense_warp_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_dense_warp_f32);
}

// feature (N, C, Df, Hf, Wf), mask (N, K+1, D, H, W), kp_source / kp_driving
// (N, K, 3): sizes and element strides; output (N, C, D, H, W) contiguous;
// deformation (N, D, H, W, 3) contiguous or null. dtype: 0 fp32, 1 fp16, 2 bf16.
cudaError_t dense_warp(int dtype, const void* feature, const int64_t* feature_size, const int64_t* feature_stride,
                       const void* mask, const int64_t* mask_size, const int64_t* mask_stride, const void* kp_source,
                       const int64_t* kp_source_stride, const void* kp_driving, const int64_t* kp_driving_stride,
                       void* output, void* deformation, cudaStream_t stream) {
  return launch_for_dtype(
      dtype, pyavatar_dense_warp_f32, pyavatar_dense_warp_f16, pyavatar_dense_warp_bf16, [&](auto tag, auto kernel) {
        return launch<element_of<decltype(tag)>>(kernel, feature, feature_size, feature_stride, mask, mask_size,
                                                 mask_stride, kp_source, kp_source_stride, kp_driving,
                                                 kp_driving_stride, output, deformation, stream);
      });
}

}  // namespace cuda
}  // namespace pyavatar
