// SPDX-License-Identifier: Apache-2.0
// Straightforward CPU version (first version; optimised separately).
#include "warp/dense_warp.h"

#include <cmath>

#include "common/parallel.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {
inline float lattice(int64_t i, int64_t n) { return 2.f * (static_cast<float>(i) / static_cast<float>(n - 1)) - 1.f; }
inline float unnorm(float x, int64_t n) { return ((x + 1.f) * static_cast<float>(n) - 1.f) * 0.5f; }
}  // namespace

void dense_warp(const DenseWarpParams& p) {
  const auto& f = p.feature;
  const auto& m = p.mask;
  const int64_t N = f.size[0], C = f.size[1], Df = f.size[2], Hf = f.size[3], Wf = f.size[4];
  const int64_t K1 = m.size[1], D = m.size[2], H = m.size[3], W = m.size[4];
  const int64_t S = D * H * W;
  parallel_for(0, N * S, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t n = idx / S, s = idx % S;
      const int64_t d = s / (H * W), h = (s / W) % H, w = s % W;
      const float lat[3] = {lattice(w, W), lattice(h, H), lattice(d, D)};
      float def[3] = {0, 0, 0};
      for (int64_t j = 0; j < K1; ++j) {
        const float mj = m.data[n * m.stride[0] + j * m.stride[1] + d * m.stride[2] + h * m.stride[3] + w * m.stride[4]];
        for (int a = 0; a < 3; ++a) {
          float motion = lat[a];
          if (j > 0) {
            motion = motion - p.kp_driving.data[n * p.kp_driving.stride[0] + (j - 1) * p.kp_driving.stride[1] + a * p.kp_driving.stride[2]] +
                     p.kp_source.data[n * p.kp_source.stride[0] + (j - 1) * p.kp_source.stride[1] + a * p.kp_source.stride[2]];
          }
          def[a] += mj * motion;
        }
      }
      if (p.deformation != nullptr)
        for (int a = 0; a < 3; ++a) p.deformation[idx * 3 + a] = def[a];
      const float x = unnorm(def[0], Wf), y = unnorm(def[1], Hf), z = unnorm(def[2], Df);
      const float fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy), z0 = static_cast<int64_t>(fz);
      const float tx = x - fx, ty = y - fy, tz = z - fz;
      for (int64_t c = 0; c < C; ++c) {
        float acc = 0.f;
        for (int corner = 0; corner < 8; ++corner) {
          const int dx = corner & 1, dy = (corner >> 1) & 1, dz = (corner >> 2) & 1;
          const int64_t xi = x0 + dx, yi = y0 + dy, zi = z0 + dz;
          if (xi < 0 || xi >= Wf || yi < 0 || yi >= Hf || zi < 0 || zi >= Df) continue;
          const float wgt = (dx ? tx : 1.f - tx) * (dy ? ty : 1.f - ty) * (dz ? tz : 1.f - tz);
          acc += wgt * f.data[n * f.stride[0] + c * f.stride[1] + zi * f.stride[2] + yi * f.stride[3] + xi * f.stride[4]];
        }
        p.output[(n * C + c) * S + s] = acc;
      }
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
