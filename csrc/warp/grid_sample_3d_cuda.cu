// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA grid_sample_3d kernels (bodies in grid_sample_3d.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "warp/grid_sample_3d.cuh"
#include "warp/warp_launch.h"

namespace pyavatar {
namespace cuda {

namespace {

template <typename T, typename Kernel>
cudaError_t launch(Kernel kernel, const void* input, const int64_t* is, const int64_t* ist, const void* grid,
                   const int64_t* gs, const int64_t* gst, void* output, int padding, bool align_corners,
                   cudaStream_t stream) {
  const int64_t work = is[0] * gs[1] * gs[2] * gs[3];
  if (work == 0 || is[1] == 0) return cudaSuccess;
  if (!warp_channels_fit(is[1])) return cudaErrorInvalidConfiguration;
  kernel<<<warp_blocks(work, is[1]), pyavatar_warp::kWarpThreads, 0, stream>>>(
      static_cast<const T*>(input), static_cast<const T*>(grid), static_cast<T*>(output), is[0], is[1], is[2], is[3],
      is[4], ist[0], ist[1], ist[2], ist[3], ist[4], gs[1], gs[2], gs[3], gst[0], gst[1], gst[2], gst[3], gst[4],
      padding, align_corners ? 1 : 0);
  return cudaGetLastError();
}

}  // namespace

cudaError_t grid_sample_3d_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_grid_sample_3d_f32);
}

// input (N, C, D, H, W), grid (N, Do, Ho, Wo, 3): sizes and element strides;
// output (N, C, Do, Ho, Wo) contiguous. dtype: 0 fp32, 1 fp16, 2 bf16.
cudaError_t grid_sample_3d(int dtype, const void* input, const int64_t* input_size, const int64_t* input_stride,
                           const void* grid, const int64_t* grid_size, const int64_t* grid_stride, void* output,
                           int padding, bool align_corners, cudaStream_t stream) {
  return launch_for_dtype(dtype, pyavatar_grid_sample_3d_f32, pyavatar_grid_sample_3d_f16, pyavatar_grid_sample_3d_bf16,
                          [&](auto tag, auto kernel) {
                            return launch<element_of<decltype(tag)>>(kernel, input, input_size, input_stride, grid,
                                                                     grid_size, grid_stride, output, padding,
                                                                     align_corners, stream);
                          });
}

}  // namespace cuda
}  // namespace pyavatar
