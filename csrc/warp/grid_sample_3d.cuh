// SPDX-License-Identifier: Apache-2.0
// CUDA trilinear sampling of a 5-D volume (torch.nn.functional.grid_sample,
// mode='bilinear', padding 'zeros' or 'border', either align_corners).
//
// One thread per output location (n, do, ho, wo) and chunk of 8 channels:
// grid axis x is a grid-stride loop over locations (any size is correct; 256
// threads per block), grid axis y = ceil(C / 8) chunks.
// Arguments: one GridSample3dParams (warp_params.h), passed by value.
// NVRTC-compilable (see warp_common.cuh).
#ifndef PYAVATAR_GRID_SAMPLE_3D_CUH
#define PYAVATAR_GRID_SAMPLE_3D_CUH

#include "warp_common.cuh"
#include "warp_params.h"

namespace pyavatar_warp {

template <typename T>
__device__ __forceinline__ void grid_sample_3d(const T* __restrict__ input, const T* __restrict__ grid,
                                               T* __restrict__ output, const GridSample3dParams<T>& p) {
  // The fields the body reads, loaded once up front.
  const i64 n_batch = p.input.size[0], channels = p.input.size[1], d = p.input.size[2], h = p.input.size[3],
            w = p.input.size[4];
  const i64 is0 = p.input.stride[0], is1 = p.input.stride[1], is2 = p.input.stride[2], is3 = p.input.stride[3],
            is4 = p.input.stride[4];
  const i64 d_out = p.grid.size[1], h_out = p.grid.size[2], w_out = p.grid.size[3];
  const i64 gs0 = p.grid.stride[0], gs1 = p.grid.stride[1], gs2 = p.grid.stride[2], gs3 = p.grid.stride[3],
            gs4 = p.grid.stride[4];
  const int padding = p.padding_mode, align_corners = p.align_corners;
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

// The restrict-qualified pointers are the inner function's parameters, as before the params struct: after
// inlining they keep the kernel's loads free of aliasing with the output.
#define PYAVATAR_GRID_SAMPLE_3D_KERNEL(suffix, T)                                      \
  extern "C" __global__ void __launch_bounds__(pyavatar_warp::kWarpThreads)            \
      pyavatar_grid_sample_3d_##suffix(const pyavatar_warp::GridSample3dParams<T> p) { \
    pyavatar_warp::grid_sample_3d<T>(p.input.data, p.grid.data, p.output, p);          \
  }

PYAVATAR_GRID_SAMPLE_3D_KERNEL(f32, float)
PYAVATAR_GRID_SAMPLE_3D_KERNEL(f16, pyavatar_warp::f16)
PYAVATAR_GRID_SAMPLE_3D_KERNEL(bf16, pyavatar_warp::bf16)

#undef PYAVATAR_GRID_SAMPLE_3D_KERNEL

#endif  // PYAVATAR_GRID_SAMPLE_3D_CUH
