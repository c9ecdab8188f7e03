// SPDX-License-Identifier: Apache-2.0
// Conversion of the kernel args as pyavatar.kernels._native packs them (tensors as (data_ptr, sizes,
// strides) triples into StridedView, strings into the kernels' codes).
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "common/strided_view.h"

namespace pyavatar {
namespace bind {

// A tensor as Python passes it: (data_ptr, sizes, strides), strides in elements.
using PyView = std::tuple<uintptr_t, std::vector<int64_t>, std::vector<int64_t>>;

template <typename T, int R>
StridedView<T, R> to_view(const PyView& v, const char* name) {
  const auto& sizes = std::get<1>(v);
  const auto& strides = std::get<2>(v);
  if (static_cast<int>(sizes.size()) != R || static_cast<int>(strides.size()) != R)
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(R) + "-D sizes and strides, got " +
                                std::to_string(sizes.size()) + "-D");
  StridedView<T, R> out;
  out.data = reinterpret_cast<T*>(std::get<0>(v));
  bool empty = false;
  for (int i = 0; i < R; ++i) {
    out.size[i] = sizes[i];
    out.stride[i] = strides[i];
    empty = empty || sizes[i] == 0;
  }
  // torch hands 0-element tensors a null pointer; any other null is a caller bug.
  if (out.data == nullptr && !empty) throw std::invalid_argument(std::string(name) + ": null data pointer");
  return out;
}

// grid_sample padding_mode as the kernels take it: 0 = zeros, 1 = border.
inline int padding_code(const std::string& mode) {
  if (mode == "zeros") return 0;
  if (mode == "border") return 1;
  throw std::invalid_argument("padding_mode must be 'zeros' or 'border', got '" + mode + "'");
}

// An optional output is asked for exactly when its pointer is given.
inline void check_optional_output(const char* name, bool requested, uintptr_t pointer) {
  if (requested != (pointer != 0))
    throw std::invalid_argument(std::string(name) +
                                (requested ? ": requested but no pointer given" : ": pointer given but not requested"));
}

}  // namespace bind
}  // namespace pyavatar
