// SPDX-License-Identifier: Apache-2.0
// Dense backward flow from a deformed triangle mesh, and a 2-D image sampler for it.
//
// rasterize_flow: every triangle is drawn at its output position (x, y; pixel
// centres at integer coordinates) with a depth test (smaller z in front); each
// covered pixel receives the barycentric interpolation of its triangle's
// per-vertex source position (the backward flow) and, optionally, of an RGBA
// overlay. Pixels no triangle covers map to themselves with a clear overlay.
// When `sample` is given, the image is also sampled at the new flow (same
// result as calling remap_image afterwards).
//
// remap_image: bicubic sampling (Keys, a = -1.2: sharper than OpenCV's -0.75; edge pixels
// replicated) of a uint8 (Hs, Ws, C ≤ kRemapMaxChannels) image at the flow (coordinates
// clamped to the image; no ringing: each result stays within its 4x4 taps' range); a flow on a
// pixel centre copies that pixel. Then the overlay (premultiplied RGBA)
// goes over channels 0..2: v·(1 − a) + 255·rgb; output uint8 (H, W, C), rounded.
//
// Threads take bands of rows from a shared counter, so a thread that the OS
// delays leaves its share to the others.
#pragma once

#include <cstdint>

#include "common/isa.h"

namespace pyavatar {
namespace cpu {

constexpr int64_t kRemapMaxChannels = 8;

struct RemapParams {
  const uint8_t* image = nullptr;  // (Hs, Ws, C), rows `src_row_stride` elements apart, pixels contiguous
  int64_t src_height = 0;
  int64_t src_width = 0;
  int64_t channels = 0;
  int64_t src_row_stride = 0;
  const float* flow = nullptr;     // (H, W, 2), contiguous
  const float* overlay = nullptr;  // (H, W, 4), contiguous, or nullptr
  int64_t height = 0;
  int64_t width = 0;
  uint8_t* output = nullptr;  // (H, W, C), contiguous
};

struct FlowRasterParams {
  const float* positions = nullptr;    // (V, 3): output x, y in pixels and depth z
  const float* source = nullptr;       // (V, 2): source x, y in pixels
  const float* overlay = nullptr;      // (V, 4): premultiplied RGBA in [0, 1], or nullptr
  const int32_t* triangles = nullptr;  // (T, 3) vertex indices in [0, V)
  int64_t num_vertices = 0;
  int64_t num_triangles = 0;
  int64_t height = 0;
  int64_t width = 0;
  float* flow = nullptr;                // (H, W, 2), contiguous
  float* overlay_out = nullptr;         // (H, W, 4), contiguous; required when overlay is given
  const RemapParams* sample = nullptr;  // optional fused sampling (its flow/overlay/size are taken from here)
};

PYAVATAR_DECLARE_ISA_VARIANTS(void rasterize_flow(const FlowRasterParams& p))
PYAVATAR_DECLARE_ISA_VARIANTS(void remap_image(const RemapParams& p))
inline void rasterize_flow(const FlowRasterParams& p) { PYAVATAR_ISA_DISPATCH(rasterize_flow, p); }
inline void remap_image(const RemapParams& p) { PYAVATAR_ISA_DISPATCH(remap_image, p); }

}  // namespace cpu
}  // namespace pyavatar
