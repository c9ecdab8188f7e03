// SPDX-License-Identifier: Apache-2.0
// Trilinear sampling machinery shared by the warp kernels (grid_sample_3d,
// dense_warp). Semantics are those of torch.nn.functional.grid_sample on 5-D
// input (mode 'bilinear'): a corner outside the volume contributes nothing.
//
// Everything here lives in the per-ISA namespace and uses no std container of
// floats, so no vectorised template code is shared between the v2 and v3
// builds of a kernel.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "common/parallel.h"
#include "common/strided_view.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {
namespace trilinear {

// Uninitialised heap array owned by one scope.
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) : data_(new T[static_cast<size_t>(n > 0 ? n : 1)]) {}
  ~Scratch() { delete[] data_; }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return data_; }

 private:
  T* data_;
};

// Output points handled together: taps are computed for a block, then every
// channel is accumulated for it.
constexpr int64_t kBlock = 64;

// Normalised coordinate in [-1, 1] -> voxel coordinate (grid_sample's unnormalize).
inline float unnormalize(float x, int64_t n, bool align_corners) {
  const float size = static_cast<float>(n);
  return align_corners ? ((x + 1.f) * 0.5f) * (size - 1.f) : ((x + 1.f) * size - 1.f) * 0.5f;
}

// grid_sample's 'border' clipping of a voxel coordinate to [0, n - 1].
inline float clip_border(float x, int64_t n) { return std::min(static_cast<float>(n - 1), std::max(x, 0.f)); }

// Keeps a voxel coordinate inside [-2, n + 1] (NaN -> -2) so that it converts
// safely to int; every tap of a clamped-away coordinate stays outside [0, n).
// (Written with std::max/min, argument order chosen for the NaN case, so that
// loops over it vectorise.)
inline float clamp_coord(float x, int64_t n) { return std::min(std::max(-2.f, x), static_cast<float>(n + 1)); }

// floor() of a clamped coordinate, as an int: truncation corrected for
// negative non-integers (std::floor does not vectorise without -fno-trapping-math).
inline int32_t floor_int(float x) {
  const int32_t t = static_cast<int32_t>(x);
  return static_cast<float>(t) > x ? t - 1 : t;
}

// The two taps of one axis on a volume with a one-voxel zero border: padded
// indices (i + 1, or 0 -- a border voxel -- when i is outside [0, n)) and the
// weights of grid_sample ((i0 + 1) - x and x - i0).
inline void padded_taps(float x, int32_t n, int32_t& i0, int32_t& i1, float& w0, float& w1) {
  x = clamp_coord(x, n);
  const int32_t k = floor_int(x);
  const float f = static_cast<float>(k);
  w0 = (f + 1.f) - x;
  w1 = x - f;
  i0 = ((k >= 0) & (k < n)) ? k + 1 : 0;
  i1 = ((k >= -1) & (k + 1 < n)) ? k + 2 : 0;
}

// Per-thread buffers for PaddedVolume::sample.
class Workspace {
 public:
  explicit Workspace(int64_t channels) : offset_(8 * kBlock), weight_(8 * kBlock), tile_(kBlock * channels) {}
  int32_t* offset() const { return offset_.get(); }
  float* weight() const { return weight_.get(); }
  float* tile() const { return tile_.get(); }

 private:
  Scratch<int32_t> offset_;  // [corner][point], element offsets into one padded batch item
  Scratch<float> weight_;    // [corner][point]
  Scratch<float> tile_;      // [point][channel]
};

