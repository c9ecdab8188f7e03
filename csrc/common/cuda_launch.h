// SPDX-License-Identifier: Apache-2.0
// Host-side helpers shared by the CUDA launchers: dtype dispatch (one call site per launcher instead of one per
// dtype) and the conversion of a binding's view into the View of a kernel params struct.
#pragma once

#include <cuda_runtime.h>

#include <type_traits>

#include "common/cuda_dtype.cuh"
#include "common/strided_view.h"
#include "common/view_params.h"

namespace pyavatar {
namespace cuda {

// Calls `launch(tag, kernel)` with the kernel (or kernel table) of dtype code `dtype` (0 fp32, 1 fp16, 2 bf16)
// and a null `T*` naming its element type; an unknown code is cudaErrorInvalidValue.
template <typename F32, typename F16, typename BF16, typename Launch>
cudaError_t launch_for_dtype(int dtype, const F32& f32, const F16& f16, const BF16& bf16, Launch&& launch) {
  switch (dtype) {
    case 0:
      return launch(static_cast<float*>(nullptr), f32);
    case 1:
      return launch(static_cast<pyavatar_cuda::f16*>(nullptr), f16);
    case 2:
      return launch(static_cast<pyavatar_cuda::bf16*>(nullptr), bf16);
    default:
      return cudaErrorInvalidValue;
  }
}

// The element type a launch_for_dtype tag names.
template <typename Tag>
using element_of = std::remove_pointer_t<Tag>;

// `view` as a params struct member with element type T (`const float`, `const pyavatar_cuda::f16`, ...).
template <typename T, typename U, int R>
pyavatar_params::View<T, R> kernel_view(const StridedView<U, R>& view) {
  pyavatar_params::View<T, R> out{};
  out.data = static_cast<T*>(view.data);
  for (int i = 0; i < R; ++i) {
    out.size[i] = view.size[i];
    out.stride[i] = view.stride[i];
  }
  return out;
}

// A params struct reaches the kernel by value and CuPy builds it as bytes: it must be plain data.
template <typename Params>
constexpr bool is_kernel_params_v = std::is_standard_layout<Params>::value && std::is_trivially_copyable<Params>::value;

}  // namespace cuda
}  // namespace pyavatar
