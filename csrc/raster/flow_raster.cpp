// SPDX-License-Identifier: Apache-2.0
// Scanline rasterizer of a deformed mesh into a dense backward flow (+ overlay),
// and the bicubic uint8 sampler that applies it. Rows are split into bands
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
constexpr double kMinFoldArea = 0.01;  // px²: source triangles smaller than this have no reliable orientation
constexpr double kFoldDepth = 1e6;     // depth added to folded triangles (px; any mesh is far shallower)

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
  // a triangle that the deformation turned over (a fold, e.g. the cheek edge of a turned head) shows
  // its texture mirrored: it goes behind every unfolded triangle and only fills what nothing else covers
  const double sx0 = attr[0][1], sy0 = attr[0][2];
  const double src_area = (attr[1][1] - sx0) * (attr[2][2] - sy0) - (attr[2][1] - sx0) * (attr[1][2] - sy0);
  if (std::fabs(src_area) > kMinFoldArea && (src_area > 0) != (area > 0)) {
    for (int k = 0; k < 3; ++k) attr[k][0] += kFoldDepth;
  }
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

// Keys cubic weights of the 4 taps around a sample at fraction t. a = -1.2 (OpenCV's INTER_CUBIC
// uses -0.75) lifts the high frequencies that any sub-pixel shift loses: over a speaking face the
// detail (Laplacian variance) stays within ~6 % of the source's instead of falling by 20 % (-0.75)
// or 50 % (bilinear); the 4x4 range clamp below keeps it from ringing.
constexpr float kCubicA = -1.2f;
inline void cubic_weights(float t, float w[4]) {
  constexpr float a = kCubicA;
  const float t1 = t + 1.f, u = 1.f - t;
  w[0] = ((a * t1 - 5.f * a) * t1 + 8.f * a) * t1 - 4.f * a;
  w[1] = ((a + 2.f) * t - (a + 3.f)) * t * t + 1.f;
  w[2] = ((a + 2.f) * u - (a + 3.f)) * u * u + 1.f;
  w[3] = 1.f - w[0] - w[1] - w[2];
}

// Bicubic sample + overlay for C channels known at compile time (C = 0: any count). A sample on a
// pixel centre (the still parts of the face) is a plain copy: only moving pixels are resampled.
template <int kC>
void remap_rows(const RemapParams& p, int64_t r0, int64_t r1) {
  const int64_t W = p.width, C = kC > 0 ? kC : p.channels;
  const int64_t SW = p.src_width, SH = p.src_height, stride = p.src_row_stride;
  const float max_x = static_cast<float>(SW - 1), max_y = static_cast<float>(SH - 1);
  constexpr float kOnPixel = 1e-3f;
  for (int64_t y = r0; y < r1; ++y) {
    const float* frow = p.flow + y * W * 2;
    const float* orow = p.overlay ? p.overlay + y * W * 4 : nullptr;
    uint8_t* out = p.output + y * W * C;
    for (int64_t x = 0; x < W; ++x) {
      const float sx = std::min(std::max(frow[2 * x], 0.f), max_x);
      const float sy = std::min(std::max(frow[2 * x + 1], 0.f), max_y);
      const int64_t x0 = static_cast<int64_t>(sx), y0 = static_cast<int64_t>(sy);  // sx, sy >= 0: truncation = floor
      const float tx = sx - static_cast<float>(x0), ty = sy - static_cast<float>(y0);
      float keep = 1.f;
      const float* add = nullptr;
      if (orow) {
        keep = 1.f - std::min(std::max(orow[4 * x + 3], 0.f), 1.f);
        add = orow + 4 * x;
      }
      float v[kC > 0 ? kC : kRemapMaxChannels];
      const int64_t nc = C;  // <= kRemapMaxChannels (checked by the binding)
      const bool still_x = tx < kOnPixel || tx > 1.f - kOnPixel, still_y = ty < kOnPixel || ty > 1.f - kOnPixel;
      if (still_x && still_y) {
        const int64_t xi = std::min(x0 + (tx > 0.5f ? 1 : 0), SW - 1), yi = std::min(y0 + (ty > 0.5f ? 1 : 0), SH - 1);
        const uint8_t* s = p.image + yi * stride + xi * C;
        for (int64_t c = 0; c < nc; ++c) v[c] = s[c];
      } else {
        float wx[4], wy[4];
        cubic_weights(tx, wx);
        cubic_weights(ty, wy);
        int64_t xs[4], ys[4];
        for (int k = 0; k < 4; ++k) {
          xs[k] = std::min(std::max<int64_t>(x0 - 1 + k, 0), SW - 1) * C;
          ys[k] = std::min(std::max<int64_t>(y0 - 1 + k, 0), SH - 1) * stride;
        }
        // no ringing: the result stays within the range of the 4x4 source pixels it weighs
        float lo[kC > 0 ? kC : kRemapMaxChannels], hi[kC > 0 ? kC : kRemapMaxChannels];
        for (int64_t c = 0; c < nc; ++c) v[c] = 0.f, lo[c] = 255.f, hi[c] = 0.f;
        for (int j = 0; j < 4; ++j) {
          const uint8_t* row = p.image + ys[j];
          for (int64_t c = 0; c < nc; ++c) {
            const float a0 = row[xs[0] + c], a1 = row[xs[1] + c], a2 = row[xs[2] + c], a3 = row[xs[3] + c];
            v[c] += wy[j] * (wx[0] * a0 + wx[1] * a1 + wx[2] * a2 + wx[3] * a3);
            lo[c] = std::min({lo[c], a0, a1, a2, a3});
            hi[c] = std::max({hi[c], a0, a1, a2, a3});
          }
        }
        for (int64_t c = 0; c < nc; ++c) v[c] = std::min(std::max(v[c], lo[c]), hi[c]);
      }
      for (int64_t c = 0; c < nc; ++c) {
        float o = v[c];
        if (add && c < 3) o = o * keep + 255.f * add[c];
        out[x * C + c] = static_cast<uint8_t>(std::min(std::max(o + 0.5f, 0.f), 255.f));
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
