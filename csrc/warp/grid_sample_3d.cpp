// SPDX-License-Identifier: Apache-2.0
// Straightforward CPU trilinear sampler (first version; optimised separately).
#include "warp/grid_sample_3d.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {
inline float unnormalize(float x, int64_t n, bool align_corners) {
  return align_corners ? (x + 1.f) * 0.5f * static_cast<float>(n - 1)
                       : ((x + 1.f) * static_cast<float>(n) - 1.f) * 0.5f;
}
inline float clip(float x, int64_t n) { return std::min(static_cast<float>(n - 1), std::max(x, 0.f)); }
}  // namespace

void grid_sample_3d(const GridSample3dParams& p) {
  const auto& in = p.input;
  const auto& g = p.grid;
  const int64_t N = in.size[0], C = in.size[1], D = in.size[2], H = in.size[3], W = in.size[4];
  const int64_t Do = g.size[1], Ho = g.size[2], Wo = g.size[3];
  const int64_t spatial = Do * Ho * Wo;
  parallel_for(0, N * spatial, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t n = idx / spatial, s = idx % spatial;
      const int64_t od = s / (Ho * Wo), oh = (s / Wo) % Ho, ow = s % Wo;
      const float* gp = g.data + n * g.stride[0] + od * g.stride[1] + oh * g.stride[2] + ow * g.stride[3];
      float x = unnormalize(gp[0], W, p.align_corners);
      float y = unnormalize(gp[g.stride[4]], H, p.align_corners);
      float z = unnormalize(gp[2 * g.stride[4]], D, p.align_corners);
      if (p.padding == Padding::border) {
        x = clip(x, W);
        y = clip(y, H);
        z = clip(z, D);
      }
      const float fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy), z0 = static_cast<int64_t>(fz);
      const float tx = x - fx, ty = y - fy, tz = z - fz;
      float* out = p.output + n * C * spatial + s;
      const float* base = in.data + n * in.stride[0];
      for (int64_t c = 0; c < C; ++c) {
        float acc = 0.f;
        for (int corner = 0; corner < 8; ++corner) {
          const int dx = corner & 1, dy = (corner >> 1) & 1, dz = (corner >> 2) & 1;
          const int64_t xi = x0 + dx, yi = y0 + dy, zi = z0 + dz;
          if (xi < 0 || xi >= W || yi < 0 || yi >= H || zi < 0 || zi >= D) continue;
          const float w = (dx ? tx : 1.f - tx) * (dy ? ty : 1.f - ty) * (dz ? tz : 1.f - tz);
          acc += w * base[c * in.stride[1] + zi * in.stride[2] + yi * in.stride[3] + xi * in.stride[4]];
        }
        out[c * spatial] = acc;
      }
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
