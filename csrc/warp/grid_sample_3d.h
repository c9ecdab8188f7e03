// SPDX-License-Identifier: Apache-2.0
// Trilinear sampling of a 5-D volume, semantics of torch.nn.functional.grid_sample
// (mode='bilinear' on 5-D input) with padding 'zeros' or 'border'.
#pragma once

#include "common/isa.h"
#include "warp/warp_params.h"

namespace pyavatar {
namespace cpu {

// GridSample3dParams::padding_mode values.
enum class Padding : int { zeros = 0, border = 1 };

// The one params struct of this kernel, shared with CUDA and CuPy (warp/warp_params.h).
using GridSample3dParams = pyavatar_warp::GridSample3dParams<float>;

PYAVATAR_DECLARE_ISA_VARIANTS(void grid_sample_3d(const GridSample3dParams& p))
inline void grid_sample_3d(const GridSample3dParams& p) { PYAVATAR_ISA_DISPATCH(grid_sample_3d, p); }

}  // namespace cpu
}  // namespace pyavatar
