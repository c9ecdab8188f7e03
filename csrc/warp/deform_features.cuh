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
// Arguments: one DeformFeaturesParams (warp_params.h), passed by value.
// NVRTC-compilable (see warp_common.cuh).
#ifndef PYAVATAR_DEFORM_FEATURES_CUH
#define PYAVATAR_DEFORM_FEATURES_CUH

#include "warp_common.cuh"
#include "warp_params.h"

namespace pyavatar_warp {

template <typename T>
__device__ __forceinline__ void deform_features(const T* __restrict__ feature, const T* __restrict__ kp_source,
                                                const T* __restrict__ kp_driving, T* __restrict__ output,
                                                const DeformFeaturesParams<T>& p) {
  // The fields the body reads, loaded once up front.
  const i64 n_batch = p.feature.size[0], channels = p.feature.size[1], d = p.feature.size[2], h = p.feature.size[3],
            w = p.feature.size[4];
  const i64 fs0 = p.feature.stride[0], fs1 = p.feature.stride[1], fs2 = p.feature.stride[2], fs3 = p.feature.stride[3],
            fs4 = p.feature.stride[4];
  const i64 n_kp = p.kp_source.size[1];
  const i64 ss0 = p.kp_source.stride[0], ss1 = p.kp_source.stride[1], ss2 = p.kp_source.stride[2];
  const i64 ds0 = p.kp_driving.stride[0], ds1 = p.kp_driving.stride[1], ds2 = p.kp_driving.stride[2];
  const float kp_variance = p.kp_variance;
  const i64 spatial = d * h * w;
  const i64 groups = n_kp + 1;
  const i64 total = n_batch * groups * spatial;
  for (i64 idx = global_thread(); idx < total; idx += global_stride()) {
    const i64 ng = idx / spatial, s = idx - ng * spatial;
    const i64 n = ng / groups, g = ng - n * groups;
    const i64 iw = s % w, ih = (s / w) % h, id = s / (w * h);
    const float pt[3] = {lattice(iw, w), lattice(ih, h), lattice(id, d)};
    float moved[3] = {pt[0], pt[1], pt[2]};
    float heat = 0.0f;
    if (g > 0) {
      const T* ks = kp_source + n * ss0 + (g - 1) * ss1;
      const T* kd = kp_driving + n * ds0 + (g - 1) * ds1;
      float dist_d = 0.0f, dist_s = 0.0f;
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        const float src = to_float(ks[a * ss2]), drv = to_float(kd[a * ds2]);
        dist_d += (pt[a] - drv) * (pt[a] - drv);
        dist_s += (pt[a] - src) * (pt[a] - src);
        moved[a] = (pt[a] - drv) + src;
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

// Restrict-qualified pointers as the inner function's parameters: see grid_sample_3d.cuh.
#define PYAVATAR_DEFORM_FEATURES_KERNEL(suffix, T)                                                       \
  extern "C" __global__ void __launch_bounds__(pyavatar_warp::kWarpThreads)                              \
      pyavatar_deform_features_##suffix(const pyavatar_warp::DeformFeaturesParams<T> p) {                \
    pyavatar_warp::deform_features<T>(p.feature.data, p.kp_source.data, p.kp_driving.data, p.output, p); \
  }

PYAVATAR_DEFORM_FEATURES_KERNEL(f32, float)
PYAVATAR_DEFORM_FEATURES_KERNEL(f16, pyavatar_warp::f16)
PYAVATAR_DEFORM_FEATURES_KERNEL(bf16, pyavatar_warp::bf16)

#undef PYAVATAR_DEFORM_FEATURES_KERNEL

#endif  // PYAVATAR_DEFORM_FEATURES_CUH
