// SPDX-License-Identifier: Apache-2.0
// Plain (torch-free) description of a strided tensor handed to a kernel.
#pragma once

#include <cstdint>

namespace pyavatar {

// Element strides (not bytes). A stride of 0 broadcasts along that axis.
template <typename T, int R>
struct StridedView {
  T* data = nullptr;
  int64_t size[R] = {};
  int64_t stride[R] = {};
};

}  // namespace pyavatar