// Accumulates channels [c0, c0 + G * L) of `count` points from their 8 corners
// into tile[point][channel]. The [G][L] accumulator shape (rather than one
// long array) is what lets compilers keep it in G vector registers.
template <int G, int L>
inline void gather_channels(const float* vol, const int32_t* offset, const float* weight, int64_t count,
                            int64_t channels, int64_t c0, float* tile) {
  constexpr int64_t kAhead = 4;  // points ahead whose corners are prefetched (random grids)
  for (int64_t i = 0; i < count; ++i) {
#if defined(__GNUC__)
    if (c0 == 0 && i + kAhead < count) {
      for (int k = 0; k < 8; k += 2) {
        const float* next = vol + offset[k * kBlock + i + kAhead];
        __builtin_prefetch(next);
        __builtin_prefetch(next + channels);
        __builtin_prefetch(vol + offset[(k + 1) * kBlock + i + kAhead] + channels - 1);
      }
    }
#endif
    float acc[G][L];
    for (int g = 0; g < G; ++g)
      for (int l = 0; l < L; ++l) acc[g][l] = 0.f;
    for (int k = 0; k < 8; ++k) {
      const float w = weight[k * kBlock + i];
      const float* src = vol + offset[k * kBlock + i] + c0;
      for (int g = 0; g < G; ++g)
        for (int l = 0; l < L; ++l) acc[g][l] += w * src[g * L + l];
    }
    float* dst = tile + i * channels + c0;
    for (int g = 0; g < G; ++g)
      for (int l = 0; l < L; ++l) dst[g * L + l] = acc[g][l];
  }
}

// An (N, C, D, H, W) volume copied to channels-last layout (N, D+2, H+2, W+2, C)
// with a zero border, so that each corner is one contiguous run of C floats and
// a corner outside the volume reads zeros (no branches).
class PaddedVolume {
 public:
  explicit PaddedVolume(const StridedView<const float, 5>& v)
      : v_(v),
        c_(v.size[1]),
        d_(v.size[2]),
        h_(v.size[3]),
        w_(v.size[4]),
        item_((d_ + 2) * (h_ + 2) * (w_ + 2) * c_),
        data_(v.size[0] * item_) {}

  // Whether one padded batch item's element offsets fit in int32.
  static bool addressable(int64_t c, int64_t d, int64_t h, int64_t w) {
    return (d + 2) * (h + 2) * (w + 2) * c < std::numeric_limits<int32_t>::max();
  }

  // Number of padded rows (n, z, y) that load_rows fills.
  int64_t rows() const { return v_.size[0] * (d_ + 2) * (h_ + 2); }

  // Fills padded rows [begin, end).
  void load_rows(int64_t begin, int64_t end) const {
    const int64_t C = c_, D = d_, H = h_, W = w_, Hp = h_ + 2, Wp = w_ + 2;
    for (int64_t row = begin; row < end;) {
      // A run of rows [yp, yp + count) of one padded slice (n, zp).
      const int64_t n = row / ((D + 2) * Hp), zp = (row / Hp) % (D + 2), yp = row % Hp;
      const int64_t count = std::min(end - row, Hp - yp);
      float* slab = data_.get() + row * Wp * C;
      for (int64_t r = 0; r < count; ++r) {
        float* dst = slab + r * Wp * C;
        if (zp == 0 || zp == D + 1 || yp + r == 0 || yp + r == H + 1) {
          for (int64_t i = 0; i < Wp * C; ++i) dst[i] = 0.f;
        } else {
          for (int64_t c = 0; c < C; ++c) dst[c] = 0.f, dst[(W + 1) * C + c] = 0.f;
        }
      }
      if (zp > 0 && zp <= D) {
        // Source rows y0 .. y1 - 1 land in padded rows y0 + 1 ...
        const int64_t y0 = std::max<int64_t>(yp, 1) - 1, y1 = std::min(yp + count, H + 1) - 1;
        if (y1 > y0) copy_rows(n, zp - 1, y0, y1, data_.get() + (row + (y0 + 1 - yp)) * Wp * C + C);
      }
      row += count;
    }
  }

