// SPDX-License-Identifier: Apache-2.0
// pybind11 shim of pyavatar._cuda: raw device pointers in, no libtorch, static
// CUDA runtime. Validation happens in pyavatar/kernels (Python); this layer
// converts arguments, selects the device, launches on the caller's stream and
// turns CUDA errors into exceptions. Importing never touches the driver:
// device_count()/available() report a missing driver instead of failing.
#include <cuda_runtime_api.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

#include "bindings/view.h"
#include "common/cuda_launchers.h"

namespace py = pybind11;
using pyavatar::StridedView;
using pyavatar::bind::PyView;
using pyavatar::bind::to_view;

#ifndef PYAVATAR_VERSION
#define PYAVATAR_VERSION "unknown"
#endif
#ifndef PYAVATAR_CUDA_ARCHS
#define PYAVATAR_CUDA_ARCHS "unknown"
#endif

namespace cuda = pyavatar::cuda;

namespace {

std::string error_text(cudaError_t err) { return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err); }

std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// CUDA version the installed driver supports, 0 when there is no driver.
int driver_version() {
  int version = 0;
  if (cudaDriverGetVersion(&version) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return version;
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

// (True, "") when at least one CUDA device is usable, else (False, why not).
std::tuple<bool, std::string> available() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    const int driver = driver_version();
    if (driver == 0) return {false, "no NVIDIA driver found (" + error_text(err) + ")"};
    if (driver < CUDART_VERSION)
      return {false, "the NVIDIA driver supports CUDA " + version_text(driver) +
                         " but this module was built with CUDA " + version_text(CUDART_VERSION) +
                         ": update the driver or rebuild with an older toolkit (" + error_text(err) + ")"};
    return {false, "cudaGetDeviceCount failed (" + error_text(err) + ")"};
  }
  if (n == 0) return {false, "no CUDA device found"};
  return {true, ""};
}

// "" when the kernels of this module can run on device `index`, else why not
// (e.g. no kernel image for its architecture). Creates the device's primary
// context when nothing else has.
std::string probe_device(int index) {
  cudaError_t err = cudaSetDevice(index);
  if (err == cudaSuccess) err = cuda::grid_sample_3d_probe();
  if (err == cudaSuccess) err = cuda::deform_features_probe();
  if (err == cudaSuccess) err = cuda::dense_warp_probe();
  if (err == cudaSuccess) err = cuda::relpos_attention_probe();
  if (err == cudaSuccess) return "";
  (void)cudaGetLastError();
  cudaDeviceProp prop;
  std::string what = "device " + std::to_string(index);
  if (cudaGetDeviceProperties(&prop, index) == cudaSuccess)
    what += " (" + std::string(prop.name) + ", compute capability " + std::to_string(prop.major) + "." +
            std::to_string(prop.minor) + ")";
  (void)cudaGetLastError();
  return what + " cannot run the kernels built for architectures " PYAVATAR_CUDA_ARCHS ": " + error_text(err);
}

py::dict build_info() {
  py::dict d;
  d["version"] = PYAVATAR_VERSION;
  d["cuda_version"] = version_text(CUDART_VERSION);
  d["architectures"] = PYAVATAR_CUDA_ARCHS;
  d["cudart"] = "static";
  const int driver = driver_version();
  d["driver_version"] = driver > 0 ? version_text(driver) : std::string("none");
  return d;
}

// Makes `device` current for this thread's (static) runtime, then runs `launch`
// with the GIL released and raises on a CUDA error.
template <typename Launch>
void run(const char* op, int device, Launch&& launch) {
  cudaError_t err;
  {
    py::gil_scoped_release release;
    err = cudaSetDevice(device);
    if (err == cudaSuccess) {
      (void)cudaGetLastError();
      err = launch();
    }
  }
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw std::runtime_error(std::string(op) + ": CUDA launch failed on device " + std::to_string(device) + " (" +
                             error_text(err) + ")");
  }
}

cudaStream_t as_stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

void grid_sample_3d(int dtype, const PyView& input, const PyView& grid, const std::string& padding_mode,
                    bool align_corners, uintptr_t output, int device, uintptr_t stream) {
  const auto in = to_view<const void, 5>(input, "input");
  const auto g = to_view<const void, 5>(grid, "grid");
  const int padding = pyavatar::bind::padding_code(padding_mode);
  run("grid_sample_3d", device, [&] {
    return cuda::grid_sample_3d(dtype, in, g, padding, align_corners, reinterpret_cast<void*>(output),
                                as_stream(stream));
  });
}

