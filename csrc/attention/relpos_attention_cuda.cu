// SPDX-License-Identifier: Apache-2.0
// Host launcher of the CUDA relpos_attention kernels (bodies in relpos_attention.cuh).
#include <cuda_runtime.h>

#include <cstdint>

#include "attention/relpos_attention.cuh"
#include "common/cuda_launch.h"
#include "common/cuda_launchers.h"

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
cudaError_t launch(const Kernels<Fn>& kernels, const pyavatar_attn::RelposAttentionParams<T>& p, cudaStream_t stream) {
  static_assert(is_kernel_params_v<pyavatar_attn::RelposAttentionParams<T>>, "params must be plain data");
  const int64_t batch = p.q.size[0], seq = p.q.size[1], heads = p.q.size[2], dk = p.q.size[3];
  if (batch == 0 || seq == 0 || heads == 0 || dk == 0) return cudaSuccess;
  if (dk > 512 || heads > 65535 || batch > 65535) return cudaErrorInvalidConfiguration;
  const int bound = dk <= 64 ? 0 : dk <= 128 ? 1 : dk <= 256 ? 2 : 3;
  const dim3 grid(static_cast<unsigned>((seq + pyavatar_attn::kQueries - 1) / pyavatar_attn::kQueries),
                  static_cast<unsigned>(heads), static_cast<unsigned>(batch));
  kernels.by_bound[bound]<<<grid, pyavatar_attn::kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t relpos_attention_probe() {
  cudaFuncAttributes attributes;
  return cudaFuncGetAttributes(&attributes, pyavatar_relpos_attention_f32_d64);
}

cudaError_t relpos_attention(int dtype, const DeviceView<4>& q, const DeviceView<4>& k, const DeviceView<4>& v,
                             const DeviceView<4>& pos, const DeviceView<2>& pos_bias_u, const DeviceView<2>& pos_bias_v,
                             const StridedView<const uint8_t, 2>& key_mask, int64_t left, int64_t right, float scale,
                             void* output, cudaStream_t stream) {
  return launch_for_dtype(dtype, kF32, kF16, kBF16, [&](auto tag, const auto& kernels) {
    using T = element_of<decltype(tag)>;
    pyavatar_attn::RelposAttentionParams<T> p{};
    p.q = kernel_view<const T>(q);
    p.k = kernel_view<const T>(k);
    p.v = kernel_view<const T>(v);
    p.pos = kernel_view<const T>(pos);
    p.pos_bias_u = kernel_view<const T>(pos_bias_u);
    p.pos_bias_v = kernel_view<const T>(pos_bias_v);
    p.key_mask = kernel_view<const unsigned char>(key_mask);
    p.output = static_cast<T*>(output);
    p.left = left;
    p.right = right;
    p.scale = scale;
    return launch(kernels, p, stream);
  });
}

}  // namespace cuda
}  // namespace pyavatar
