// SPDX-License-Identifier: Apache-2.0
// CUDA dense-motion input of LivePortrait's warping network, fused (see
// deform_features.h for the maths). Group g's sampling grid is the
// align-corners lattice moved by the constant kp_source[g-1] - kp_driving[g-1],
// so the sample position of voxel (d, h, w) is separable per axis and is
// recomputed in registers instead of being read from a materialised grid.
//
// One thread per (n, group, d, h, w) writes the heatmap channel and the C
// deformed channels of that voxel, in a grid-stride loop (any 1-D launch is
// correct; 256 threads per block). Output (N, K+1, C+1, D, H, W) contiguous.
// NVRTC-compilable (see warp_common.cuh).
#ifndef PYAVATAR_DEFORM_FEATURES_CUH
#define PYAVATAR_DEFORM_FEATURES_CUH

#include "warp_common.cuh"

namespace pyavatar_warp {

template <typename T>
__device__ __forceinline__ void deform_features(const T* __restrict__ feature, const T* __restrict__ kp_source,
                                                const T* __restrict__ kp_driving, T* __restrict__ output, i64 n_batch,
                                                i64 channels, i64 d, i64 h, i64 w, i64 fs0, i64 fs1, i64 fs2, i64 fs3,
                                                i64 fs4, i64 n_kp, i64 ss0, i64 ss1, i64 ss2, i64 ds0, i64 ds1, i64 ds2,
                                                float kp_variance) {
  const i64 spatial = d * h * w;
  const i64 groups = n_kp + 1;
  const i64 total = n_batch * groups * spatial;
  for (i64 idx = global_thread(); idx < total; idx += global_stride()) {
    const i64 ng = idx / spatial, s = idx - ng * spatial;
    const i64 n = ng / groups, g = ng - n * groups;
    const i64 iw = s % w, ih = (s / w) % h, id = s / (w * h);
    const float p[3] = {lattice(iw, w), lattice(ih, h), lattice(id, d)};
    float moved[3] = {p[0], p[1], p[2]};
    float heat = 0.0f;
    if (g > 0) {
      const T* ks = kp_source + n * ss0 + (g - 1) * ss1;
      const T* kd = kp_driving + n * ds0 + (g - 1) * ds1;
      float dist_d = 0.0f, dist_s = 0.0f;
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        const float src = to_float(ks[a * ss2]), drv = to_float(kd[a * ds2]);
        dist_d += (p[a] - drv) * (p[a] - drv);
        dist_s += (p[a] - src) * (p[a] - src);
        moved[a] = (p[a] - drv) + src;
      }
      heat = expf(-0.5f * dist_d / kp_variance) - expf(-0.5f * dist_s / kp_variance);
    }
    const float x = source_index(moved[0], w, false, false);
    const float y = source_index(moved[1], h, false, false);
    const float z = source_index(moved[2], d, false, false);
    const Taps taps = make_taps(x, y, z, w, h, d, fs4, fs3, fs2);
    const T* in = feature + n * fs0;
    T* out = output + ng * (channels + 1) * spatial + s;
    out[0] = from_float<T>(heat);
    for (i64 c = 0; c < channels; ++c) out[(c + 1) * spatial] = from_float<T>(sample(in + c * fs1, taps));
  }
}

}  // namespace pyavatar_warp

#define PYAVATAR_DEFORM_FEATURES_KERNEL(suffix, T)                                                                  \
  extern "C" __global__ void __launch_bounds__(pyavatar_warp::kWarpThreads) pyavatar_deform_features_##suffix(      \
      const T* feature, const T* kp_source, const T* kp_driving, T* output, long long n_batch, long long channels,  \
      long long d, long long h, long long w, long long fs0, long long fs1, long long fs2, long long fs3,            \
      long long fs4, long long n_kp, long long ss0, long long ss1, long long ss2, long long ds0, long long ds1,     \
      long long ds2, float kp_variance) {                                                                           \
    pyavatar_warp::deform_features<T>(feature, kp_source, kp_driving, output, n_batch, channels, d, h, w, fs0, fs1, \
                                      fs2, fs3, fs4, n_kp, ss0, ss1, ss2, ds0, ds1, ds2, kp_variance);              \
  }

PYAVATAR_DEFORM_FEATURES_KERNEL(f32, float)
PYAVATAR_DEFORM_FEATURES_KERNEL(f16, pyavatar_warp::f16)
PYAVATAR_DEFORM_FEATURES_KERNEL(bf16, pyavatar_warp::bf16)

#undef PYAVATAR_DEFORM_FEATURES_KERNEL

#endif  // PYAVATAR_DEFORM_FEATURES_CUH