void deform_features(int dtype, const PyView& feature, const PyView& kp_source, const PyView& kp_driving,
                     float kp_variance, uintptr_t output, int device, uintptr_t stream) {
  const auto f = to_view<const void, 5>(feature, "feature");
  const auto ks = to_view<const void, 3>(kp_source, "kp_source");
  const auto kd = to_view<const void, 3>(kp_driving, "kp_driving");
  run("deform_features", device, [&] {
    return cuda::deform_features(dtype, f, ks, kd, kp_variance, reinterpret_cast<void*>(output), as_stream(stream));
  });
}

void dense_warp(int dtype, const PyView& feature, const PyView& mask, const PyView& kp_source, const PyView& kp_driving,
                bool return_deformation, uintptr_t output, uintptr_t deformation, int device, uintptr_t stream) {
  pyavatar::bind::check_optional_output("deformation", return_deformation, deformation);
  const auto f = to_view<const void, 5>(feature, "feature");
  const auto m = to_view<const void, 5>(mask, "mask");
  const auto ks = to_view<const void, 3>(kp_source, "kp_source");
  const auto kd = to_view<const void, 3>(kp_driving, "kp_driving");
  run("dense_warp", device, [&] {
    return cuda::dense_warp(dtype, f, m, ks, kd, reinterpret_cast<void*>(output), reinterpret_cast<void*>(deformation),
                            as_stream(stream));
  });
}

void relpos_attention(int dtype, const PyView& q, const PyView& k, const PyView& v, const PyView& pos,
                      const PyView& pos_bias_u, const PyView& pos_bias_v, const std::optional<PyView>& key_mask,
                      int64_t left, int64_t right, float scale, uintptr_t output, int device, uintptr_t stream) {
  const auto vq = to_view<const void, 4>(q, "q");
  const auto vk = to_view<const void, 4>(k, "k");
  const auto vv = to_view<const void, 4>(v, "v");
  const auto vpos = to_view<const void, 4>(pos, "pos");
  const auto vu = to_view<const void, 2>(pos_bias_u, "pos_bias_u");
  const auto vb = to_view<const void, 2>(pos_bias_v, "pos_bias_v");
  StridedView<const uint8_t, 2> mask;
  if (key_mask) mask = to_view<const uint8_t, 2>(*key_mask, "key_mask");
  run("relpos_attention", device, [&] {
    return cuda::relpos_attention(dtype, vq, vk, vv, vpos, vu, vb, mask, left, right, scale,
                                  reinterpret_cast<void*>(output), as_stream(stream));
  });
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pyavatar CUDA kernels (raw-pointer interface, static cudart; use pyavatar.kernels)";
  m.def("build_info", &build_info, "Build configuration: CUDA version, architectures, driver version.");
  m.def("device_count", &device_count, "Number of CUDA devices (0 when there is no usable driver).");
  m.def("available", &available, "(True, '') when a CUDA device is usable, else (False, reason).");
  m.def("probe_device", &probe_device, py::arg("index"),
        "'' when the kernels can run on device `index`, else the reason.");
  // Kernel bindings: dtype code, the op's args in pyavatar.kernels.spec order, one pointer per output, device, stream.
  m.def("grid_sample_3d", &grid_sample_3d, py::arg("dtype"), py::arg("input"), py::arg("grid"), py::arg("padding_mode"),
        py::arg("align_corners"), py::arg("output"), py::arg("device"), py::arg("stream"));
  m.def("deform_features", &deform_features, py::arg("dtype"), py::arg("feature"), py::arg("kp_source"),
        py::arg("kp_driving"), py::arg("kp_variance"), py::arg("output"), py::arg("device"), py::arg("stream"));
  m.def("dense_warp", &dense_warp, py::arg("dtype"), py::arg("feature"), py::arg("mask"), py::arg("kp_source"),
        py::arg("kp_driving"), py::arg("return_deformation"), py::arg("output"), py::arg("deformation"),
        py::arg("device"), py::arg("stream"));
  m.def("relpos_attention", &relpos_attention, py::arg("dtype"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("pos"), py::arg("pos_bias_u"), py::arg("pos_bias_v"), py::arg("key_mask"), py::arg("left"),
        py::arg("right"), py::arg("scale"), py::arg("output"), py::arg("device"), py::arg("stream"));
}
