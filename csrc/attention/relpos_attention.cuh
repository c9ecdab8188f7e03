// SPDX-License-Identifier: Apache-2.0
// CUDA fused relative-position attention core (see relpos_attention.h):
//   S[i,j] = ((q_i + u) . k_j + (q_i + v) . pos[T-1-i+j]) * scale over allowed keys,
//   out_i = softmax_j(S[i,:]) . V, zeros for a query without any allowed key.
//
// Launch: grid (ceil(T / 16), H, B), 128 threads (4 warps). A block owns 16
// queries of one (b, h); warp w owns queries w, w+4, w+8, w+12 of the tile.
// Keys are visited in tiles of 32 (lane j of a warp = key j of the tile), only
// over the span that the context window allows, with an online softmax:
//   1. scores: Dk is walked in chunks of 32; per chunk the block stages q+u and
//      q+v (16 rows), the key tile (32 rows) and the band of pos rows the
//      tile needs (16+32-1 rows: row T-1-i+j is band row 15-li+lj) in shared
//      memory as fp32; each lane accumulates its 4 (query, key) scores.
//   2. per query row: warp max / sum by shuffles, rescale of the running
//      output, probabilities broadcast by shuffles and accumulated against V
//      read from global memory (lane c owns output columns c, c+32, ...).
// All math is fp32; fp16/bf16 are converted on load and rounded once on store.
// The Dk bound (64, 128, 256, 512) picks the kernel, it sizes the per-thread
// output accumulators. NVRTC-compilable: only CUDA built-ins and pyavatar's own
// headers (included by relative path, which the CuPy loader inlines).
#ifndef PYAVATAR_RELPOS_ATTENTION_CUH
#define PYAVATAR_RELPOS_ATTENTION_CUH

#include "../common/cuda_dtype.cuh"

namespace pyavatar_attn {

typedef long long i64;

// fp16/bf16 storage types and conversions (csrc/common/cuda_dtype.cuh).
using pyavatar_cuda::bf16;
using pyavatar_cuda::f16;
using pyavatar_cuda::from_float;
using pyavatar_cuda::to_float;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kQueries = 16;                 // queries per block
constexpr int kRows = kQueries / kWarps;     // queries per warp
constexpr int kKeys = 32;                    // keys per tile (one per lane)
constexpr int kChunk = 32;                   // Dk chunk staged in shared memory
constexpr int kPad = kChunk + 1;             // row pitch: lanes reading different rows hit different banks
constexpr int kBand = kQueries + kKeys - 1;  // pos rows used by one (query tile, key tile)
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, m));
  return x;
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) x += __shfl_xor_sync(kFullMask, x, m);
  return x;
}

