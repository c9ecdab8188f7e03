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
// output accumulators. Arguments: one RelposAttentionParams (relpos_params.h),
// passed by value. NVRTC-compilable: only CUDA built-ins and pyavatar's own
// headers (included by relative path, which the CuPy loader inlines).
#ifndef PYAVATAR_RELPOS_ATTENTION_CUH
#define PYAVATAR_RELPOS_ATTENTION_CUH

#include "../common/cuda_dtype.cuh"
#include "relpos_params.h"

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
                                                 const RelposAttentionParams<T>& p) {
  // The fields the body reads, loaded once up front.
  const i64 seq = p.q.size[1], heads = p.q.size[2], dk = p.q.size[3];
  const i64 qs0 = p.q.stride[0], qs1 = p.q.stride[1], qs2 = p.q.stride[2], qs3 = p.q.stride[3];
  const i64 ks0 = p.k.stride[0], ks1 = p.k.stride[1], ks2 = p.k.stride[2], ks3 = p.k.stride[3];
  const i64 vs0 = p.v.stride[0], vs1 = p.v.stride[1], vs2 = p.v.stride[2], vs3 = p.v.stride[3];
  const i64 ps0 = p.pos.stride[0], ps1 = p.pos.stride[1], ps2 = p.pos.stride[2], ps3 = p.pos.stride[3];
  const i64 us0 = p.pos_bias_u.stride[0], us1 = p.pos_bias_u.stride[1];
  const i64 bs0 = p.pos_bias_v.stride[0], bs1 = p.pos_bias_v.stride[1];
  const i64 ms0 = p.key_mask.stride[0], ms1 = p.key_mask.stride[1];
  const i64 left = p.left, right = p.right;
  const float scale = p.scale;
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

// Restrict-qualified pointers as the inner function's parameters: after inlining they keep the kernel's loads
// free of aliasing with the output.
#define PYAVATAR_RELPOS_ATTENTION_KERNEL(suffix, T, NC)                                                 \
  extern "C" __global__ void __launch_bounds__(pyavatar_attn::kThreads)                                 \
      pyavatar_relpos_attention_##suffix(const pyavatar_attn::RelposAttentionParams<T> p) {             \
    pyavatar_attn::relpos_attention<T, NC>(p.q.data, p.k.data, p.v.data, p.pos.data, p.pos_bias_u.data, \
                                           p.pos_bias_v.data, p.key_mask.data, p.output, p);            \
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
