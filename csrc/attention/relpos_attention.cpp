// SPDX-License-Identifier: Apache-2.0
// CPU relative-position attention core.
//
// K^T, P^T and V of each (batch, head) are packed into column tiles of kNR entries
// (each tile depth x kNR contiguous). Query rows are processed in register blocks
// of kMR rows, grouped into panels that share every packed tile while it is in
// cache. For a panel whose rows may see keys kb + x (kb a tile boundary):
//   G[r, y] = (q_r + v) . P[pb + y]            (one band of P rows, pb a tile boundary)
//   S[r, x] = (q_r + u) . k_{kb+x} + G[r, x + rows-1-r + dlt]
// i.e. the rel_shift becomes a per-row offset into G. Both products, and the final
// exp(S) x V, use one register tile (kMR rows x kNR columns); the score tile's epilogue
// adds G, scales, applies key mask and context window and tracks row maxima, and the
// output tile is divided by the row sums. Key tiles outside every row's window are
// skipped. Threads that own whole heads pack them privately; otherwise all heads are
// packed once up front and shared.
#include "attention/relpos_attention.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <vector>

#include "common/parallel.h"

#if defined(__FAST_MATH__)
#error \
    "relpos_attention.cpp needs IEEE float semantics (its exp rounds with a magic constant); build without -ffast-math"
#endif

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {
namespace {

// Short float vectors: GCC/Clang vector extensions (8 lanes with AVX, else 4),
// single floats for other compilers.
#if defined(__GNUC__)
#if defined(__AVX__)
constexpr int kVW = 8;
#else
constexpr int kVW = 4;
#endif
typedef float VecF __attribute__((vector_size(kVW * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kVW * sizeof(int32_t))));
inline VecF vsplat(float x) { return x - VecF{}; }
inline VecI vsplat_i(int32_t x) { return x - VecI{}; }
inline VecI viota() {
  VecI v{};
  for (int l = 0; l < kVW; ++l) v[l] = l;
  return v;
}
inline VecI vless(VecF a, VecF b) { return a < b; }  // lanes -1 (true) / 0
inline VecI vless_i(VecI a, VecI b) { return a < b; }
inline float vlane(VecF v, int l) { return v[l]; }
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define PYAVATAR_RELPOS_SHUFFLE 1
// Interleave the low / high halves of a and b.
#if defined(__AVX__)
inline VecF zip_lo(VecF a, VecF b) { return __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11); }
inline VecF zip_hi(VecF a, VecF b) { return __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15); }
#else
inline VecF zip_lo(VecF a, VecF b) { return __builtin_shufflevector(a, b, 0, 4, 1, 5); }
inline VecF zip_hi(VecF a, VecF b) { return __builtin_shufflevector(a, b, 2, 6, 3, 7); }
#endif
#endif
#endif
#else
constexpr int kVW = 1;
using VecF = float;
using VecI = int32_t;
inline VecF vsplat(float x) { return x; }
inline VecI vsplat_i(int32_t x) { return x; }
inline VecI viota() { return 0; }
inline VecI vless(VecF a, VecF b) { return a < b ? -1 : 0; }
inline VecI vless_i(VecI a, VecI b) { return a < b ? -1 : 0; }
inline float vlane(VecF v, int) { return v; }
#endif

