// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA grid_sample_3d kernels (bodies in grid_sample_3d.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "common/cuda_launchers.h"
#include "warp/grid_sample_3d.cuh"
#include "warp/warp_launch.h"

namespace pyavatar {
namespace cuda {

cudaError_t grid_sample_3d_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_grid_sample_3d_f32);
}

cudaError_t grid_sample_3d(int dtype, const DeviceView<5>& input, const DeviceView<5>& grid, int padding_mode,
                           bool align_corners, void* output, cudaStream_t stream) {
  return launch_for_dtype(dtype, pyavatar_grid_sample_3d_f32, pyavatar_grid_sample_3d_f16, pyavatar_grid_sample_3d_bf16,
                          [&](auto tag, auto kernel) {
                            using T = element_of<decltype(tag)>;
                            pyavatar_warp::GridSample3dParams<T> p{};
                            p.input = kernel_view<const T>(input);
                            p.grid = kernel_view<const T>(grid);
                            p.output = static_cast<T*>(output);
                            p.padding_mode = padding_mode;
                            p.align_corners = align_corners ? 1 : 0;
                            const int64_t channels = input.size[1];
                            const int64_t work =
                                channels == 0 ? 0 : input.size[0] * grid.size[1] * grid.size[2] * grid.size[3];
                            return launch_warp(kernel, p, work, channels, stream);
                          });
}

}  // namespace cuda
}  // namespace pyavatar
