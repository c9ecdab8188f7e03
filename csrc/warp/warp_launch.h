// SPDX-License-Identifier: Apache-2.0
// Host-side launch geometry shared by the CUDA warp launchers (constants in warp_common.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

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

}  // namespace cuda
}  // namespace pyavatar
