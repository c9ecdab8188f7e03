// SPDX-License-Identifier: Apache-2.0
// CUDA fused deformation + warp of LivePortrait's warping network (see
// dense_warp.h for the maths): per voxel of the mask's (D, H, W), the
// deformation sum_j mask_j * motion_j is formed in registers and the feature
// is sampled at it (trilinear, zeros, align_corners=False) in the same pass.
//
// One thread per (n, d, h, w) and chunk of 8 feature channels, looping over
// mask groups: grid axis x is a grid-stride loop over voxels (any size is
// correct; 256 threads per block), grid axis y = ceil(C / 8) chunks; chunk 0
// writes the deformation.
// Arguments: one DenseWarpParams (warp_params.h), passed by value; the
// deformation is written only when its pointer is not null.
// NVRTC-compilable (see warp_common.cuh).
#ifndef PYAVATAR_DENSE_WARP_CUH
#define PYAVATAR_DENSE_WARP_CUH

#include "warp_common.cuh"
#include "warp_params.h"

namespace pyavatar_warp {

template <typename T>
__device__ __forceinline__ void dense_warp(const T* __restrict__ feature, const T* __restrict__ mask,
                                           const T* __restrict__ kp_source, const T* __restrict__ kp_driving,
                                           T* __restrict__ output, T* __restrict__ deformation,
                                           const DenseWarpParams<T>& p) {
  // The fields the body reads, loaded once up front.
  const i64 n_batch = p.feature.size[0], channels = p.feature.size[1], df = p.feature.size[2], hf = p.feature.size[3],
            wf = p.feature.size[4];
  const i64 fs0 = p.feature.stride[0], fs1 = p.feature.stride[1], fs2 = p.feature.stride[2], fs3 = p.feature.stride[3],
            fs4 = p.feature.stride[4];
  const i64 groups = p.mask.size[1], d = p.mask.size[2], h = p.mask.size[3], w = p.mask.size[4];
  const i64 ms0 = p.mask.stride[0], ms1 = p.mask.stride[1], ms2 = p.mask.stride[2], ms3 = p.mask.stride[3],
            ms4 = p.mask.stride[4];
  const i64 ss0 = p.kp_source.stride[0], ss1 = p.kp_source.stride[1], ss2 = p.kp_source.stride[2];
  const i64 ds0 = p.kp_driving.stride[0], ds1 = p.kp_driving.stride[1], ds2 = p.kp_driving.stride[2];
  const i64 spatial = d * h * w;
  const i64 total = n_batch * spatial;
  const i64 c_begin = static_cast<i64>(blockIdx.y) * kChannelChunk, c_end = chunk_end(c_begin, channels);
  for (i64 idx = global_thread(); idx < total; idx += global_stride()) {
    const i64 n = idx / spatial, s = idx - n * spatial;
    const i64 iw = s % w, ih = (s / w) % h, id = s / (w * h);
    const float pt[3] = {lattice(iw, w), lattice(ih, h), lattice(id, d)};
    const T* m = mask + n * ms0 + id * ms2 + ih * ms3 + iw * ms4;
    const T* ks = kp_source + n * ss0;
    const T* kd = kp_driving + n * ds0;
    float def[3] = {0.0f, 0.0f, 0.0f};
    for (i64 j = 0; j < groups; ++j) {
      const float mj = to_float(m[j * ms1]);
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        const float motion =
            j == 0 ? pt[a] : (pt[a] - to_float(kd[(j - 1) * ds1 + a * ds2])) + to_float(ks[(j - 1) * ss1 + a * ss2]);
        def[a] += mj * motion;
      }
    }
    if (deformation != nullptr && c_begin == 0) {
#pragma unroll
      for (int a = 0; a < 3; ++a) deformation[idx * 3 + a] = from_float<T>(def[a]);
    }
    const float x = source_index(def[0], wf, false, false);
    const float y = source_index(def[1], hf, false, false);
    const float z = source_index(def[2], df, false, false);
    const Taps taps = make_taps(x, y, z, wf, hf, df, fs4, fs3, fs2);
    const T* in = feature + n * fs0;
    T* out = output + n * channels * spatial + s;
    for (i64 c = c_begin; c < c_end; ++c) out[c * spatial] = from_float<T>(sample(in + c * fs1, taps));
  }
}

}  // namespace pyavatar_warp

// Restrict-qualified pointers as the inner function's parameters: see grid_sample_3d.cuh.
#define PYAVATAR_DENSE_WARP_KERNEL(suffix, T)                                                                \
  extern "C" __global__ void __launch_bounds__(pyavatar_warp::kWarpThreads)                                  \
      pyavatar_dense_warp_##suffix(const pyavatar_warp::DenseWarpParams<T> p) {                              \
    pyavatar_warp::dense_warp<T>(p.feature.data, p.mask.data, p.kp_source.data, p.kp_driving.data, p.output, \
                                 p.deformation, p);                                                          \
  }

PYAVATAR_DENSE_WARP_KERNEL(f32, float)
PYAVATAR_DENSE_WARP_KERNEL(f16, pyavatar_warp::f16)
PYAVATAR_DENSE_WARP_KERNEL(bf16, pyavatar_warp::bf16)

#undef PYAVATAR_DENSE_WARP_KERNEL

#endif  // PYAVATAR_DENSE_WARP_CUH