  // Samples `count` <= kBlock points of batch item n at voxel coordinates
  // (x, y, z) and writes channel c of point i to out[c * out_stride + i].
  void sample(int64_t n, const float* x, const float* y, const float* z, int64_t count, float* out, int64_t out_stride,
              const Workspace& ws) const {
    const int32_t C = static_cast<int32_t>(c_);
    const int32_t sy = static_cast<int32_t>((w_ + 2) * c_), sz = static_cast<int32_t>((h_ + 2) * (w_ + 2) * c_);
    const int32_t D = static_cast<int32_t>(d_), H = static_cast<int32_t>(h_), W = static_cast<int32_t>(w_);
    int32_t* off = ws.offset();
    float* wt = ws.weight();
    for (int64_t i = 0; i < count; ++i) {
      int32_t x0, x1, y0, y1, z0, z1;
      float wx0, wx1, wy0, wy1, wz0, wz1;
      padded_taps(x[i], W, x0, x1, wx0, wx1);
      padded_taps(y[i], H, y0, y1, wy0, wy1);
      padded_taps(z[i], D, z0, z1, wz0, wz1);
      x0 *= C, x1 *= C, y0 *= sy, y1 *= sy, z0 *= sz, z1 *= sz;
      // Corner order and weight products as grid_sample: tnw, tne, tsw, tse, bnw, ...
      off[0 * kBlock + i] = z0 + y0 + x0, wt[0 * kBlock + i] = wx0 * wy0 * wz0;
      off[1 * kBlock + i] = z0 + y0 + x1, wt[1 * kBlock + i] = wx1 * wy0 * wz0;
      off[2 * kBlock + i] = z0 + y1 + x0, wt[2 * kBlock + i] = wx0 * wy1 * wz0;
      off[3 * kBlock + i] = z0 + y1 + x1, wt[3 * kBlock + i] = wx1 * wy1 * wz0;
      off[4 * kBlock + i] = z1 + y0 + x0, wt[4 * kBlock + i] = wx0 * wy0 * wz1;
      off[5 * kBlock + i] = z1 + y0 + x1, wt[5 * kBlock + i] = wx1 * wy0 * wz1;
      off[6 * kBlock + i] = z1 + y1 + x0, wt[6 * kBlock + i] = wx0 * wy1 * wz1;
      off[7 * kBlock + i] = z1 + y1 + x1, wt[7 * kBlock + i] = wx1 * wy1 * wz1;
    }
    const float* vol = data_.get() + n * item_;
    float* tile = ws.tile();
    int64_t c0 = 0;
    for (; c0 + 32 <= c_; c0 += 32) gather_channels<4, 8>(vol, off, wt, count, c_, c0, tile);
    for (; c0 + 16 <= c_; c0 += 16) gather_channels<2, 8>(vol, off, wt, count, c_, c0, tile);
    for (; c0 + 8 <= c_; c0 += 8) gather_channels<1, 8>(vol, off, wt, count, c_, c0, tile);
    for (; c0 + 4 <= c_; c0 += 4) gather_channels<1, 4>(vol, off, wt, count, c_, c0, tile);
    for (; c0 < c_; ++c0) gather_channels<1, 1>(vol, off, wt, count, c_, c0, tile);
    for (int64_t c = 0; c < c_; ++c) {
      float* dst = out + c * out_stride;
      for (int64_t i = 0; i < count; ++i) dst[i] = tile[i * c_ + c];
    }
  }

 private:
  // Copies channels [c0, c0 + CB) of source rows [y0, y1) of slice (n, z) to
  // `dst` (voxel (y0, 0) of the padded layout).
  template <int CB>
  void copy_channels(int64_t n, int64_t z, int64_t y0, int64_t y1, int64_t c0, float* dst) const {
    const int64_t C = c_, W = w_, rowstep = (w_ + 2) * c_;
    const int64_t sC = v_.stride[1], sH = v_.stride[3], sW = v_.stride[4];
    const float* base = v_.data + n * v_.stride[0] + z * v_.stride[2] + c0 * sC;
    for (int64_t y = y0; y < y1; ++y) {
      const float* src = base + y * sH;
      float* out = dst + (y - y0) * rowstep + c0;
      for (int64_t x = 0; x < W; ++x)
        for (int c = 0; c < CB; ++c) out[x * C + c] = src[c * sC + x * sW];
    }
  }