template <typename T, int NC>
__device__ __forceinline__ void relpos_attention(const T* __restrict__ q, const T* __restrict__ k,
                                                 const T* __restrict__ v, const T* __restrict__ pos,
                                                 const T* __restrict__ bias_u, const T* __restrict__ bias_v,
                                                 const unsigned char* __restrict__ key_mask, T* __restrict__ out,
                                                 i64 seq, i64 heads, i64 dk, i64 qs0, i64 qs1, i64 qs2, i64 qs3,
                                                 i64 ks0, i64 ks1, i64 ks2, i64 ks3, i64 vs0, i64 vs1, i64 vs2, i64 vs3,
                                                 i64 ps0, i64 ps1, i64 ps2, i64 ps3, i64 us0, i64 us1, i64 bs0, i64 bs1,
                                                 i64 ms0, i64 ms1, i64 left, i64 right, float scale) {
  __shared__ float s_qu[kQueries][kPad];
  __shared__ float s_qv[kQueries][kPad];
  __shared__ float s_k[kKeys][kPad];
  __shared__ float s_pos[kBand][kPad];

  const float neg_inf = __int_as_float(0xff800000);
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31, warp = tid >> 5;
  const i64 i0 = static_cast<i64>(blockIdx.x) * kQueries;
  const i64 h = blockIdx.y, b = blockIdx.z;

  const T* qb = q + b * qs0 + h * qs2;
  const T* kb = k + b * ks0 + h * ks2;
  const T* vb = v + b * vs0 + h * vs2;
  const T* pb = pos + b * ps0 + h * ps2;
  const T* ub = bias_u + h * us0;
  const T* wb = bias_v + h * bs0;

  float acc[kRows][NC];
  float row_max[kRows], row_sum[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    row_max[r] = neg_inf;
    row_sum[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[r][c] = 0.0f;
  }

  // Keys any query of this tile may see.
  const i64 i_last = (i0 + kQueries < seq ? i0 + kQueries : seq) - 1;
  const i64 j_first = left >= 0 && i0 - left > 0 ? i0 - left : 0;
  const i64 j_last = right >= 0 && i_last + right < seq - 1 ? i_last + right : seq - 1;

  for (i64 j0 = j_first; j0 <= j_last; j0 += kKeys) {
    float ac[kRows], bd[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) ac[r] = bd[r] = 0.0f;
    const i64 band0 = seq - i0 - kQueries + j0;  // pos row of band row 0

    for (i64 c0 = 0; c0 < dk; c0 += kChunk) {
      __syncthreads();  // previous chunk fully consumed
      for (int e = tid; e < kQueries * kChunk; e += kThreads) {
        const int li = e / kChunk, c = e % kChunk;
        const i64 i = i0 + li, cc = c0 + c;
        float qu = 0.0f, qv = 0.0f;
        if (i < seq && cc < dk) {
          const float x = to_float(qb[i * qs1 + cc * qs3]);
          qu = x + to_float(ub[cc * us1]);
          qv = x + to_float(wb[cc * bs1]);
        }
        s_qu[li][c] = qu;
        s_qv[li][c] = qv;
      }
      for (int e = tid; e < kKeys * kChunk; e += kThreads) {
        const int lj = e / kChunk, c = e % kChunk;
        const i64 j = j0 + lj, cc = c0 + c;
        s_k[lj][c] = j < seq && cc < dk ? to_float(kb[j * ks1 + cc * ks3]) : 0.0f;
      }
      for (int e = tid; e < kBand * kChunk; e += kThreads) {
        const int row = e / kChunk, c = e % kChunk;
        const i64 m = band0 + row, cc = c0 + c;
        s_pos[row][c] = m >= 0 && m < 2 * seq - 1 && cc < dk ? to_float(pb[m * ps1 + cc * ps3]) : 0.0f;
      }
      __syncthreads();
#pragma unroll 8
      for (int c = 0; c < kChunk; ++c) {
        const float kc = s_k[lane][c];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const int li = warp + kWarps * r;
          ac[r] = fmaf(s_qu[li][c], kc, ac[r]);
          bd[r] = fmaf(s_qv[li][c], s_pos[kQueries - 1 - li + lane][c], bd[r]);
        }
      }
    }

    // Online softmax over this key tile; lane = key.
    const i64 j = j0 + lane;
    bool key_ok = j <= j_last;
    if (key_ok && key_mask != nullptr) key_ok = key_mask[b * ms0 + j * ms1] != 0;
    float prob[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const i64 i = i0 + warp + kWarps * r;
      const bool ok = key_ok && i < seq && (left < 0 || j >= i - left) && (right < 0 || j <= i + right);
      const float score = ok ? (ac[r] + bd[r]) * scale : neg_inf;
      const float new_max = fmaxf(row_max[r], warp_max(score));
      float alpha = 1.0f;
      prob[r] = 0.0f;
      if (new_max != neg_inf) {  // warp-uniform
        alpha = expf(row_max[r] - new_max);
        prob[r] = ok ? expf(score - new_max) : 0.0f;
        row_max[r] = new_max;
      }
      row_sum[r] = row_sum[r] * alpha + warp_sum(prob[r]);
#pragma unroll
      for (int c = 0; c < NC; ++c) acc[r][c] *= alpha;
    }

    const int n_keys = j_last - j0 + 1 < kKeys ? static_cast<int>(j_last - j0 + 1) : kKeys;
    for (int jj = 0; jj < n_keys; ++jj) {
      float pj[kRows];
      bool any = false;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        pj[r] = __shfl_sync(kFullMask, prob[r], jj);
        any = any || pj[r] != 0.0f;
      }
      if (!any) continue;  // warp-uniform: masked key for all four rows
      const T* vrow = vb + (j0 + jj) * vs1;
#pragma unroll
      for (int c = 0; c < NC; ++c) {
        const i64 col = lane + 32 * c;
        const float x = col < dk ? to_float(vrow[col * vs3]) : 0.0f;
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[r][c] = fmaf(pj[r], x, acc[r][c]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const i64 i = i0 + warp + kWarps * r;
    if (i >= seq) continue;
    const float inv = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
    T* o = out + ((b * seq + i) * heads + h) * dk;
#pragma unroll
    for (int c = 0; c < NC; ++c) {
      const i64 col = lane + 32 * c;
      if (col < dk) o[col] = from_float<T>(acc[r][c] * inv);
    }
  }
}

}  // namespace pyavatar_attn

#define PYAVATAR_RELPOS_ATTENTION_KERNEL(suffix, T, NC)                                                                \
  extern "C" __global__ void __launch_bounds__(pyavatar_attn::kThreads) pyavatar_relpos_attention_##suffix(            \
      const T* q, const T* k, const T* v, const T* pos, const T* bias_u, const T* bias_v,                              \
      const unsigned char* key_mask, T* out, long long seq, long long heads, long long dk, long long qs0,              \
      long long qs1, long long qs2, long long qs3, long long ks0, long long ks1, long long ks2, long long ks3,         \
      long long vs0, long long vs1, long long vs2, long long vs3, long long ps0, long long ps1, long long ps2,         \
      long long ps3, long long us0, long long us1, long long bs0, long long bs1, long long ms0, long long ms1,         \
      long long left, long long right, float scale) {                                                                  \
    pyavatar_attn::relpos_attention<T, NC>(q, k, v, pos, bias_u, bias_v, key_mask, out, seq, heads, dk, qs0, qs1, qs2, \
                                           qs3, ks0, ks1, ks2, ks3, vs0, vs1, vs2, vs3, ps0, ps1, ps2, ps3, us0, us1,  \
                                           bs0, bs1, ms0, ms1, left, right, scale);                                    \
  }

#define PYAVATAR_RELPOS_ATTENTION_DTYPE(suffix, T)      \
  PYAVATAR_RELPOS_ATTENTION_KERNEL(suffix##_d64, T, 2)  \
  PYAVATAR_RELPOS_ATTENTION_KERNEL(suffix##_d128, T, 4) \
  PYAVATAR_RELPOS_ATTENTION_KERNEL(suffix##_d256, T, 8) \
  PYAVATAR_RELPOS_ATTENTION_KERNEL(suffix##_d512, T, 16)

PYAVATAR_RELPOS_ATTENTION_DTYPE(f32, float)
PYAVATAR_RELPOS_ATTENTION_DTYPE(f16, pyavatar_attn::f16)
PYAVATAR_RELPOS_ATTENTION_DTYPE(bf16, pyavatar_attn::bf16)

#undef PYAVATAR_RELPOS_ATTENTION_DTYPE
#undef PYAVATAR_RELPOS_ATTENTION_KERNEL

#endif  // PYAVATAR_RELPOS_ATTENTION_CUH
