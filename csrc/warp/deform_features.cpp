// SPDX-License-Identifier: Apache-2.0
// Straightforward CPU version (first version; optimised separately).
#include "warp/deform_features.h"

#include <cmath>

#include "common/parallel.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {
inline float lattice(int64_t i, int64_t n) { return 2.f * (static_cast<float>(i) / static_cast<float>(n - 1)) - 1.f; }
inline float unnorm(float x, int64_t n) { return ((x + 1.f) * static_cast<float>(n) - 1.f) * 0.5f; }
}  // namespace

void deform_features(const DeformFeaturesParams& p) {
  const auto& f = p.feature;
  const int64_t N = f.size[0], C = f.size[1], D = f.size[2], H = f.size[3], W = f.size[4];
  const int64_t K = p.kp_source.size[1];
  const int64_t S = D * H * W;
  parallel_for(0, N * (K + 1), 1, [&](int64_t begin, int64_t end) {
    for (int64_t nk = begin; nk < end; ++nk) {
      const int64_t n = nk / (K + 1), k = nk % (K + 1);
      float ks[3] = {0, 0, 0}, kd[3] = {0, 0, 0};
      if (k > 0) {
        for (int a = 0; a < 3; ++a) {
          ks[a] = p.kp_source.data[n * p.kp_source.stride[0] + (k - 1) * p.kp_source.stride[1] + a * p.kp_source.stride[2]];
          kd[a] = p.kp_driving.data[n * p.kp_driving.stride[0] + (k - 1) * p.kp_driving.stride[1] + a * p.kp_driving.stride[2]];
        }
      }
      float* out = p.output + nk * (C + 1) * S;
      for (int64_t d = 0; d < D; ++d)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            const float px = lattice(w, W), py = lattice(h, H), pz = lattice(d, D);
            const int64_t s = (d * H + h) * W + w;
            float heat = 0.f;
            if (k > 0) {
              const float dd = (px - kd[0]) * (px - kd[0]) + (py - kd[1]) * (py - kd[1]) + (pz - kd[2]) * (pz - kd[2]);
              const float ds = (px - ks[0]) * (px - ks[0]) + (py - ks[1]) * (py - ks[1]) + (pz - ks[2]) * (pz - ks[2]);
              heat = std::exp(-0.5f * dd / p.kp_variance) - std::exp(-0.5f * ds / p.kp_variance);
            }
            out[s] = heat;
            const float x = unnorm(px - kd[0] + ks[0], W), y = unnorm(py - kd[1] + ks[1], H), z = unnorm(pz - kd[2] + ks[2], D);
            const float fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
            const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy), z0 = static_cast<int64_t>(fz);
            const float tx = x - fx, ty = y - fy, tz = z - fz;
            for (int64_t c = 0; c < C; ++c) {
              float acc = 0.f;
              for (int corner = 0; corner < 8; ++corner) {
                const int dx = corner & 1, dy = (corner >> 1) & 1, dz = (corner >> 2) & 1;
                const int64_t xi = x0 + dx, yi = y0 + dy, zi = z0 + dz;
                if (xi < 0 || xi >= W || yi < 0 || yi >= H || zi < 0 || zi >= D) continue;
                const float wgt = (dx ? tx : 1.f - tx) * (dy ? ty : 1.f - ty) * (dz ? tz : 1.f - tz);
                acc += wgt * f.data[n * f.stride[0] + c * f.stride[1] + zi * f.stride[2] + yi * f.stride[3] + xi * f.stride[4]];
              }
              out[(c + 1) * S + s] = acc;
            }
          }
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
