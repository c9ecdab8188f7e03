// SPDX-License-Identifier: Apache-2.0
// Scanline rasterizer of a deformed mesh into a dense backward flow (+ overlay),
// and the bilinear uint8 sampler that applies it. Rows are split into bands
// that threads take from an atomic counter; every band clips all triangles to
// itself, so no two threads ever write the same pixel (threads: common/band_pool.h).
#include "raster/flow_raster.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "common/band_pool.h"
#include "common/parallel.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {

constexpr int kAttrs = 7;  // depth, source x, source y, overlay r, g, b, a
constexpr int64_t kBandRows = 16;

// One triangle ready for scanning: barycentric planes w_i = a_i x + b_i y + c_i
// and attribute planes attr = ax x + ay y + a0.
struct Setup {
  double a[3], b[3], c[3];
  float ax[kAttrs], ay[kAttrs], a0[kAttrs];
  int64_t y_min, y_max;
  double x_lo, x_hi;
};

bool setup_triangle(const FlowRasterParams& p, int64_t t, Setup& s) {
  const int32_t* tri = p.triangles + 3 * t;
  double x[3], y[3], attr[3][kAttrs];
  for (int k = 0; k < 3; ++k) {
    const int64_t v = tri[k];
    if (v < 0 || v >= p.num_vertices) return false;
    const float* pos = p.positions + 3 * v;
    x[k] = pos[0];
    y[k] = pos[1];
    attr[k][0] = pos[2];
    attr[k][1] = p.source[2 * v];
    attr[k][2] = p.source[2 * v + 1];
    for (int j = 0; j < 4; ++j) attr[k][3 + j] = p.overlay ? p.overlay[4 * v + j] : 0.0;
    if (!std::isfinite(x[k]) || !std::isfinite(y[k])) return false;
  }
  const double area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0]);
  if (std::fabs(area) < 1e-9) return false;
  const double inv = 1.0 / area;
  for (int k = 0; k < 3; ++k) {
    const int i = (k + 1) % 3, j = (k + 2) % 3;
    s.a[k] = (y[i] - y[j]) * inv;
    s.b[k] = (x[j] - x[i]) * inv;
    s.c[k] = (x[i] * y[j] - x[j] * y[i]) * inv;
  }
  for (int m = 0; m < kAttrs; ++m) {
    double ax = 0, ay = 0, a0 = 0;
    for (int k = 0; k < 3; ++k) {
      ax += s.a[k] * attr[k][m];
      ay += s.b[k] * attr[k][m];
      a0 += s.c[k] * attr[k][m];
    }
    s.ax[m] = static_cast<float>(ax);
    s.ay[m] = static_cast<float>(ay);
    s.a0[m] = static_cast<float>(a0);
  }
  const double lo_y = std::min({y[0], y[1], y[2]}), hi_y = std::max({y[0], y[1], y[2]});
  s.y_min = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(lo_y)));
  s.y_max = std::min<int64_t>(p.height - 1, static_cast<int64_t>(std::floor(hi_y)));
  s.x_lo = std::max(0.0, std::ceil(std::min({x[0], x[1], x[2]})));
  s.x_hi = std::min(static_cast<double>(p.width - 1), std::floor(std::max({x[0], x[1], x[2]})));
  return s.y_min <= s.y_max && s.x_lo <= s.x_hi;
}

// Bilinear sample + overlay for C channels known at compile time (C = 0: any count).
template <int kC>
void remap_rows(const RemapParams& p, int64_t r0, int64_t r1) {
  const int64_t W = p.width, C = kC > 0 ? kC : p.channels;
  const float max_x = static_cast<float>(p.src_width - 1), max_y = static_cast<float>(p.src_height - 1);
  for (int64_t y = r0; y < r1; ++y) {
    const float* frow = p.flow + y * W * 2;
    const float* orow = p.overlay ? p.overlay + y * W * 4 : nullptr;
    uint8_t* out = p.output + y * W * C;
    for (int64_t x = 0; x < W; ++x) {
      const float sx = std::min(std::max(frow[2 * x], 0.f), max_x);
      const float sy = std::min(std::max(frow[2 * x + 1], 0.f), max_y);
      const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);  // sx, sy >= 0: truncation = floor
      const int64_t dx = x0 + 1 < p.src_width ? C : 0, dy = y0 + 1 < p.src_height ? p.src_row_stride : 0;
      const float tx = sx - static_cast<float>(x0), ty = sy - static_cast<float>(y0);
      const float w00 = (1.f - tx) * (1.f - ty), w01 = tx * (1.f - ty), w10 = (1.f - tx) * ty, w11 = tx * ty;
      const uint8_t* s = p.image + y0 * p.src_row_stride + x0 * C;
      float keep = 1.f;
      const float* add = nullptr;
      if (orow) {
        keep = 1.f - std::min(std::max(orow[4 * x + 3], 0.f), 1.f);
        add = orow + 4 * x;
      }
      for (int64_t c = 0; c < C; ++c) {
        float v = w00 * s[c] + w01 * s[dx + c] + w10 * s[dy + c] + w11 * s[dy + dx + c];
        if (add && c < 3) v = v * keep + 255.f * add[c];
        out[x * C + c] = static_cast<uint8_t>(std::min(std::max(v + 0.5f, 0.f), 255.f));
      }
    }
  }
}

