// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA relpos_attention kernels (bodies in relpos_attention.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "attention/relpos_attention.cuh"
#include "common/cuda_launch.h"

namespace pyavatar {
namespace cuda {

namespace {

// Kernels of one dtype per head-dim bound (64, 128, 256, 512).
template <typename Fn>
struct Kernels {
  Fn by_bound[4];
};

const Kernels<decltype(&pyavatar_relpos_attention_f32_d64)> kF32 = {
    {pyavatar_relpos_attention_f32_d64, pyavatar_relpos_attention_f32_d128, pyavatar_relpos_attention_f32_d256,
     pyavatar_relpos_attention_f32_d512}};
const Kernels<decltype(&pyavatar_relpos_attention_f16_d64)> kF16 = {
    {pyavatar_relpos_attention_f16_d64, pyavatar_relpos_attention_f16_d128, pyavatar_relpos_attention_f16_d256,
     pyavatar_relpos_attention_f16_d512}};
const Kernels<decltype(&pyavatar_relpos_attention_bf16_d64)> kBF16 = {
    {pyavatar_relpos_attention_bf16_d64, pyavatar_relpos_attention_bf16_d128, pyavatar_relpos_attention_bf16_d256,
     pyavatar_relpos_attention_bf16_d512}};

template <typename T, typename Fn>
cudaError_t launch(const Kernels<Fn>& kernels, const void* const* data, const int64_t* const* stride,
                   const int64_t* q_size, const uint8_t* key_mask, const int64_t* key_mask_stride, int64_t left,
                   int64_t right, float scale, void* output, cudaStream_t stream) {
  const int64_t batch = q_size[0], seq = q_size[1], heads = q_size[2], dk = q_size[3];
  if (batch == 0 || seq == 0 || heads == 0 || dk == 0) return cudaSuccess;
  if (dk > 512 || heads > 65535 || batch > 65535) return cudaErrorInvalidConfiguration;
  const int bound = dk <= 64 ? 0 : dk <= 128 ? 1 : dk <= 256 ? 2 : 3;
  const dim3 grid(static_cast<unsigned>((seq + pyavatar_attn::kQueries - 1) / pyavatar_attn::kQueries),
                  static_cast<unsigned>(heads), static_cast<unsigned>(batch));
  const T* in[6];
  for (int t = 0; t < 6; ++t) in[t] = static_cast<const T*>(data[t]);
  const int64_t *qs = stride[0], *ks = stride[1], *vs = stride[2], *ps = stride[3], *us = stride[4], *bs = stride[5];
  const int64_t ms0 = key_mask ? key_mask_stride[0] : 0, ms1 = key_mask ? key_mask_stride[1] : 0;
  kernels.by_bound[bound]<<<grid, pyavatar_attn::kThreads, 0, stream>>>(
      in[0], in[1], in[2], in[3], in[4], in[5], key_mask, static_cast<T*>(output), seq, heads, dk, qs[0], qs[1], qs[2],
      qs[3], ks[0], ks[1], ks[2], ks[3], vs[0], vs[1], vs[2], vs[3], ps[0], ps[1], ps[2], ps[3], us[0], us[1], bs[0],
      bs[1], ms0, ms1, left, right, scale);
  return cudaGetLastError();
}

}  // namespace

cudaError_t relpos_attention_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_relpos_attention_f32_d64);
}

// data / stride: q, k, v (B, T, H, Dk), pos (B, 2T-1, H, Dk; batch stride may
// be 0), pos_bias_u, pos_bias_v (H, Dk), in that order, element strides;
// q_size (B, T, H, Dk); key_mask (B, T) uint8 or null; output (B, T, H, Dk)
// contiguous. dtype: 0 fp32, 1 fp16, 2 bf16.
cudaError_t relpos_attention(int dtype, const void* const* data, const int64_t* const* stride, const int64_t* q_size,
                             const uint8_t* key_mask, const int64_t* key_mask_stride, int64_t left, int64_t right,
                             float scale, void* output, cudaStream_t stream) {
  return launch_for_dtype(dtype, kF32, kF16, kBF16, [&](auto tag, const auto& kernels) {
    return launch<element_of<decltype(tag)>>(kernels, data, stride, q_size, key_mask, key_mask_stride, left, right,
                                             scale, output, stream);
  });
}

}  // namespace cuda
}  // namespace pyavatar