inline VecF vload(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void vstore(float* p, VecF v) { std::memcpy(p, &v, sizeof(v)); }
inline VecI vbits(VecF x) {
  VecI i;
  std::memcpy(&i, &x, sizeof(i));
  return i;
}
inline VecF vfrom_bits(VecI i) {
  VecF x;
  std::memcpy(&x, &i, sizeof(x));
  return x;
}
inline VecF vselect(VecI mask, VecF a, VecF b) { return vfrom_bits((vbits(a) & mask) | (vbits(b) & ~mask)); }
inline VecF vmax(VecF a, VecF b) { return vselect(vless(a, b), b, a); }

constexpr int64_t kNV = 2;          // vectors per register-tile row
constexpr int64_t kNR = kNV * kVW;  // columns per register tile
constexpr int64_t kMR = 6;          // query rows per register tile
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

using Tile = VecF[kMR][kNV];

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// acc[r][.] = sum_d a[r * lda + d] * b[d * ldb + 0:kNR] for r < kMR, handed to epilogue(acc).
template <typename Epilogue>
inline void tile_product(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t depth,
                         const Epilogue& epilogue) {
  Tile acc;
  for (int64_t r = 0; r < kMR; ++r)
    for (int64_t v = 0; v < kNV; ++v) acc[r][v] = vsplat(0.0f);
  for (int64_t d = 0; d < depth; ++d) {
    VecF bv[kNV];
    for (int64_t v = 0; v < kNV; ++v) bv[v] = vload(b + d * ldb + v * kVW);
    for (int64_t r = 0; r < kMR; ++r) {
      const VecF ar = vsplat(a[r * lda + d]);
      for (int64_t v = 0; v < kNV; ++v) acc[r][v] += ar * bv[v];
    }
  }
  epilogue(acc);
}

// exp(x) for x <= 0 (Cephes expf polynomial, about 1 ulp); exactly 0 below -87 (and for -inf).
inline VecF exp_nonpositive(VecF x) {
  const VecF xc = vmax(x, vsplat(-87.0f));
  // Adding 1.5 * 2^23 rounds to an integer, which then sits in the low mantissa bits.
  const VecF magic = vsplat(12582912.0f);
  const VecF y = xc * vsplat(1.44269504088896341f) + magic;
  const VecF k = y - magic;
  VecF r = xc - k * vsplat(0.693359375f);
  r = r + k * vsplat(2.12194440e-4f);
  VecF p = vsplat(1.9875691500e-4f);
  p = p * r + vsplat(1.3981999507e-3f);
  p = p * r + vsplat(8.3334519073e-3f);
  p = p * r + vsplat(4.1665795894e-2f);
  p = p * r + vsplat(1.6666665459e-1f);
  p = p * r + vsplat(5.0000001201e-1f);
  p = p * (r * r) + r + vsplat(1.0f);
  const VecI two_k = (vbits(y) - vbits(magic) + vsplat_i(127)) << 23;
  return vselect(vless(x, vsplat(-87.0f)), vsplat(0.0f), p * vfrom_bits(two_k));
}

// Tile of kNR rows [j0, j0 + kNR) of a (rows x cols) matrix, transposed:
// dst[c * kNR + l] = src[(j0 + l) * s_row + c * s_col], zero for rows past the end.
void pack_tile_transposed(const float* src, int64_t s_row, int64_t s_col, int64_t j0, int64_t rows, int64_t cols,
                          float* dst) {
  const int64_t valid_rows = std::min(kNR, rows - j0);
  if (valid_rows <= 0) {
    std::fill(dst, dst + cols * kNR, 0.0f);
    return;
  }
  src += j0 * s_row;
  int64_t c_done = 0;
#if defined(PYAVATAR_RELPOS_SHUFFLE)
  if (valid_rows >= kNR && s_col == 1) {
    // kVW x kVW blocks: log2(kVW) rounds of interleaving rows i and i + kVW/2 transpose a block.
    c_done = cols / kVW * kVW;
    for (int64_t l0 = 0; l0 < kNR; l0 += kVW)
      for (int64_t c0 = 0; c0 < c_done; c0 += kVW) {
        VecF m[kVW];
        for (int i = 0; i < kVW; ++i) m[i] = vload(src + (l0 + i) * s_row + c0);
        for (int round = 1; round < kVW; round *= 2) {
          VecF t[kVW];
          for (int i = 0; i < kVW / 2; ++i) {
            t[2 * i] = zip_lo(m[i], m[i + kVW / 2]);
            t[2 * i + 1] = zip_hi(m[i], m[i + kVW / 2]);
          }
          std::copy(t, t + kVW, m);
        }
        for (int i = 0; i < kVW; ++i) vstore(dst + (c0 + i) * kNR + l0, m[i]);
      }
  }
#endif
  for (int64_t c = c_done; c < cols; ++c)
    for (int64_t l = 0; l < kNR; ++l) dst[c * kNR + l] = l < valid_rows ? src[l * s_row + c * s_col] : 0.0f;
}

// Channel tiles of V: dst[(t * rows + j) * kNR + l] = src[j * s_row + (t * kNR + l) * s_col], zero past cols.
void pack_value_tiles(const float* src, int64_t s_row, int64_t s_col, int64_t rows, int64_t cols, float* dst) {
  for (int64_t t = 0; t * kNR < cols; ++t) {
    const int64_t width = std::min(kNR, cols - t * kNR);
    for (int64_t j = 0; j < rows; ++j) {
      float* d = dst + (t * rows + j) * kNR;
      const float* s = src + j * s_row + t * kNR * s_col;
      for (int64_t l = 0; l < width; ++l) d[l] = s[l * s_col];
      std::fill(d + width, d + kNR, 0.0f);
    }
  }
}

// Leading dimension for row scratch of n floats, kept off multiples of 4 KiB (cache-set aliasing).
inline int64_t scratch_ld(int64_t n) {
  const int64_t ld = round_up(n, kNR);
  return ld % 1024 == 0 ? ld + kNR : ld;
}

constexpr int64_t kMaxPanelBlocks = 4;  // register blocks (of kMR query rows) per work item

// Sizes shared by all work items of one call. Packed operands are column tiles of kNR
// entries, each tile (depth x kNR) contiguous.
struct PanelContext {
  const RelPosAttentionParams& p;
  int64_t T, H, Dk, panel_rows;
  int64_t lds, ldg;  // row strides of the score and positional-band scratch
  int64_t k_tiles, p_tiles, v_tiles;
  int64_t k_size() const { return k_tiles * Dk * kNR; }  // K^T in tiles of kNR keys
  int64_t p_size() const { return p_tiles * Dk * kNR; }  // P^T in tiles of kNR relative positions
  int64_t v_size() const { return v_tiles * T * kNR; }   // V in tiles of kNR channels (T x kNR each)
};

// Packed operands of one (batch, head).
struct HeadOperands {
  const float* k;
  const float* p;
  const float* v;
};

void pack_keys(const PanelContext& c, int64_t b, int64_t h, float* dst) {
  const auto& k = c.p.k;
  for (int64_t t = 0; t < c.k_tiles; ++t)
    pack_tile_transposed(k.data + b * k.stride[0] + h * k.stride[2], k.stride[1], k.stride[3], t * kNR, c.T, c.Dk,
                         dst + t * c.Dk * kNR);
}

void pack_values(const PanelContext& c, int64_t b, int64_t h, float* dst) {
  const auto& v = c.p.v;
  pack_value_tiles(v.data + b * v.stride[0] + h * v.stride[2], v.stride[1], v.stride[3], c.T, c.Dk, dst);
}

// Tiles [t_begin, t_end) of P^T for position batch bp, head h.
void pack_positions(const PanelContext& c, int64_t bp, int64_t h, int64_t t_begin, int64_t t_end, float* dst) {
  const auto& pos = c.p.pos;
  for (int64_t t = t_begin; t < t_end; ++t)
    pack_tile_transposed(pos.data + bp * pos.stride[0] + h * pos.stride[2], pos.stride[1], pos.stride[3], t * kNR,
                         2 * c.T - 1, c.Dk, dst + t * c.Dk * kNR);
}

// Per-thread buffers, allocated once per parallel chunk.
struct PanelScratch {
  explicit PanelScratch(const PanelContext& c)
      : qu(c.panel_rows * c.Dk),
        qv(c.panel_rows * c.Dk),
        scores(c.panel_rows * c.lds),
        band(c.panel_rows * c.ldg),
        bias(c.T + kNR),
        tail(kMR * kNR),
        row_max(c.panel_rows * kVW),
        inv_sum(c.panel_rows),
        row_lo(c.panel_rows),
        row_hi(c.panel_rows) {}
  std::vector<float> qu, qv, scores, band, bias, tail, row_max, inv_sum;
  std::vector<int64_t> row_lo, row_hi;  // allowed keys of each panel row, relative to the panel's key origin
  int64_t bias_batch = -1, first_valid = 0, last_valid = -1;
};

// Key mask of batch b as an additive bias (0 valid, -inf masked, padded with -inf) and its valid span.
void load_key_bias(const PanelContext& c, PanelScratch& w, int64_t b) {
  if (w.bias_batch == b) return;
  const auto& m = c.p.key_mask;
  w.bias_batch = b;
  w.first_valid = c.T;
  w.last_valid = -1;
  for (int64_t j = 0; j < c.T; ++j) {
    const bool ok = m.data == nullptr || m.data[b * m.stride[0] + j * m.stride[1]] != 0;
    w.bias[j] = ok ? 0.0f : kNegInf;
    if (ok) {
      w.first_valid = std::min(w.first_valid, j);
      w.last_valid = j;
    }
  }
  std::fill(w.bias.begin() + c.T, w.bias.end(), kNegInf);
}

// Attention output of query rows [i0, i0 + rows) of (b, h).
void attend_panel(const PanelContext& c, PanelScratch& w, const HeadOperands& op, int64_t b, int64_t h, int64_t i0,
                  int64_t rows) {
  const RelPosAttentionParams& p = c.p;
  const int64_t T = c.T, Dk = c.Dk, lds = c.lds, ldg = c.ldg;
  load_key_bias(c, w, b);
  float* const out = p.output + ((b * T + i0) * c.H + h) * Dk;
  const int64_t ld_out = c.H * Dk;

  // Allowed keys of each row and of the whole panel.
  int64_t lo = T, hi = -1;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = i0 + r;
    const int64_t left = p.left, right = p.right;  // long long in the shared params struct
    w.row_lo[r] = std::max(w.first_valid, left >= 0 && left < i ? i - left : int64_t{0});
    w.row_hi[r] = std::min(w.last_valid, right >= 0 && right < T - i ? i + right : T - 1);
    if (w.row_lo[r] <= w.row_hi[r]) {
      lo = std::min(lo, w.row_lo[r]);
      hi = std::max(hi, w.row_hi[r]);
    }
  }
  if (lo > hi) {
    for (int64_t r = 0; r < rows; ++r) std::fill(out + r * ld_out, out + r * ld_out + Dk, 0.0f);
    return;
  }
  // Key columns x are counted from kb, the tile boundary at or before lo.
  const int64_t kb = lo / kNR * kNR, x_last = hi - kb;
  for (int64_t r = 0; r < rows; ++r) {
    w.row_lo[r] -= kb;
    w.row_hi[r] -= kb;
  }

  // Query rows plus the two biases; rows past `rows` up to a whole register block are zero.
  const int64_t n_mb = (rows + kMR - 1) / kMR;
  for (int64_t r = 0; r < n_mb * kMR; ++r) {
    float* du = w.qu.data() + r * Dk;
    float* dv = w.qv.data() + r * Dk;
    if (r >= rows) {
      std::fill(du, du + Dk, 0.0f);
      std::fill(dv, dv + Dk, 0.0f);
      continue;
    }
    const float* qi = p.q.data + b * p.q.stride[0] + (i0 + r) * p.q.stride[1] + h * p.q.stride[2];
    const float* u = p.pos_bias_u.data + h * p.pos_bias_u.stride[0];
    const float* v = p.pos_bias_v.data + h * p.pos_bias_v.stride[0];
    for (int64_t d = 0; d < Dk; ++d) {
      const float qd = qi[d * p.q.stride[3]];
      du[d] = qd + u[d * p.pos_bias_u.stride[1]];
      dv[d] = qd + v[d * p.pos_bias_v.stride[1]];
    }
  }

  // Key columns [mlo, mhi] of each register block (empty when mlo > mhi).
  int64_t mlo[kMaxPanelBlocks], mhi[kMaxPanelBlocks], nrows[kMaxPanelBlocks];
  for (int64_t mb = 0; mb < n_mb; ++mb) {
    nrows[mb] = std::min(kMR, rows - mb * kMR);
    mlo[mb] = x_last + 1;
    mhi[mb] = -1;
    for (int64_t r = mb * kMR; r < mb * kMR + nrows[mb]; ++r) {
      if (w.row_lo[r] > w.row_hi[r]) continue;
      mlo[mb] = std::min(mlo[mb], w.row_lo[r]);
      mhi[mb] = std::max(mhi[mb], w.row_hi[r]);
    }
  }
  auto overlaps = [&](int64_t x0, int64_t first, int64_t last) {
    return first <= last && x0 + kNR > first && x0 <= last;
  };

  // Positional band: G[rr][y] = (q_rr + v) . P[pb + y], pb a tile boundary. Row rr pairs key
  // column x with y = x + (rows - 1 - rr) + dlt.
  const int64_t p_first = T - i0 - rows + kb, pb = p_first / kNR * kNR, dlt = p_first - pb;
  const float* ptiles = op.p + pb * Dk;
  float* const g = w.band.data();
  for (int64_t y0 = 0; y0 < x_last + rows + dlt; y0 += kNR)
    for (int64_t mb = 0; mb < n_mb; ++mb) {
      const int64_t r0 = mb * kMR, nr = nrows[mb];
      if (mlo[mb] > mhi[mb] || !overlaps(y0, mlo[mb] + rows - r0 - nr + dlt, mhi[mb] + rows - 1 - r0 + dlt)) continue;
      float* gb = g + r0 * ldg + y0;
      tile_product(w.qv.data() + r0 * Dk, Dk, ptiles + y0 * Dk, kNR, Dk, [&](const Tile& acc) {
        for (int64_t r = 0; r < kMR; ++r)
          for (int64_t v = 0; v < kNV; ++v) vstore(gb + r * ldg + v * kVW, acc[r][v]);
      });
    }

  // Scores with the epilogue: add the skewed band, scale, mask, window; track row maxima.
  const float* ktiles = op.k + kb * Dk;
  const float* key_bias = w.bias.data() + kb;
  float* const s = w.scores.data();
  const VecF vscale = vsplat(p.scale), neg_inf = vsplat(kNegInf);
  for (int64_t r = 0; r < rows; ++r) vstore(w.row_max.data() + r * kVW, neg_inf);
  for (int64_t x0 = 0; x0 <= x_last; x0 += kNR)
    for (int64_t mb = 0; mb < n_mb; ++mb) {
      if (!overlaps(x0, mlo[mb], mhi[mb])) continue;
      const int64_t r0 = mb * kMR, nr = nrows[mb];
      tile_product(w.qu.data() + r0 * Dk, Dk, ktiles + x0 * Dk, kNR, Dk, [&](const Tile& acc) {
        for (int64_t r = 0; r < nr; ++r) {
          const int64_t rr = r0 + r, xl = w.row_lo[rr], xh = w.row_hi[rr];
          const float* gr = g + rr * ldg + (rows - 1 - rr) + dlt;
          float* mx = w.row_max.data() + rr * kVW;
          VecF row_mx = vload(mx);
          for (int64_t v = 0; v < kNV; ++v) {
            const int64_t x = x0 + v * kVW;
            VecF sv = (acc[r][v] + vload(gr + x)) * vscale + vload(key_bias + x);
            if (x < xl || x + kVW - 1 > xh) {
              const VecI idx = viota() + vsplat_i(static_cast<int32_t>(x));
              const VecI outside =
                  vless_i(idx, vsplat_i(static_cast<int32_t>(xl))) | vless_i(vsplat_i(static_cast<int32_t>(xh)), idx);
              sv = vselect(outside, neg_inf, sv);
            }
            vstore(s + rr * lds + x, sv);
            row_mx = vmax(row_mx, sv);
          }
          vstore(mx, row_mx);
        }
      });
    }

  // exp(S - max) in place over each block's computed columns; rows without an allowed key
  // (and padding rows of the last block) become zeros.
  for (int64_t mb = 0; mb < n_mb; ++mb) {
    if (mlo[mb] > mhi[mb]) continue;
    const int64_t xs = mlo[mb] / kNR * kNR, xe = round_up(mhi[mb] + 1, kNR);
    for (int64_t rr = mb * kMR; rr < (mb + 1) * kMR; ++rr) {
      float* sr = s + rr * lds;
      float mx = kNegInf;
      if (rr < rows)
        for (int64_t l = 0; l < kVW; ++l) mx = std::max(mx, w.row_max[rr * kVW + l]);
      if (mx == kNegInf) {
        std::fill(sr + xs, sr + xe, 0.0f);
        if (rr < rows) w.inv_sum[rr] = 0.0f;
        continue;
      }
      const VecF vm = vsplat(mx);
      VecF vsum = vsplat(0.0f);
      for (int64_t x = xs; x < xe; x += kVW) {
        const VecF e = exp_nonpositive(vload(sr + x) - vm);
        vstore(sr + x, e);
        vsum += e;
      }
      float sum = 0.0f;
      for (int l = 0; l < kVW; ++l) sum += vlane(vsum, l);
      w.inv_sum[rr] = 1.0f / sum;
    }
  }

  // Output rows = (exp(S) x V) / sum, one channel tile at a time.
  const float* vtiles = op.v + kb * kNR;
  for (int64_t c0 = 0; c0 < Dk; c0 += kNR)
    for (int64_t mb = 0; mb < n_mb; ++mb) {
      const int64_t r0 = mb * kMR, nr = nrows[mb];
      float* o = out + r0 * ld_out;
      if (mlo[mb] > mhi[mb]) {
        for (int64_t r = 0; r < nr; ++r) std::fill(o + r * ld_out + c0, o + r * ld_out + std::min(Dk, c0 + kNR), 0.0f);
        continue;
      }
      const bool full = c0 + kNR <= Dk;
      float* dst = full ? o + c0 : w.tail.data();
      const int64_t ld_dst = full ? ld_out : kNR;
      tile_product(s + r0 * lds + mlo[mb], lds, vtiles + (c0 * T + mlo[mb] * kNR), kNR, mhi[mb] - mlo[mb] + 1,
                   [&](const Tile& acc) {
                     for (int64_t r = 0; r < nr; ++r) {
                       const VecF scale = vsplat(w.inv_sum[r0 + r]);
                       for (int64_t v = 0; v < kNV; ++v) vstore(dst + r * ld_dst + v * kVW, acc[r][v] * scale);
                     }
                   });
      if (!full)
        for (int64_t r = 0; r < nr; ++r)
          std::copy(w.tail.data() + r * kNR, w.tail.data() + r * kNR + (Dk - c0), o + r * ld_out + c0);
    }
}

}  // namespace

