// SPDX-License-Identifier: Apache-2.0
// Fused deformation + warp. Per block of output points the deformation is
//   sum_j mask_j * motion_j = L * sum_j mask_j + sum_{j>=1} mask_j * (ks - kd)_j
// (exact for any mask, no per-group lattice), then the feature is sampled there
// with the shared trilinear sampler (warp/trilinear.h).
#include "warp/dense_warp.h"

#include <algorithm>

#include "warp/schedule.h"
#include "warp/trilinear.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {

using trilinear::kBlock;
using trilinear::Scratch;

inline float lattice(int64_t i, int64_t n) { return 2.f * (static_cast<float>(i) / static_cast<float>(n - 1)) - 1.f; }

// Deformation of output points [s0, s0 + count) of batch item n, as normalised
// (x, y, z); `shift` holds kp_source - kp_driving of item n, (K, 3).
void deformation_block(const DenseWarpParams& p, int64_t n, int64_t s0, int64_t count, const float* shift, float* x,
                       float* y, float* z) {
  const auto& m = p.mask;
  const int64_t K1 = m.size[1], D = m.size[2], H = m.size[3], W = m.size[4];
  int64_t offset[kBlock];
  float lx[kBlock], ly[kBlock], lz[kBlock], total[kBlock];
  int64_t w = s0 % W, h = (s0 / W) % H, d = s0 / (W * H);
  for (int64_t i = 0; i < count; ++i) {
    offset[i] = d * m.stride[2] + h * m.stride[3] + w * m.stride[4];
    lx[i] = lattice(w, W), ly[i] = lattice(h, H), lz[i] = lattice(d, D);
    if (++w == W) {
      w = 0;
      if (++h == H) h = 0, ++d;
    }
  }
  // The block is one run of memory in each mask channel when offsets advance by one.
  bool unit = true;
  for (int64_t i = 1; i < count; ++i) unit = unit && offset[i] == offset[0] + i;
  const float* base = m.data + n * m.stride[0];
  float ax[kBlock], ay[kBlock], az[kBlock];
  for (int64_t i = 0; i < count; ++i) total[i] = 0.f, ax[i] = 0.f, ay[i] = 0.f, az[i] = 0.f;
  for (int64_t j = 0; j < K1; ++j) {
    const float* mj = base + j * m.stride[1];
    const float sx = j == 0 ? 0.f : shift[(j - 1) * 3 + 0];
    const float sy = j == 0 ? 0.f : shift[(j - 1) * 3 + 1];
    const float sz = j == 0 ? 0.f : shift[(j - 1) * 3 + 2];
    if (unit) {
      const float* row = mj + offset[0];
      for (int64_t i = 0; i < count; ++i) {
        const float v = row[i];
        total[i] += v, ax[i] += v * sx, ay[i] += v * sy, az[i] += v * sz;
      }
    } else {
      for (int64_t i = 0; i < count; ++i) {
        const float v = mj[offset[i]];
        total[i] += v, ax[i] += v * sx, ay[i] += v * sy, az[i] += v * sz;
      }
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    x[i] = lx[i] * total[i] + ax[i];
    y[i] = ly[i] * total[i] + ay[i];
    z[i] = lz[i] * total[i] + az[i];
  }
}

}  // namespace

void dense_warp(const DenseWarpParams& p) {
  const auto& f = p.feature;
  const int64_t N = f.size[0], C = f.size[1], Df = f.size[2], Hf = f.size[3], Wf = f.size[4];
  const int64_t K1 = p.mask.size[1], S = p.mask.size[2] * p.mask.size[3] * p.mask.size[4];
  const int64_t K = K1 - 1;
  const int64_t blocks = (S + kBlock - 1) / kBlock;
  Scratch<float> shift(N * K * 3);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int a = 0; a < 3; ++a) {
        const float ks =
            p.kp_source.data[n * p.kp_source.stride[0] + k * p.kp_source.stride[1] + a * p.kp_source.stride[2]];
        const float kd =
            p.kp_driving.data[n * p.kp_driving.stride[0] + k * p.kp_driving.stride[1] + a * p.kp_driving.stride[2]];
        shift.get()[(n * K + k) * 3 + a] = ks - kd;
      }
  // Output blocks [b, e), sampled from `volume` or, when null, directly from the feature.
  const auto process = [&](int64_t b, int64_t e, const trilinear::PaddedVolume* volume) {
    const trilinear::Workspace ws(C);
    float x[kBlock], y[kBlock], z[kBlock];
    for (int64_t nb = b; nb < e; ++nb) {
      const int64_t n = nb / blocks, s0 = (nb % blocks) * kBlock, count = std::min(kBlock, S - s0);
      deformation_block(p, n, s0, count, shift.get() + n * K * 3, x, y, z);
      if (p.deformation != nullptr) {
        float* def = p.deformation + (n * S + s0) * 3;
        for (int64_t i = 0; i < count; ++i) def[3 * i] = x[i], def[3 * i + 1] = y[i], def[3 * i + 2] = z[i];
      }
      for (int64_t i = 0; i < count; ++i) {
        x[i] = trilinear::unnormalize(x[i], Wf, false);
        y[i] = trilinear::unnormalize(y[i], Hf, false);
        z[i] = trilinear::unnormalize(z[i], Df, false);
      }
      float* out = p.output + n * C * S + s0;
      if (volume != nullptr) {
        volume->sample(n, x, y, z, count, out, S, ws);
      } else {
        trilinear::sample_direct(f, n, x, y, z, count, out, S);
      }
    }
  };
  if (trilinear::use_padded(S, C, Df, Hf, Wf)) {
    const trilinear::PaddedVolume volume(f);
    two_phase_for(
        volume.rows(), 16, N * blocks, 8, [&](int64_t b, int64_t e) { volume.load_rows(b, e); },
        [&](int64_t b, int64_t e) { process(b, e, &volume); });
  } else {
    dynamic_for(N * blocks, 8, [&](int64_t b, int64_t e) { process(b, e, nullptr); });
  }
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
