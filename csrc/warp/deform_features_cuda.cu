// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA deform_features kernels (bodies in deform_features.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "warp/deform_features.cuh"
#include "warp/warp_launch.h"

namespace pyavatar {
namespace cuda {

namespace {

template <typename T, typename Kernel>
cudaError_t launch(Kernel kernel, const void* feature, const int64_t* fs, const int64_t* fst, const void* kp_source,
                   const int64_t* ss, const int64_t* sst, const void* kp_driving, const int64_t* dst, float kp_variance,
                   void* output, cudaStream_t stream) {
  const int64_t work = fs[0] * (ss[1] + 1) * fs[2] * fs[3] * fs[4];
  if (work == 0) return cudaSuccess;
  kernel<<<warp_blocks(work, 0), pyavatar_warp::kWarpThreads, 0, stream>>>(
      static_cast<const T*>(feature), static_cast<const T*>(kp_source), static_cast<const T*>(kp_driving),
      static_cast<T*>(output), fs[0], fs[1], fs[2], fs[3], fs[4], fst[0], fst[1], fst[2], fst[3], fst[4], ss[1], sst[0],
      sst[1], sst[2], dst[0], dst[1], dst[2], kp_variance);
  return cudaGetLastError();
}

}  // namespace

cudaError_t deform_features_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_deform_features_f32);
}

// feature (N, C, D, H, W), kp_source / kp_driving (N, K, 3): sizes and element
// strides; output (N, K+1, C+1, D, H, W) contiguous. dtype: 0 fp32, 1 fp16, 2 bf16.
cudaError_t deform_features(int dtype, const void* feature, const int64_t* feature_size, const int64_t* feature_stride,
                            const void* kp_source, const int64_t* kp_source_size, const int64_t* kp_source_stride,
                            const void* kp_driving, const int64_t* kp_driving_stride, float kp_variance, void* output,
                            cudaStream_t stream) {
  return launch_for_dtype(dtype, pyavatar_deform_features_f32, pyavatar_deform_features_f16,
                          pyavatar_deform_features_bf16, [&](auto tag, auto kernel) {
                            return launch<element_of<decltype(tag)>>(
                                kernel, feature, feature_size, feature_stride, kp_source, kp_source_size,
                                kp_source_stride, kp_driving, kp_driving_stride, kp_variance, output, stream);
                          });
}

}  // namespace cuda
}  // namespace pyavatar