void relpos_attention(const RelPosAttentionParams& p) {
  const int64_t B = p.q.size[0], T = p.q.size[1], H = p.q.size[2], Dk = p.q.size[3];
  if (B == 0 || T == 0 || H == 0 || Dk == 0) return;
  const int64_t pos_batches = p.pos.stride[0] == 0 ? 1 : B;
  const int64_t threads = get_num_threads();

  // Work items: panels of up to kMaxPanelBlocks register blocks of one (batch, head), sized so
  // that every thread gets a few; a panel reuses each packed tile while it is in cache.
  const int64_t n_blocks = (T + kMR - 1) / kMR;
  const int64_t panel_blocks =
      std::max<int64_t>(1, std::min<int64_t>(kMaxPanelBlocks, B * H * n_blocks / (2 * threads)));
  const int64_t panel_rows = panel_blocks * kMR;
  const int64_t n_panels = (T + panel_rows - 1) / panel_rows;
  // Tile counts: keys, relative positions (one spare tile for bands running past 2T-1), channels.
  const PanelContext ctx{p,
                         T,
                         H,
                         Dk,
                         panel_rows,
                         scratch_ld(T + kNR),
                         scratch_ld(T + panel_rows + 2 * kNR),
                         (T + kNR - 1) / kNR,
                         (2 * T - 1 + kNR - 1) / kNR + 1,
                         (Dk + kNR - 1) / kNR};
  const int64_t k_size = ctx.k_size(), p_size = ctx.p_size(), v_size = ctx.v_size();

  if (B * H >= threads) {
    // Each thread mostly owns whole heads: it packs the heads it works on into its own buffers.
    parallel_for_rethrow(0, B * H * n_panels, 1, [&](int64_t begin, int64_t end) {
      PanelScratch scratch(ctx);
      std::unique_ptr<float[]> packed(new float[k_size + p_size + v_size]);
      float* const k = packed.get();
      float* const v = k + k_size;
      float* const pt = v + v_size;
      int64_t kv_head = -1, pos_head = -1;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / (H * n_panels), h = (item / n_panels) % H, i0 = (item % n_panels) * panel_rows;
        const int64_t bp = pos_batches == 1 ? 0 : b;
        if (b * H + h != kv_head) {
          kv_head = b * H + h;
          pack_keys(ctx, b, h, k);
          pack_values(ctx, b, h, v);
        }
        if (bp * H + h != pos_head) {
          pos_head = bp * H + h;
          pack_positions(ctx, bp, h, 0, ctx.p_tiles, pt);
        }
        attend_panel(ctx, scratch, HeadOperands{k, pt, v}, b, h, i0, std::min(panel_rows, T - i0));
      }
    });
    return;
  }

  // Fewer heads than threads: pack every head once (in parallel), then share the packed operands.
  const int64_t n_kv = B * H, n_pos = pos_batches * H;
  std::unique_ptr<float[]> packed(new float[n_kv * (k_size + v_size) + n_pos * p_size]);
  float* const k_pack = packed.get();
  float* const v_pack = k_pack + n_kv * k_size;
  float* const p_pack = v_pack + n_kv * v_size;
  // Units of about T x Dk elements each: K^T and V of each (b, h), two halves of each P^T.
  parallel_for_rethrow(0, 2 * n_kv + 2 * n_pos, 1, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      if (unit < n_kv) {
        pack_keys(ctx, unit / H, unit % H, k_pack + unit * k_size);
      } else if (unit < 2 * n_kv) {
        pack_values(ctx, (unit - n_kv) / H, (unit - n_kv) % H, v_pack + (unit - n_kv) * v_size);
      } else {
        const int64_t idx = (unit - 2 * n_kv) / 2, half = (unit - 2 * n_kv) % 2, mid = ctx.p_tiles / 2;
        pack_positions(ctx, idx / H, idx % H, half == 0 ? 0 : mid, half == 0 ? mid : ctx.p_tiles,
                       p_pack + idx * p_size);
      }
    }
  });
  parallel_for_rethrow(0, B * H * n_panels, 1, [&](int64_t begin, int64_t end) {
    PanelScratch scratch(ctx);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / (H * n_panels), h = (item / n_panels) % H, i0 = (item % n_panels) * panel_rows;
      const int64_t bp = pos_batches == 1 ? 0 : b;
      const HeadOperands op{k_pack + (b * H + h) * k_size, p_pack + (bp * H + h) * p_size,
                            v_pack + (b * H + h) * v_size};
      attend_panel(ctx, scratch, op, b, h, i0, std::min(panel_rows, T - i0));
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
