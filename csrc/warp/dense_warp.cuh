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
// Output (N, C, D, H, W) contiguous; deformation (N, D, H, W, 3) contiguous or
// a null pointer when not wanted. NVRTC-compilable (see warp_common.cuh).
#ifndef PYAVATAR_DENSE_WARP_CUH
#define PYAVATAR_DENSE_WARP_CUH

#include "warp_common.cuh"

namespace pyavatar_warp {

template <typename T>
__device__ __forceinline__ void dense_warp(const T* __restrict__ feature, const T* __restrict__ mask,
                                           const T* __restrict__ kp_source, const T* __restrict__ kp_driving,
                                           T* __restrict__ output, T* __restrict__ deformation, i64 n_batch,
                                           i64 channels, i64 df, i64 hf, i64 wf, i64 fs0, i64 fs1, i64 fs2, i64 fs3,
                                           i64 fs4, i64 groups, i64 d, i64 h, i64 w, i64 ms0, i64 ms1, i64 ms2, i64 ms3,
                                           i64 ms4, i64 ss0, i64 ss1, i64 ss2, i64 ds0, i64 ds1, i64 ds2) {
  const i64 spatial = d * h * w;
  const i64 total = n_batch * spatial;
  const i64 c_begin = static_cast<i64>(blockIdx.y) * kChannelChunk, c_end = chunk_end(c_begin, channels);
  for (i64 idx = global_thread(); idx < total; idx += global_stride()) {
    const i64 n = idx / spatial, s = idx - n * spatial;
    const i64 iw = s % w, ih = (s / w) % h, id = s / (w * h);
    const float p[3] = {lattice(iw, w), lattice(ih, h), lattice(id, d)};
    const T* m = mask + n * ms0 + id * ms2 + ih * ms3 + iw * ms4;
    const T* ks = kp_source + n * ss0;
    const T* kd = kp_driving + n * ds0;
    float def[3] = {0.0f, 0.0f, 0.0f};
    for (i64 j = 0; j < groups; ++j) {
      const float mj = to_float(m[j * ms1]);
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        const float motion =
            j == 0 ? p[a] : (p[a] - to_float(kd[(j - 1) * ds1 + a * ds2])) + to_float(ks[(j - 1) * ss1 + a * ss2]);
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

#define PYAVATAR_DENSE_WARP_KERNEL(suffix, T)                                                                          \
  extern "C" __global__ void __launch_bounds__(pyavatar_warp::kWarpThreads) pyavatar_dense_warp_##suffix(              \
      const T* feature, const T* mask, const T* kp_source, const T* kp_driving, T* output, T* deformation,             \
      long long n_batch, long long channels, long long df, long long hf, long long wf, long long fs0, long long fs1,   \
      long long fs2, long long fs3, long long fs4, long long groups, long long d, long long h, long long w,            \
      long long ms0, long long ms1, long long ms2, long long ms3, long long ms4, long long ss0, long long ss1,         \
      long long ss2, long long ds0, long long ds1, long long ds2) {                                                    \
    pyavatar_warp::dense_warp<T>(feature, mask, kp_source, kp_driving, output, deformation, n_batch, channels, df, hf, \
                                 wf, fs0, fs1, fs2, fs3, fs4, groups, d, h, w, ms0, ms1, ms2, ms3, ms4, ss0, ss1, ss2, \
                                 ds0, ds1, ds2);                                                                       \
  }

PYAVATAR_DENSE_WARP_KERNEL(f32, float)
PYAVATAR_DENSE_WARP_KERNEL(f16, pyavatar_warp::f16)
PYAVATAR_DENSE_WARP_KERNEL(bf16, pyavatar_warp::bf16)

#undef PYAVATAR_DENSE_WARP_KERNEL

#endif  // PYAVATAR_DENSE_WARP_CUH
