// SPDX-License-Identifier: Apache-2.0
// The strided tensor every kernel takes, under the name the CPU code uses: the one definition is
// pyavatar_params::View in common/view_params.h (data, per-axis sizes and element strides; stride 0 broadcasts).
#pragma once

#include "view_params.h"

namespace pyavatar {

template <typename T, int R>
using StridedView = pyavatar_params::View<T, R>;

}  // namespace pyavatar
