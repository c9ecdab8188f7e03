// SPDX-License-Identifier: Apache-2.0
// A strided tensor as every kernel receives it, inside its params struct (warp/warp_params.h,
// attention/relpos_params.h): the CPU kernels, the CUDA kernels and the CuPy backend share these structs.
//
// The *_params.h headers are the layout of the CUDA kernel boundary, written once: the host launchers
// (csrc/*/*_cuda.cu) fill these structs, the kernels (csrc/*/*.cuh) take one by value, and the CuPy backend
// builds the same bytes from a NumPy dtype it reads out of the kernel source it compiles
// (pyavatar/kernels/_cuda_params.py; tests/kernels/test_cuda_params.py checks it against the compilers).
// Rules for these headers, so that every compiler and that reader agree: plain C++17, no includes but other
// *_params.h files, standard-layout structs of pointers, `long long`, `int` and `float` members, one member
// per declaration, arrays sized by a literal or a template parameter.
#ifndef PYAVATAR_VIEW_PARAMS_H
#define PYAVATAR_VIEW_PARAMS_H

namespace pyavatar_params {

// data, and per axis the size and the stride in elements (a stride of 0 broadcasts along that axis).
template <typename T, int R>
struct View {
  T* data;
  long long size[R];
  long long stride[R];
};

}  // namespace pyavatar_params

#endif  // PYAVATAR_VIEW_PARAMS_H
