// SPDX-License-Identifier: Apache-2.0
// Straightforward CPU version (first version; optimised separately).
#include "attention/relpos_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/parallel.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

void relpos_attention(const RelPosAttentionParams& p) {
  const int64_t B = p.q.size[0], T = p.q.size[1], H = p.q.size[2], Dk = p.q.size[3];
  parallel_for(0, B * H * T, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(T);
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t b = idx / (H * T), h = (idx / T) % H, i = idx % T;
      const float* qi = p.q.data + b * p.q.stride[0] + i * p.q.stride[1] + h * p.q.stride[2];
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < T; ++j) {
        bool ok = true;
        if (p.key_mask.data != nullptr) ok = p.key_mask.data[b * p.key_mask.stride[0] + j * p.key_mask.stride[1]] != 0;
        if (p.left >= 0 && j < i - p.left) ok = false;
        if (p.right >= 0 && j > i + p.right) ok = false;
        if (!ok) {
          scores[j] = -std::numeric_limits<float>::infinity();
          continue;
        }
        const float* kj = p.k.data + b * p.k.stride[0] + j * p.k.stride[1] + h * p.k.stride[2];
        const float* pm = p.pos.data + b * p.pos.stride[0] + (T - 1 - i + j) * p.pos.stride[1] + h * p.pos.stride[2];
        float ac = 0.f, bd = 0.f;
        for (int64_t c = 0; c < Dk; ++c) {
          const float qc = qi[c * p.q.stride[3]];
          ac += (qc + p.pos_bias_u.data[h * p.pos_bias_u.stride[0] + c * p.pos_bias_u.stride[1]]) * kj[c * p.k.stride[3]];
          bd += (qc + p.pos_bias_v.data[h * p.pos_bias_v.stride[0] + c * p.pos_bias_v.stride[1]]) * pm[c * p.pos.stride[3]];
        }
        scores[j] = (ac + bd) * p.scale;
        mx = std::max(mx, scores[j]);
      }
      float* out = p.output + ((b * T + i) * H + h) * Dk;
      std::fill(out, out + Dk, 0.f);
      if (mx == -std::numeric_limits<float>::infinity()) continue;
      float sum = 0.f;
      for (int64_t j = 0; j < T; ++j) {
        scores[j] = scores[j] == -std::numeric_limits<float>::infinity() ? 0.f : std::exp(scores[j] - mx);
        sum += scores[j];
      }
      for (int64_t j = 0; j < T; ++j) {
        const float a = scores[j] / sum;
        if (a == 0.f) continue;
        const float* vj = p.v.data + b * p.v.stride[0] + j * p.v.stride[1] + h * p.v.stride[2];
        for (int64_t c = 0; c < Dk; ++c) out[c] += a * vj[c * p.v.stride[3]];
      }
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
