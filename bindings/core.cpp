// SPDX-License-Identifier: Apache-2.0
// pybind11 shim of pyavatar._core: raw pointers in, no libtorch. Validation of
// dtypes, devices and shapes happens in pyavatar/kernels (Python); this layer
// only converts arguments and releases the GIL around the kernels.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "attention/relpos_attention.h"
#include "bindings/view.h"
#include "common/isa.h"
#include "common/parallel.h"
#include "raster/flow_raster.h"
#include "warp/deform_features.h"
#include "warp/dense_warp.h"
#include "warp/grid_sample_3d.h"

namespace py = pybind11;
using pyavatar::bind::PyView;
using pyavatar::bind::to_view;
namespace cpu = pyavatar::cpu;

#ifndef PYAVATAR_VERSION
#define PYAVATAR_VERSION "unknown"
#endif

namespace {

py::dict build_info() {
  py::dict d;
  d["version"] = PYAVATAR_VERSION;
#if defined(PYAVATAR_OPENMP)
  d["openmp"] = true;
#else
  d["openmp"] = false;
#endif
  d["compiled_isas"] = cpu::compiled_isas();
  d["cpu_supports_v3"] = cpu::cpu_supports_v3();
#if defined(_MSC_VER)
  d["compiler"] = "msvc " + std::to_string(_MSC_VER);
#elif defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
  return d;
}

void grid_sample_3d(const PyView& input, const PyView& grid, const std::string& padding_mode, bool align_corners,
                    uintptr_t output) {
  cpu::GridSample3dParams p{};
  p.input = to_view<const float, 5>(input, "input");
  p.grid = to_view<const float, 5>(grid, "grid");
  p.output = reinterpret_cast<float*>(output);
  p.padding_mode = pyavatar::bind::padding_code(padding_mode);
  p.align_corners = align_corners ? 1 : 0;
  py::gil_scoped_release release;
  cpu::grid_sample_3d(p);
}

void deform_features(const PyView& feature, const PyView& kp_source, const PyView& kp_driving, float kp_variance,
                     uintptr_t output) {
  cpu::DeformFeaturesParams p{};
  p.feature = to_view<const float, 5>(feature, "feature");
  p.kp_source = to_view<const float, 3>(kp_source, "kp_source");
  p.kp_driving = to_view<const float, 3>(kp_driving, "kp_driving");
  p.kp_variance = kp_variance;
  p.output = reinterpret_cast<float*>(output);
  py::gil_scoped_release release;
  cpu::deform_features(p);
}

void dense_warp(const PyView& feature, const PyView& mask, const PyView& kp_source, const PyView& kp_driving,
                bool return_deformation, uintptr_t output, uintptr_t deformation) {
  pyavatar::bind::check_optional_output("deformation", return_deformation, deformation);
  cpu::DenseWarpParams p{};
  p.feature = to_view<const float, 5>(feature, "feature");
  p.mask = to_view<const float, 5>(mask, "mask");
  p.kp_source = to_view<const float, 3>(kp_source, "kp_source");
  p.kp_driving = to_view<const float, 3>(kp_driving, "kp_driving");
  p.output = reinterpret_cast<float*>(output);
  p.deformation = reinterpret_cast<float*>(deformation);
  py::gil_scoped_release release;
  cpu::dense_warp(p);
}

void relpos_attention(const PyView& q, const PyView& k, const PyView& v, const PyView& pos, const PyView& pos_bias_u,
                      const PyView& pos_bias_v, const std::optional<PyView>& key_mask, int64_t left, int64_t right,
                      float scale, uintptr_t output) {
  cpu::RelPosAttentionParams p{};
  p.q = to_view<const float, 4>(q, "q");
  p.k = to_view<const float, 4>(k, "k");
  p.v = to_view<const float, 4>(v, "v");
  p.pos = to_view<const float, 4>(pos, "pos");
  p.pos_bias_u = to_view<const float, 2>(pos_bias_u, "pos_bias_u");
  p.pos_bias_v = to_view<const float, 2>(pos_bias_v, "pos_bias_v");
  if (key_mask) p.key_mask = to_view<const uint8_t, 2>(*key_mask, "key_mask");
  p.left = left;
  p.right = right;
  p.scale = scale;
  p.output = reinterpret_cast<float*>(output);
  py::gil_scoped_release release;
  cpu::relpos_attention(p);
}

void raster_flow(uintptr_t positions, uintptr_t source, uintptr_t overlay, int64_t num_vertices, uintptr_t triangles,
                 int64_t num_triangles, int64_t height, int64_t width, uintptr_t flow, uintptr_t overlay_out,
                 uintptr_t image, int64_t src_height, int64_t src_width, int64_t channels, int64_t src_row_stride,
                 uintptr_t output) {
  cpu::FlowRasterParams p;
  p.positions = reinterpret_cast<const float*>(positions);
  p.source = reinterpret_cast<const float*>(source);
  p.overlay = reinterpret_cast<const float*>(overlay);
  p.triangles = reinterpret_cast<const int32_t*>(triangles);
  p.num_vertices = num_vertices;
  p.num_triangles = num_triangles;
  p.height = height;
  p.width = width;
  p.flow = reinterpret_cast<float*>(flow);
  p.overlay_out = reinterpret_cast<float*>(overlay_out);
  if (!p.positions || !p.source || !p.triangles || !p.flow)
    throw std::invalid_argument("raster_flow: positions, source, triangles and flow must not be null");
  if (p.overlay && !p.overlay_out) throw std::invalid_argument("raster_flow: overlay given without overlay_out");
  cpu::RemapParams sample;
  if (image) {
    if (!output || src_height < 1 || src_width < 1 || channels < 1 || channels > cpu::kRemapMaxChannels)
      throw std::invalid_argument("raster_flow: sampling needs an output and a non-empty image of 1..8 channels");
    sample.image = reinterpret_cast<const uint8_t*>(image);
    sample.src_height = src_height;
    sample.src_width = src_width;
    sample.channels = channels;
    sample.src_row_stride = src_row_stride;
    sample.output = reinterpret_cast<uint8_t*>(output);
    p.sample = &sample;
  }
  py::gil_scoped_release release;
  cpu::rasterize_flow(p);
}

void remap_image(uintptr_t image, int64_t src_height, int64_t src_width, int64_t channels, int64_t src_row_stride,
                 uintptr_t flow, uintptr_t overlay, int64_t height, int64_t width, uintptr_t output) {
  cpu::RemapParams p;
  p.image = reinterpret_cast<const uint8_t*>(image);
  p.src_height = src_height;
  p.src_width = src_width;
  p.channels = channels;
  p.src_row_stride = src_row_stride;
  p.flow = reinterpret_cast<const float*>(flow);
  p.overlay = reinterpret_cast<const float*>(overlay);
  p.height = height;
  p.width = width;
  p.output = reinterpret_cast<uint8_t*>(output);
  if (!p.image || !p.flow || !p.output)
    throw std::invalid_argument("remap_image: image, flow and output must not be null");
  if (src_height < 1 || src_width < 1 || channels < 1 || channels > cpu::kRemapMaxChannels)
    throw std::invalid_argument("remap_image: the source image must be non-empty with 1..8 channels");
  py::gil_scoped_release release;
  cpu::remap_image(p);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyavatar C++ CPU kernels (raw-pointer interface; use pyavatar.kernels)";
  m.def("build_info", &build_info, "Build configuration of this module.");
  m.def("get_num_threads", &pyavatar::get_num_threads);
  m.def("set_num_threads", &pyavatar::set_num_threads, py::arg("n"));
  m.def("active_isa", [] { return std::string(cpu::isa_name(cpu::active_isa())); });
  m.def("set_active_isa", &cpu::set_active_isa, py::arg("name"),
        "Force the CPU kernel build: 'auto', 'v2', 'v3' (x86-64) or 'base'.");
  // Kernel bindings: the op's args in pyavatar.kernels.spec order, then one pointer per output.
  m.def("grid_sample_3d", &grid_sample_3d, py::arg("input"), py::arg("grid"), py::arg("padding_mode"),
        py::arg("align_corners"), py::arg("output"));
  m.def("deform_features", &deform_features, py::arg("feature"), py::arg("kp_source"), py::arg("kp_driving"),
        py::arg("kp_variance"), py::arg("output"));
  m.def("dense_warp", &dense_warp, py::arg("feature"), py::arg("mask"), py::arg("kp_source"), py::arg("kp_driving"),
        py::arg("return_deformation"), py::arg("output"), py::arg("deformation"));
  m.def("relpos_attention", &relpos_attention, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("pos"),
        py::arg("pos_bias_u"), py::arg("pos_bias_v"), py::arg("key_mask"), py::arg("left"), py::arg("right"),
        py::arg("scale"), py::arg("output"));
  m.def("raster_flow", &raster_flow, py::arg("positions"), py::arg("source"), py::arg("overlay"),
        py::arg("num_vertices"), py::arg("triangles"), py::arg("num_triangles"), py::arg("height"), py::arg("width"),
        py::arg("flow"), py::arg("overlay_out"), py::arg("image") = 0, py::arg("src_height") = 0,
        py::arg("src_width") = 0, py::arg("channels") = 0, py::arg("src_row_stride") = 0, py::arg("output") = 0);
  m.def("remap_image", &remap_image, py::arg("image"), py::arg("src_height"), py::arg("src_width"), py::arg("channels"),
        py::arg("src_row_stride"), py::arg("flow"), py::arg("overlay"), py::arg("height"), py::arg("width"),
        py::arg("output"));
  {  // OSC/VMC frame encoder (csrc/osc), bound in bindings/core_osc.cpp
    void register_osc_bindings(py::module_ & m);
    register_osc_bindings(m);
  }
}
