// SPDX-License-Identifier: Apache-2.0
// Trilinear sampling of a 5-D volume, semantics of torch.nn.functional.grid_sample
// (mode='bilinear' on 5-D input) with padding 'zeros' or 'border'.
#pragma once

#include "common/isa.h"
#include "common/strided_view.h"

namespace pyavatar {
namespace cpu {

enum class Padding : int { zeros = 0, border = 1 };

struct GridSample3dParams {
  StridedView<const float, 5> input;  // (N, C, D, H, W)
  StridedView<const float, 5> grid;   // (N, Do, Ho, Wo, 3), last axis (x, y, z) = (W, H, D)
  float* output = nullptr;            // (N, C, Do, Ho, Wo), contiguous
  Padding padding = Padding::zeros;
  bool align_corners = false;
};

PYAVATAR_DECLARE_ISA_VARIANTS(void grid_sample_3d(const GridSample3dParams& p))
inline void grid_sample_3d(const GridSample3dParams& p) { PYAVATAR_ISA_DISPATCH(grid_sample_3d, p); }

}  // namespace cpu
}  // namespace pyavatar