void remap_band(const RemapParams& p, int64_t r0, int64_t r1) {
  if (p.channels == 3) {
    remap_rows<3>(p, r0, r1);
  } else if (p.channels == 4) {
    remap_rows<4>(p, r0, r1);
  } else {
    remap_rows<0>(p, r0, r1);
  }
}

}  // namespace

void rasterize_flow(const FlowRasterParams& p) {
  const int64_t H = p.height, W = p.width;
  std::vector<Setup> tris;
  tris.reserve(static_cast<size_t>(p.num_triangles));
  for (int64_t t = 0; t < p.num_triangles; ++t) {
    Setup s;
    if (setup_triangle(p, t, s)) tris.push_back(s);
  }
  const bool with_overlay = p.overlay != nullptr && p.overlay_out != nullptr;
  RemapParams sample;
  if (p.sample) {
    sample = *p.sample;
    sample.flow = p.flow;
    sample.overlay = with_overlay ? p.overlay_out : nullptr;
    sample.height = H;
    sample.width = W;
  }
  constexpr double eps = 1e-6;  // barycentric tolerance: pixel centres on shared edges are never lost
  const float inf = std::numeric_limits<float>::infinity();
  for_bands(H, kBandRows, [&](int64_t r0, int64_t r1) {
    std::vector<float> zbuf(static_cast<size_t>((r1 - r0) * W), inf);
    for (const Setup& s : tris) {
      const int64_t y0 = std::max(s.y_min, r0), y1 = std::min(s.y_max, r1 - 1);
      for (int64_t y = y0; y <= y1; ++y) {
        double lo = s.x_lo, hi = s.x_hi;
        for (int k = 0; k < 3; ++k) {
          const double r = s.b[k] * static_cast<double>(y) + s.c[k] + eps;  // w_k(x) + eps = a_k x + r
          if (s.a[k] > 0) {
            lo = std::max(lo, std::ceil(-r / s.a[k]));
          } else if (s.a[k] < 0) {
            hi = std::min(hi, std::floor(-r / s.a[k]));
          } else if (r < 0) {
            hi = -1;
          }
        }
        if (lo > hi) continue;
        const int64_t xa = static_cast<int64_t>(lo), xb = static_cast<int64_t>(hi);
        const float fy = static_cast<float>(y);
        float row[kAttrs];
        for (int m = 0; m < kAttrs; ++m) row[m] = s.ay[m] * fy + s.a0[m];
        float* zrow = zbuf.data() + (y - r0) * W;
        float* frow = p.flow + y * W * 2;
        float* orow = with_overlay ? p.overlay_out + y * W * 4 : nullptr;
        for (int64_t x = xa; x <= xb; ++x) {
          const float fx = static_cast<float>(x);
          const float z = row[0] + s.ax[0] * fx;
          if (!(z < zrow[x])) continue;
          zrow[x] = z;
          frow[2 * x] = row[1] + s.ax[1] * fx;
          frow[2 * x + 1] = row[2] + s.ax[2] * fx;
          if (orow) {
            for (int j = 0; j < 4; ++j) orow[4 * x + j] = row[3 + j] + s.ax[3 + j] * fx;
          }
        }
      }
    }
    for (int64_t y = r0; y < r1; ++y) {
      const float* zrow = zbuf.data() + (y - r0) * W;
      float* frow = p.flow + y * W * 2;
      float* orow = with_overlay ? p.overlay_out + y * W * 4 : nullptr;
      for (int64_t x = 0; x < W; ++x) {
        if (zrow[x] != inf) continue;
        frow[2 * x] = static_cast<float>(x);
        frow[2 * x + 1] = static_cast<float>(y);
        if (orow) {
          for (int j = 0; j < 4; ++j) orow[4 * x + j] = 0.f;
        }
      }
    }
  });
  // Sampling as a second pass: interleaving it with the rasterization per band measured slower.
  if (p.sample) for_bands(H, kBandRows, [&](int64_t r0, int64_t r1) { remap_band(sample, r0, r1); });
}



void remap_image(const RemapParams& p) {
  for_bands(p.height, kBandRows, [&](int64_t r0, int64_t r1) { remap_band(p, r0, r1); });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
