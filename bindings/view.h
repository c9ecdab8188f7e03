// SPDX-License-Identifier: Apache-2.0
// Conversion of Python (data_ptr, sizes, strides) triples into StridedView.
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
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(R) +
                                "-D sizes and strides, got " + std::to_string(sizes.size()) + "-D");
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

}  // namespace bind
}  // namespace pyavatar
