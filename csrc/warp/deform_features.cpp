// SPDX-License-Identifier: Apache-2.0
// Dense-motion input, separable evaluation.
//
// For group k the sample point of output voxel (d, h, w) is
// (x(w), y(h), z(d)) with each coordinate an affine function of one index
// (lattice + kp_source - kp_driving, unnormalised with align_corners=False),
// so trilinear sampling is a tensor product of three 1-D interpolations: the
// feature rows are interpolated along x once, then every output row blends
// four of those rows (y, z). The Gaussian heatmaps factor the same way.
#include "warp/deform_features.h"

#include <algorithm>
#include <cmath>

#include "warp/schedule.h"
#include "warp/trilinear.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {

using trilinear::Scratch;

// LivePortrait's lattice value 2 * (i / (n - 1)) - 1 in float32.
inline float lattice(int64_t i, int64_t n) { return 2.f * (static_cast<float>(i) / static_cast<float>(n - 1)) - 1.f; }

// One axis of group k: for output index i, the taps t0 = floor(u), t1 = t0 + 1
// of the voxel coordinate u and their weights; valid[] says whether the tap
// lies inside [0, n).
struct AxisTaps {
  int64_t* tap[2];
  float* weight[2];
  bool* valid[2];
};

void axis_taps(int64_t n, float kd, float ks, AxisTaps& t) {
  for (int64_t i = 0; i < n; ++i) {
    // Same operation order as the reference: (lattice - kp_driving) + kp_source, then unnormalise.
    const float m = (lattice(i, n) - kd) + ks;
    const float u = trilinear::clamp_coord(trilinear::unnormalize(m, n, false), n);
    const int64_t k = trilinear::floor_int(u);
    const float f = static_cast<float>(k);
    t.tap[0][i] = k, t.tap[1][i] = k + 1;
    t.weight[0][i] = (f + 1.f) - u, t.weight[1][i] = u - f;
    t.valid[0][i] = k >= 0 && k < n;
    t.valid[1][i] = k + 1 >= 0 && k + 1 < n;
  }
}

// exp(-(lattice_i - kp)^2 / (2 var)) along one axis.
void gaussian_axis(int64_t n, float kp, float variance, float* g) {
  for (int64_t i = 0; i < n; ++i) {
    const float diff = lattice(i, n) - kp;
    g[i] = std::exp(-0.5f * (diff * diff) / variance);
  }
}

// Per-thread buffers for one (n, k, channel) plane.
class PlaneWorkspace {
 public:
  PlaneWorkspace(int64_t D, int64_t H, int64_t W)
      : taps_(2 * (D + H + W)),
        weights_(2 * (D + H + W)),
        valid_(2 * (D + H + W)),
        gauss_(2 * (D + H + W)),
        rows_(D * H * W + W),
        padded_row_(W + 1),
        padded_tap_(2 * W) {
    const int64_t sizes[3] = {W, H, D};
    int64_t at = 0;
    for (int a = 0; a < 3; ++a) {
      for (int j = 0; j < 2; ++j) {
        axes[a].tap[j] = taps_.get() + at;
        axes[a].weight[j] = weights_.get() + at;
        axes[a].valid[j] = valid_.get() + at;
        at += sizes[a];
      }
    }
  }
  AxisTaps axes[3];  // x, y, z
  float* gauss() const { return gauss_.get(); }
  float* rows() const { return rows_.get(); }
  float* padded_row() const { return padded_row_.get(); }
  int32_t* padded_tap() const { return padded_tap_.get(); }

 private:
  Scratch<int64_t> taps_;
  Scratch<float> weights_;
  Scratch<bool> valid_;
  Scratch<float> gauss_;
  Scratch<float> rows_;        // x-interpolated feature rows, then one zero row
  Scratch<float> padded_row_;  // [0] = 0, [1..W] = one feature row
  Scratch<int32_t> padded_tap_;
};

float keypoint(const StridedView<const float, 3>& kp, int64_t n, int64_t k, int a) {
  return kp.data[n * kp.stride[0] + k * kp.stride[1] + a * kp.stride[2]];
}

// Channel 0 of group k >= 1: Gaussian(driving) - Gaussian(source), each a product of three axis factors.
void heatmap_plane(const DeformFeaturesParams& p, int64_t n, int64_t k, float* out, const PlaneWorkspace& ws) {
  const auto& f = p.feature;
  const int64_t D = f.size[2], H = f.size[3], W = f.size[4];
  float* g = ws.gauss();
  float *gdx = g, *gdy = gdx + W, *gdz = gdy + H, *gsx = gdz + D, *gsy = gsx + W, *gsz = gsy + H;
  gaussian_axis(W, keypoint(p.kp_driving, n, k - 1, 0), p.kp_variance, gdx);
  gaussian_axis(H, keypoint(p.kp_driving, n, k - 1, 1), p.kp_variance, gdy);
  gaussian_axis(D, keypoint(p.kp_driving, n, k - 1, 2), p.kp_variance, gdz);
  gaussian_axis(W, keypoint(p.kp_source, n, k - 1, 0), p.kp_variance, gsx);
  gaussian_axis(H, keypoint(p.kp_source, n, k - 1, 1), p.kp_variance, gsy);
  gaussian_axis(D, keypoint(p.kp_source, n, k - 1, 2), p.kp_variance, gsz);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t h = 0; h < H; ++h) {
      const float a = gdz[d] * gdy[h], b = gsz[d] * gsy[h];
      float* row = out + (d * H + h) * W;
      for (int64_t w = 0; w < W; ++w) row[w] = a * gdx[w] - b * gsx[w];
    }
}

