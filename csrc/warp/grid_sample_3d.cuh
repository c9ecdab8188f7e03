// SPDX-License-Identifier: Apache-2.0
// CUDA trilinear sampling of a 5-D volume (torch.nn.functional.grid_sample,
// mode='bilinear', padding 'zeros' or 'border', either align_corners).
//
// One thread per output location (n, do, ho, wo) and chunk of 8 channels:
// grid axis x is a grid-stride loop over locations (any size is correct; 256
// threads per block), grid axis y = ceil(C / 8) chunks.
// Arguments: input (N, C, D, H, W) and grid (N, Do, Ho, Wo, 3) with element
// strides, output (N, C, Do, Ho, Wo) contiguous; padding 0 = zeros, 1 = border.
// NVRTC-compilable (see warp_common.cuh).
#ifndef PYAVATAR_GRID_SAMPLE_3D_CUH
#define PYAVATAR_GRID_SAMPLE_3D_CUH

#include "warp_common.cuh"

namespace pyavatar_warp {

template <typename T>
__device__ __forceinline__ void grid_sample_3d(const T* __restrict__ input, const T* __restrict__ grid,
                                               T* __restrict__ output, i64 n_batch, i64 channels, i64 d, i64 h, i64 w,
                                               i64 is0, i64 is1, i64 is2, i64 is3, i64 is4, i64 d_out, i64 h_out,
                                               i64 w_out, i64 gs0, i64 gs1, i64 gs2, i64 gs3, i64 gs4, i64 padding,
                                               i64 align_corners) {
  const i64 spatial = d_out * h_out * w_out;
  const i64 total = n_batch * spatial;
  const bool border = padding == 1, align = align_corners != 0;
  const i64 c_begin = static_cast<i64>(blockIdx.y) * kChannelChunk, c_end = chunk_end(c_begin, channels);
  for (i64 idx = global_thread(); idx < total; idx += global_stride()) {
    const i64 n = idx / spatial, s = idx - n * spatial;
    const i64 ow = s % w_out, oh = (s / w_out) % h_out, od = s / (w_out * h_out);
    const T* g = grid + n * gs0 + od * gs1 + oh * gs2 + ow * gs3;
    const float x = source_index(to_float(g[0]), w, border, align);
    const float y = source_index(to_float(g[gs4]), h, border, align);
    const float z = source_index(to_float(g[2 * gs4]), d, border, align);
    const Taps taps = make_taps(x, y, z, w, h, d, is4, is3, is2);
    const T* in = input + n * is0;
    T* out = output + n * channels * spatial + s;
    for (i64 c = c_begin; c < c_end; ++c) out[c * spatial] = from_float<T>(sample(in + c * is1, taps));
  }
}

}  // namespace pyavatar_warp

#define PYAVATAR_GRID_SAMPLE_3D_KERNEL(suffix, T)                                                                     \
  extern "C" __global__ void __launch_bounds__(pyavatar_warp::kWarpThreads) pyavatar_grid_sample_3d_##suffix(         \
      const T* input, const T* grid, T* output, long long n_batch, long long channels, long long d, long long h,      \
      long long w, long long is0, long long is1, long long is2, long long is3, long long is4, long long d_out,        \
      long long h_out, long long w_out, long long gs0, long long gs1, long long gs2, long long gs3, long long gs4,    \
      long long padding, long long align_corners) {                                                                   \
    pyavatar_warp::grid_sample_3d<T>(input, grid, output, n_batch, channels, d, h, w, is0, is1, is2, is3, is4, d_out, \
                                     h_out, w_out, gs0, gs1, gs2, gs3, gs4, padding, align_corners);                  \
  }

PYAVATAR_GRID_SAMPLE_3D_KERNEL(f32, float)
PYAVATAR_GRID_SAMPLE_3D_KERNEL(f16, pyavatar_warp::f16)
PYAVATAR_GRID_SAMPLE_3D_KERNEL(bf16, pyavatar_warp::bf16)

#undef PYAVATAR_GRID_SAMPLE_3D_KERNEL

#endif  // PYAVATAR_GRID_SAMPLE_3D_CUH
