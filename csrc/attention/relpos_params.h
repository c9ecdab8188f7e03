// SPDX-License-Identifier: Apache-2.0
// Params struct of the CUDA relpos_attention kernels, passed by value (layout rules in common/view_params.h).
// T is the element type: float, f16 or bf16 (common/cuda_dtype.cuh).
#ifndef PYAVATAR_RELPOS_PARAMS_H
#define PYAVATAR_RELPOS_PARAMS_H

#include "../common/view_params.h"

namespace pyavatar_attn {

using pyavatar_params::View;

// Relative-position attention core (see relpos_attention.h for the maths).
template <typename T>
struct RelposAttentionParams {
  View<const T, 4> q;                     // (B, T, H, Dk)
  View<const T, 4> k;                     // (B, T, H, Dk)
  View<const T, 4> v;                     // (B, T, H, Dk)
  View<const T, 4> pos;                   // (B, 2T-1, H, Dk); batch stride 0 = shared
  View<const T, 2> pos_bias_u;            // (H, Dk)
  View<const T, 2> pos_bias_v;            // (H, Dk)
  View<const unsigned char, 2> key_mask;  // (B, T), 1 = valid; null data: all valid
  T* output;                              // (B, T, H, Dk), contiguous
  long long left;                         // keys j >= i - left allowed; -1 = unlimited
  long long right;                        // keys j <= i + right allowed; -1 = unlimited
  float scale;
};

}  // namespace pyavatar_attn

#endif  // PYAVATAR_RELPOS_PARAMS_H
