// SPDX-License-Identifier: Apache-2.0
// pybind11 shim of the OSC/VMC encoder (csrc/osc) for pyavatar.outputs.
// Registered into pyavatar._core by register_osc_bindings(), called from
// bindings/core.cpp.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "osc/osc.h"

namespace py = pybind11;
namespace osc = pyavatar::osc;

namespace {

py::bytes to_bytes(const osc::Bytes& b) { return py::bytes(reinterpret_cast<const char*>(b.data()), b.size()); }

py::list to_list(const std::vector<osc::Bytes>& dgrams) {
  py::list out;
  for (const auto& d : dgrams) out.append(to_bytes(d));
  return out;
}

// A float32 C-contiguous buffer of exactly `n` elements.
const float* float_buffer(const py::buffer& b, py::buffer_info& info, size_t n, const char* name) {
  info = b.request();
  if (info.format != py::format_descriptor<float>::format() || info.itemsize != 4)
    throw std::invalid_argument(std::string(name) + ": expected float32, got format '" + info.format + "'");
  size_t count = 1;
  py::ssize_t expect = 4;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    if (info.shape[d] != 1 && info.strides[d] != expect)
      throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array");
    expect *= info.shape[d];
    count *= static_cast<size_t>(info.shape[d]);
  }
  if (count != n)
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(n) + " values, got " +
                                std::to_string(count));
  return static_cast<const float*>(info.ptr);
}

osc::Arg to_arg(const py::handle& h) {
  osc::Arg a;
  if (py::isinstance<py::bool_>(h)) {
    a.type = h.cast<bool>() ? 'T' : 'F';
  } else if (py::isinstance<py::int_>(h)) {
    a.type = 'i';
    a.i = h.cast<int32_t>();
  } else if (py::isinstance<py::float_>(h)) {
    a.type = 'f';
    a.f = h.cast<float>();
  } else if (py::isinstance<py::str>(h)) {
    a.type = 's';
    a.s = h.cast<std::string>();
  } else {
    throw py::type_error("OSC argument must be bool, int, float or str, got " +
                         std::string(py::str(h.get_type().attr("__name__"))));
  }
  return a;
}

}  // namespace

void register_osc_bindings(py::module_& m) {
  m.def(
      "osc_message",
      [](const std::string& address, const py::sequence& args) {
        std::vector<osc::Arg> v;
        v.reserve(args.size());
        for (const auto& h : args) v.push_back(to_arg(h));
        return to_bytes(osc::message(address, v));
      },
      py::arg("address"), py::arg("args"),
      "One OSC message; Python float -> 'f', int -> 'i', str -> 's', bool -> 'T'/'F'.");
  m.def(
      "osc_pack",
      [](const std::vector<std::string>& messages, size_t max_bytes, bool bundle) {
        std::vector<osc::Bytes> in;
        in.reserve(messages.size());
        for (const auto& s : messages) in.emplace_back(s.begin(), s.end());
        return to_list(osc::pack(in, max_bytes, bundle));
      },
      py::arg("messages"), py::arg("max_bytes") = 1500, py::arg("bundle") = true,
      "Encoded messages -> datagrams (bundles of at most max_bytes, or one per message).");
  py::class_<osc::VmcEncoder>(m, "VmcEncoder", "Serializes whole VMC frames (see csrc/osc/osc.h).")
      .def(py::init([](std::vector<std::string> bones, std::vector<std::string> blends, bool root, bool ok_extended,
                       size_t max_bytes, bool bundle) {
             osc::VmcLayout l;
             l.bones = std::move(bones);
             l.blends = std::move(blends);
             l.root = root;
             l.ok_extended = ok_extended;
             l.max_bytes = max_bytes;
             l.bundle = bundle;
             return osc::VmcEncoder(std::move(l));
           }),
           py::arg("bones"), py::arg("blends"), py::arg("root") = true, py::arg("ok_extended") = true,
           py::arg("max_bytes") = 1500, py::arg("bundle") = true)
      .def(
          "encode",
          [](const osc::VmcEncoder& e, float time, const py::buffer& root, const py::buffer& bones,
             const py::buffer& blends) {
            py::buffer_info ri, bi, li;
            const float* r = float_buffer(root, ri, 7, "root");
            const float* b = float_buffer(bones, bi, 7 * e.layout().bones.size(), "bones");
            const float* l = float_buffer(blends, li, e.layout().blends.size(), "blends");
            std::vector<osc::Bytes> out;
            {
              py::gil_scoped_release release;
              out = e.encode(time, r, b, l);
            }
            return to_list(out);
          },
          py::arg("time"), py::arg("root"), py::arg("bones"), py::arg("blends"),
          "Datagrams of one frame: root (7,), bones (n_bones, 7), blends (n_blends,) float32.")
      .def_property_readonly("bones", [](const osc::VmcEncoder& e) { return e.layout().bones; })
      .def_property_readonly("blends", [](const osc::VmcEncoder& e) { return e.layout().blends; });
}
