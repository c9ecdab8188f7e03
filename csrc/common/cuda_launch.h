// SPDX-License-Identifier: Apache-2.0
// Host-side dtype dispatch shared by the CUDA launchers: one call site per launcher instead of one per dtype.
#pragma once

#include <cuda_runtime.h>

#include <type_traits>

#include "common/cuda_dtype.cuh"

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

}  // namespace cuda
}  // namespace pyavatar
