// SPDX-License-Identifier: Apache-2.0
// Host-side launch geometry shared by the CUDA warp launchers (constants in warp_common.cuh); included by the
// launchers (*_cuda.cu, compiled by nvcc) only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/cuda_launch.h"
#include "warp/warp_common.cuh"

namespace pyavatar {
namespace cuda {

// Largest grid axis y: the channel chunks of one launch.
constexpr int64_t kMaxChannelChunks = 65535;

// Grid-stride blocks over `work` locations (x) times chunks of `channels` (y, at least one: deform_features
// has none, dense_warp still writes the deformation without channels).
inline dim3 warp_blocks(int64_t work, int64_t channels) {
  const int64_t blocks = (work + pyavatar_warp::kWarpThreads - 1) / pyavatar_warp::kWarpThreads;
  const int64_t chunks = (channels + pyavatar_warp::kChannelChunk - 1) / pyavatar_warp::kChannelChunk;
  return dim3(static_cast<unsigned>(blocks < pyavatar_warp::kWarpMaxBlocks ? blocks : pyavatar_warp::kWarpMaxBlocks),
              static_cast<unsigned>(chunks > 0 ? chunks : 1));
}

// Whether one launch covers `channels` (grid axis y holds at most kMaxChannelChunks chunks).
inline bool warp_channels_fit(int64_t channels) { return channels <= kMaxChannelChunks * pyavatar_warp::kChannelChunk; }

// Launches `kernel(params)` on `stream` over `work` locations times chunks of `channels` (warp_blocks); nothing
// when there is no work.
template <typename Params>
cudaError_t launch_warp(void (*kernel)(Params), const Params& params, int64_t work, int64_t channels,
                        cudaStream_t stream) {
  static_assert(is_kernel_params_v<Params>, "a params struct must be plain data");
  if (work == 0) return cudaSuccess;
  if (!warp_channels_fit(channels)) return cudaErrorInvalidConfiguration;
  kernel<<<warp_blocks(work, channels), pyavatar_warp::kWarpThreads, 0, stream>>>(params);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace pyavatar
