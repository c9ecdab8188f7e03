// SPDX-License-Identifier: Apache-2.0
// Fused core of conformer self-attention with Transformer-XL relative positions
// (espnet RelPositionMultiHeadedAttention, "new" implementation):
//
//   S[b,h,i,j] = ((q_i + u_h) . k_j + (q_i + v_h) . pos[T-1-i+j]) * scale
//   A = softmax_j(S) over allowed keys (key_mask[b,j] != 0 and -left <= j-i <= right);
//   out[b,i,h] = sum_j A[b,h,i,j] v_j ; rows with no allowed key give zeros.
#pragma once

#include <cstdint>

#include "attention/relpos_params.h"
#include "common/isa.h"

namespace pyavatar {
namespace cpu {

// The one params struct of this kernel, shared with CUDA and CuPy (attention/relpos_params.h).
using RelPosAttentionParams = pyavatar_attn::RelposAttentionParams<float>;

PYAVATAR_DECLARE_ISA_VARIANTS(void relpos_attention(const RelPosAttentionParams& p))
inline void relpos_attention(const RelPosAttentionParams& p) { PYAVATAR_ISA_DISPATCH(relpos_attention, p); }

}  // namespace cpu
}  // namespace pyavatar
