// SPDX-License-Identifier: Apache-2.0
// Fused core of conformer self-attention with Transformer-XL relative positions
// (espnet RelPositionMultiHeadedAttention, "new" implementation):
//
//   S[b,h,i,j] = ((q_i + u_h) . k_j + (q_i + v_h) . pos[T-1-i+j]) * scale
//   A = softmax_j(S) over allowed keys (key_mask[b,j] != 0 and -left <= j-i <= right);
//   out[b,i,h] = sum_j A[b,h,i,j] v_j ; rows with no allowed key give zeros.
#pragma once

#include <cstdint>

#include "common/isa.h"
#include "common/strided_view.h"

namespace pyavatar {
namespace cpu {

struct RelPosAttentionParams {
  StridedView<const float, 4> q;           // (B, T, H, Dk)
  StridedView<const float, 4> k;           // (B, T, H, Dk)
  StridedView<const float, 4> v;           // (B, T, H, Dk)
  StridedView<const float, 4> pos;         // (B, 2T-1, H, Dk); row m is relative distance T-1-m (stride 0 = shared)
  StridedView<const float, 2> pos_bias_u;  // (H, Dk)
  StridedView<const float, 2> pos_bias_v;  // (H, Dk)
  StridedView<const uint8_t, 2> key_mask;  // (B, T), 1 = valid; data == nullptr: all valid
  int64_t left = -1;                       // keys j >= i - left allowed; -1 = unlimited
  int64_t right = -1;                      // keys j <= i + right allowed; -1 = unlimited (0 = causal)
  float scale = 1.0f;
  float* output = nullptr;  // (B, T, H, Dk), contiguous
};

PYAVATAR_DECLARE_ISA_VARIANTS(void relpos_attention(const RelPosAttentionParams& p))
inline void relpos_attention(const RelPosAttentionParams& p) { PYAVATAR_ISA_DISPATCH(relpos_attention, p); }

}  // namespace cpu
}  // namespace pyavatar
