// SPDX-License-Identifier: Apache-2.0
// Trilinear sampler: per block of output points the corner offsets and weights
// are computed once, then all channels are gathered from a channels-last,
// zero-bordered copy of the input (see warp/trilinear.h).
#include "warp/grid_sample_3d.h"

#include <algorithm>

#include "warp/schedule.h"
#include "warp/trilinear.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

namespace {

// Voxel coordinates of output points [s0, s0 + count) of batch item n.
void grid_coordinates(const GridSample3dParams& p, int64_t n, int64_t s0, int64_t count, float* x, float* y, float* z) {
  const auto& g = p.grid;
  const auto& in = p.input;
  const int64_t Ho = g.size[2], Wo = g.size[3];
  int64_t ow = s0 % Wo, oh = (s0 / Wo) % Ho, od = s0 / (Wo * Ho);
  const float* base = g.data + n * g.stride[0];
  const int64_t sa = g.stride[4];
  for (int64_t i = 0; i < count; ++i) {
    const float* gp = base + od * g.stride[1] + oh * g.stride[2] + ow * g.stride[3];
    x[i] = trilinear::unnormalize(gp[0], in.size[4], p.align_corners != 0);
    y[i] = trilinear::unnormalize(gp[sa], in.size[3], p.align_corners != 0);
    z[i] = trilinear::unnormalize(gp[2 * sa], in.size[2], p.align_corners != 0);
    if (++ow == Wo) {
      ow = 0;
      if (++oh == Ho) oh = 0, ++od;
    }
  }
  if (p.padding_mode == static_cast<int>(Padding::border)) {
    for (int64_t i = 0; i < count; ++i) {
      x[i] = trilinear::clip_border(x[i], in.size[4]);
      y[i] = trilinear::clip_border(y[i], in.size[3]);
      z[i] = trilinear::clip_border(z[i], in.size[2]);
    }
  }
}

}  // namespace

void grid_sample_3d(const GridSample3dParams& p) {
  using trilinear::kBlock;
  const auto& in = p.input;
  const int64_t N = in.size[0], C = in.size[1], D = in.size[2], H = in.size[3], W = in.size[4];
  const int64_t S = p.grid.size[1] * p.grid.size[2] * p.grid.size[3];
  const int64_t blocks = (S + kBlock - 1) / kBlock;
  // Output block nb = (n, s0): points [s0, s0 + count) of batch item n.
  auto block = [&](int64_t nb, int64_t& n, int64_t& s0, int64_t& count) {
    n = nb / blocks, s0 = (nb % blocks) * kBlock, count = std::min(kBlock, S - s0);
  };
  if (trilinear::use_padded(S, C, D, H, W)) {
    const trilinear::PaddedVolume volume(in);
    two_phase_for(
        volume.rows(), 16, N * blocks, 8, [&](int64_t b, int64_t e) { volume.load_rows(b, e); },
        [&](int64_t b, int64_t e) {
          const trilinear::Workspace ws(C);
          float x[kBlock], y[kBlock], z[kBlock];
          for (int64_t nb = b; nb < e; ++nb) {
            int64_t n, s0, count;
            block(nb, n, s0, count);
            grid_coordinates(p, n, s0, count, x, y, z);
            volume.sample(n, x, y, z, count, p.output + n * C * S + s0, S, ws);
          }
        });
    return;
  }
  dynamic_for(N * blocks, 8, [&](int64_t b, int64_t e) {
    float x[kBlock], y[kBlock], z[kBlock];
    for (int64_t nb = b; nb < e; ++nb) {
      int64_t n, s0, count;
      block(nb, n, s0, count);
      grid_coordinates(p, n, s0, count, x, y, z);
      trilinear::sample_direct(in, n, x, y, z, count, p.output + n * C * S + s0, S);
    }
  });
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
