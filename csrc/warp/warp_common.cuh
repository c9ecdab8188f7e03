// SPDX-License-Identifier: Apache-2.0
// Device helpers shared by the CUDA warp kernels: storage types with fp32 math,
// a grid-stride index range, the align-corners lattice and the trilinear taps of
// torch.nn.functional.grid_sample (mode='bilinear' on 5-D input).
//
// NVRTC-compilable: only CUDA built-ins and pyavatar's own headers (included by
// relative path, which the CuPy loader inlines).
#ifndef PYAVATAR_WARP_COMMON_CUH
#define PYAVATAR_WARP_COMMON_CUH

#include "../common/cuda_dtype.cuh"

namespace pyavatar_warp {

typedef long long i64;

// fp16/bf16 storage types and conversions (csrc/common/cuda_dtype.cuh).
using pyavatar_cuda::bf16;
using pyavatar_cuda::f16;
using pyavatar_cuda::from_float;
using pyavatar_cuda::to_float;

// Launch geometry of every warp kernel (the host launchers use it through
// warp_launch.h; pyavatar/kernels/_cupy.py reads these three lines):
// kWarpThreads threads per block; grid axis x = blocks over the locations, at
// most kWarpMaxBlocks (a grid-stride loop covers the rest); grid axis y = chunks
// of kChannelChunk channels (grid_sample_3d / dense_warp), so a volume with many
// channels still fills the GPU.
constexpr int kWarpThreads = 256;
constexpr long long kWarpMaxBlocks = 65536;
constexpr int kChannelChunk = 8;

__device__ __forceinline__ i64 chunk_end(i64 begin, i64 channels) {
  return begin + kChannelChunk < channels ? begin + kChannelChunk : channels;
}

// First index and stride of a grid-stride loop over grid axis x.
__device__ __forceinline__ i64 global_thread() { return static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 global_stride() { return static_cast<i64>(gridDim.x) * blockDim.x; }

// LivePortrait's make_coordinate_grid: 2 * (i / (n - 1)) - 1.
__device__ __forceinline__ float lattice(i64 i, i64 n) {
  return 2.0f * (static_cast<float>(i) / static_cast<float>(n - 1)) - 1.0f;
}

// Normalised coordinate -> voxel coordinate, as grid_sample computes it
// (including torch's clamp of non-finite / huge values to -100).
__device__ __forceinline__ float source_index(float coord, i64 size, bool border, bool align_corners) {
  const float n = static_cast<float>(size);
  float x = align_corners ? ((coord + 1.0f) / 2.0f) * (n - 1.0f) : ((coord + 1.0f) * n - 1.0f) / 2.0f;
  if (border) x = fminf(n - 1.0f, fmaxf(x, 0.0f));
  if (!(x >= -2147483648.0f && x <= 2147483648.0f)) x = -100.0f;
  return x;
}

// The eight taps of a trilinear sample: element offsets into one (D, H, W)
// volume and weights, in grid_sample's order (tnw, tne, tsw, tse, bnw, bne,
// bsw, bse: x fastest). Taps outside the volume are flagged and skipped.
struct Taps {
  i64 offset[8];
  float weight[8];
  unsigned valid;  // bit t set when tap t lies inside the volume
};

__device__ __forceinline__ Taps make_taps(float x, float y, float z, i64 w, i64 h, i64 d, i64 sx, i64 sy, i64 sz) {
  const float fx = floorf(x), fy = floorf(y), fz = floorf(z);
  const i64 x0 = static_cast<i64>(fx), y0 = static_cast<i64>(fy), z0 = static_cast<i64>(fz);
  const float wx[2] = {(fx + 1.0f) - x, x - fx};
  const float wy[2] = {(fy + 1.0f) - y, y - fy};
  const float wz[2] = {(fz + 1.0f) - z, z - fz};
  Taps t;
  t.valid = 0;
#pragma unroll
  for (int corner = 0; corner < 8; ++corner) {
    const int dx = corner & 1, dy = (corner >> 1) & 1, dz = corner >> 2;
    const i64 xi = x0 + dx, yi = y0 + dy, zi = z0 + dz;
    const bool inside = xi >= 0 && xi < w && yi >= 0 && yi < h && zi >= 0 && zi < d;
    t.offset[corner] = inside ? zi * sz + yi * sy + xi * sx : 0;
    t.weight[corner] = wx[dx] * wy[dy] * wz[dz];
    t.valid |= inside ? (1u << corner) : 0u;
  }
  return t;
}

template <typename T>
__device__ __forceinline__ float sample(const T* volume, const Taps& t) {
  float acc = 0.0f;
#pragma unroll
  for (int corner = 0; corner < 8; ++corner)
    if (t.valid & (1u << corner)) acc += to_float(volume[t.offset[corner]]) * t.weight[corner];
  return acc;
}

}  // namespace pyavatar_warp

#endif  // PYAVATAR_WARP_COMMON_CUH