  // Copies source rows [y0, y1) of slice (n, z), all channels, to `dst`.
  void copy_rows(int64_t n, int64_t z, int64_t y0, int64_t y1, float* dst) const {
    int64_t c0 = 0;
    if (std::abs(v_.stride[1]) <= std::abs(v_.stride[4])) {
      // Channels are the inner (or an equally short) axis: one pass, channel runs contiguous.
      for (int64_t y = y0; y < y1; ++y) {
        const float* src = v_.data + n * v_.stride[0] + z * v_.stride[2] + y * v_.stride[3];
        float* out = dst + (y - y0) * (w_ + 2) * c_;
        for (int64_t x = 0; x < w_; ++x)
          for (int64_t c = 0; c < c_; ++c) out[x * c_ + c] = src[x * v_.stride[4] + c * v_.stride[1]];
      }
      return;
    }
    // Planar source: a few channel streams at a time over the whole run of rows.
    for (; c0 + 8 <= c_; c0 += 8) copy_channels<8>(n, z, y0, y1, c0, dst);
    for (; c0 + 4 <= c_; c0 += 4) copy_channels<4>(n, z, y0, y1, c0, dst);
    for (; c0 < c_; ++c0) copy_channels<1>(n, z, y0, y1, c0, dst);
  }

  StridedView<const float, 5> v_;
  int64_t c_, d_, h_, w_, item_;
  Scratch<float> data_;
};

// Samples batch item n of v (any strides) directly, without a padded copy:
// for few points on a large volume, or volumes too large for int32 offsets.
// Same contract as PaddedVolume::sample; corners outside are skipped.
inline void sample_direct(const StridedView<const float, 5>& v, int64_t n, const float* x, const float* y,
                          const float* z, int64_t count, float* out, int64_t out_stride) {
  const int64_t C = v.size[1], D = v.size[2], H = v.size[3], W = v.size[4];
  const float* base = v.data + n * v.stride[0];
  const int64_t sC = v.stride[1];
  for (int64_t i = 0; i < count; ++i) {
    const float cx = clamp_coord(x[i], W), cy = clamp_coord(y[i], H), cz = clamp_coord(z[i], D);
    const int64_t ix = floor_int(cx), iy = floor_int(cy), iz = floor_int(cz);
    const float fx = static_cast<float>(ix), fy = static_cast<float>(iy), fz = static_cast<float>(iz);
    const float wx[2] = {(fx + 1.f) - cx, cx - fx}, wy[2] = {(fy + 1.f) - cy, cy - fy},
                wz[2] = {(fz + 1.f) - cz, cz - fz};
    int64_t offset[8];
    float weight[8];
    int taps = 0;
    for (int k = 0; k < 8; ++k) {
      const int dx = k & 1, dy = (k >> 1) & 1, dz = k >> 2;
      const int64_t xi = ix + dx, yi = iy + dy, zi = iz + dz;
      if (xi < 0 || xi >= W || yi < 0 || yi >= H || zi < 0 || zi >= D) continue;
      offset[taps] = zi * v.stride[2] + yi * v.stride[3] + xi * v.stride[4];
      weight[taps] = wx[dx] * wy[dy] * wz[dz];
      ++taps;
    }
    for (int64_t c = 0; c < C; ++c) {
      const float* src = base + c * sC;
      float acc = 0.f;
      for (int t = 0; t < taps; ++t) acc += weight[t] * src[offset[t]];
      out[c * out_stride + i] = acc;
    }
  }
}

// Whether to sample through a PaddedVolume: the copy pays off once there are
// at least an eighth as many points as voxels.
inline bool use_padded(int64_t points, int64_t c, int64_t d, int64_t h, int64_t w) {
  return PaddedVolume::addressable(c, d, h, w) && points * 8 >= d * h * w;
}

}  // namespace trilinear
}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
