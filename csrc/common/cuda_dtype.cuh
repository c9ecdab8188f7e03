// SPDX-License-Identifier: Apache-2.0
// Half-precision storage types for the CUDA kernels, with fp32 math.
//
// fp16/bf16 are converted with plain integer code (round to nearest even on
// store), so the kernels need neither cuda_fp16.h nor cuda_bf16.h, compile with
// NVRTC without any header search path, and behave the same on every
// architecture. Included by the kernel headers of every op family.
#ifndef PYAVATAR_CUDA_DTYPE_CUH
#define PYAVATAR_CUDA_DTYPE_CUH

namespace pyavatar_cuda {

// Half-precision storage types: the raw 16 bits, math is done in fp32.
struct f16 {
  unsigned short bits;
};
struct bf16 {
  unsigned short bits;
};

__device__ __forceinline__ float to_float(float x) { return x; }

__device__ __forceinline__ float to_float(f16 x) {
  const unsigned sign = static_cast<unsigned>(x.bits & 0x8000u) << 16;
  const unsigned exponent = (x.bits >> 10) & 0x1fu;
  const unsigned mantissa = x.bits & 0x3ffu;
  if (exponent == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (mantissa << 13));  // inf / nan
  if (exponent != 0) return __uint_as_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // zero or subnormal: mantissa * 2^-24 is exact in fp32
  return __uint_as_float(sign | __float_as_uint(static_cast<float>(mantissa) * 5.9604644775390625e-8f));
}

__device__ __forceinline__ float to_float(bf16 x) { return __uint_as_float(static_cast<unsigned>(x.bits) << 16); }

template <typename T>
__device__ __forceinline__ T from_float(float x);

template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}

template <>
__device__ __forceinline__ f16 from_float<f16>(float x) {
  const unsigned u = __float_as_uint(x);
  const unsigned sign = (u >> 16) & 0x8000u;
  const unsigned a = u & 0x7fffffffu;
  f16 r;
  if (a >= 0x7f800000u) {  // inf / nan (quiet)
    r.bits = static_cast<unsigned short>(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  } else if (a >= 0x477ff000u) {  // >= 65520 rounds to inf
    r.bits = static_cast<unsigned short>(sign | 0x7c00u);
  } else if (a < 0x38800000u) {  // below 2^-14: subnormal half, x * 2^24 rounded to nearest even
    r.bits = static_cast<unsigned short>(sign | static_cast<unsigned>(rintf(__uint_as_float(a) * 16777216.0f)));
  } else {  // normal: rebias the exponent, round the mantissa from 23 to 10 bits
    const unsigned m = a - 0x38000000u;
    r.bits = static_cast<unsigned short>(sign | ((m + 0xfffu + ((m >> 13) & 1u)) >> 13));
  }
  return r;
}

template <>
__device__ __forceinline__ bf16 from_float<bf16>(float x) {
  const unsigned u = __float_as_uint(x);
  bf16 r;
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    r.bits = static_cast<unsigned short>((u >> 16) | 0x40u);  // quiet nan
  } else {
    r.bits = static_cast<unsigned short>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  return r;
}

}  // namespace pyavatar_cuda

#endif  // PYAVATAR_CUDA_DTYPE_CUH