// Channel c of the feature sampled for group k (axis taps already in ws.axes).
void feature_plane(const DeformFeaturesParams& p, int64_t n, int64_t c, float* out, const PlaneWorkspace& ws) {
  const auto& f = p.feature;
  const int64_t D = f.size[2], H = f.size[3], W = f.size[4];
  const AxisTaps &tx = ws.axes[0], &ty = ws.axes[1], &tz = ws.axes[2];
  // Source rows any output row reads: y in [y_lo, y_hi], z in [z_lo, z_hi].
  int64_t y_lo = H, y_hi = -1, z_lo = D, z_hi = -1;
  for (int j = 0; j < 2; ++j) {
    for (int64_t h = 0; h < H; ++h)
      if (ty.valid[j][h]) y_lo = std::min(y_lo, ty.tap[j][h]), y_hi = std::max(y_hi, ty.tap[j][h]);
    for (int64_t d = 0; d < D; ++d)
      if (tz.valid[j][d]) z_lo = std::min(z_lo, tz.tap[j][d]), z_hi = std::max(z_hi, tz.tap[j][d]);
  }
  const int64_t ny = std::max<int64_t>(y_hi - y_lo + 1, 0), nz = std::max<int64_t>(z_hi - z_lo + 1, 0);
  float* rows = ws.rows();
  float* zero_row = rows + nz * ny * W;
  for (int64_t w = 0; w < W; ++w) zero_row[w] = 0.f;

  // 1. Interpolate the needed rows along x: taps outside [0, W) read the zero at padded_row[0].
  int32_t* px0 = ws.padded_tap();
  int32_t* px1 = px0 + W;
  for (int64_t w = 0; w < W; ++w) {
    px0[w] = tx.valid[0][w] ? static_cast<int32_t>(tx.tap[0][w] + 1) : 0;
    px1[w] = tx.valid[1][w] ? static_cast<int32_t>(tx.tap[1][w] + 1) : 0;
  }
  const float *wx0 = tx.weight[0], *wx1 = tx.weight[1];
  float* line = ws.padded_row();
  line[0] = 0.f;
  const float* plane = f.data + n * f.stride[0] + c * f.stride[1];
  for (int64_t z = 0; z < nz; ++z)
    for (int64_t y = 0; y < ny; ++y) {
      const float* src = plane + (z_lo + z) * f.stride[2] + (y_lo + y) * f.stride[3];
      const int64_t sw = f.stride[4];
      if (sw == 1) {
        for (int64_t w = 0; w < W; ++w) line[w + 1] = src[w];
      } else {
        for (int64_t w = 0; w < W; ++w) line[w + 1] = src[w * sw];
      }
      float* dst = rows + (z * ny + y) * W;
      for (int64_t w = 0; w < W; ++w) dst[w] = wx0[w] * line[px0[w]] + wx1[w] * line[px1[w]];
    }

  // 2. Blend four x-interpolated rows per output row (rows outside the volume are the zero row).
  auto row = [&](int jz, int64_t d, int jy, int64_t h) -> const float* {
    if (!tz.valid[jz][d] || !ty.valid[jy][h]) return zero_row;
    return rows + ((tz.tap[jz][d] - z_lo) * ny + (ty.tap[jy][h] - y_lo)) * W;
  };
  for (int64_t d = 0; d < D; ++d) {
    const float wz0 = tz.weight[0][d], wz1 = tz.weight[1][d];
    for (int64_t h = 0; h < H; ++h) {
      const float wy0 = ty.weight[0][h], wy1 = ty.weight[1][h];
      const float *r00 = row(0, d, 0, h), *r01 = row(0, d, 1, h), *r10 = row(1, d, 0, h), *r11 = row(1, d, 1, h);
      float* o = out + (d * H + h) * W;
      for (int64_t w = 0; w < W; ++w) o[w] = wz0 * (wy0 * r00[w] + wy1 * r01[w]) + wz1 * (wy0 * r10[w] + wy1 * r11[w]);
    }
  }
}

}  // namespace

void deform_features(const DeformFeaturesParams& p) {
  const auto& f = p.feature;
  const int64_t N = f.size[0], C = f.size[1], D = f.size[2], H = f.size[3], W = f.size[4];
  const int64_t K = p.kp_source.size[1];
  const int64_t S = D * H * W;
  // One item per output plane (n, k, channel), channel 0 being the heatmap.
  dynamic_for(N * (K + 1) * (C + 1), 2, [&](int64_t begin, int64_t end) {
    PlaneWorkspace ws(D, H, W);
    int64_t taps_for = -1;  // (n, k) whose axis taps ws.axes holds
    for (int64_t item = begin; item < end; ++item) {
      const int64_t nk = item / (C + 1), c = item % (C + 1), n = nk / (K + 1), k = nk % (K + 1);
      float* out = p.output + item * S;
      if (c == 0) {
        if (k == 0) {
          for (int64_t s = 0; s < S; ++s) out[s] = 0.f;
        } else {
          heatmap_plane(p, n, k, out, ws);
        }
        continue;
      }
      if (taps_for != nk) {
        const int64_t sizes[3] = {W, H, D};
        for (int a = 0; a < 3; ++a) {
          const float kd = k == 0 ? 0.f : keypoint(p.kp_driving, n, k - 1, a);
          const float ks = k == 0 ? 0.f : keypoint(p.kp_source, n, k - 1, a);
          axis_taps(sizes[a], kd, ks, ws.axes[a]);
        }
        taps_for = nk;
      }
      feature_plane(p, n, c - 1, out, ws);
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
