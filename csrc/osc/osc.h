// SPDX-License-Identifier: Apache-2.0
// OSC 1.0 serialization (messages, bundles) and a VMC-protocol frame encoder.
// Plain C++17, no Python. Numbers are big-endian; strings are NUL-terminated
// and zero-padded to a multiple of 4 bytes; bundles use the timetag
// "immediately" (1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pyavatar {
namespace osc {

using Bytes = std::vector<uint8_t>;

// One OSC argument: 'f' float32, 'i' int32, 's' string, 'T'/'F' booleans
// (no payload).
struct Arg {
  char type = 'f';
  float f = 0.0f;
  int32_t i = 0;
  std::string s;
};

// Appends OSC-encoded pieces to a byte buffer.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void str(const std::string& s);
  void f32(float v);
  void i32(int32_t v);

 private:
  Bytes& out_;
};

// Size of `s` as an OSC string (terminator and padding included).
inline size_t padded_size(size_t n) { return (n + 4) & ~static_cast<size_t>(3); }

// One message: address pattern (must start with '/') and arguments.
// Throws std::invalid_argument for a bad address or argument type.
Bytes message(const std::string& address, const std::vector<Arg>& args);

// Packs encoded messages into datagrams in order: bundles of at most
// `max_bytes` (a message larger than that travels alone, unbundled) or, with
// bundle = false, one datagram per message.
std::vector<Bytes> pack(const std::vector<Bytes>& messages, size_t max_bytes, bool bundle);

// Names and layout of one VMC frame.
struct VmcLayout {
  std::vector<std::string> bones;   // HumanBodyBones names sent as /VMC/Ext/Bone/Pos
  std::vector<std::string> blends;  // blendshape names sent as /VMC/Ext/Blend/Val
  bool root = true;                 // send /VMC/Ext/Root/Pos "root"
  bool ok_extended = true;          // /VMC/Ext/OK 1 3 0 1 (loaded, calibrated, normal, tracking ok) instead of 1
  size_t max_bytes = 1500;          // bundle size limit
  bool bundle = true;               // bundle messages (false: one datagram each)
};

// Encodes whole VMC frames: [OK, T, Root] -> bones -> blends -> Apply, with
// the constant parts (addresses, type tags, names) serialized once.
class VmcEncoder {
 public:
  explicit VmcEncoder(VmcLayout layout);

  // `root`: 7 floats (px py pz qx qy qz qw); `bones`: bones.size() x 7 floats
  // in the same layout; `blends`: blends.size() floats. Returns the datagrams.
  std::vector<Bytes> encode(float time, const float* root, const float* bones, const float* blends) const;

  const VmcLayout& layout() const { return layout_; }

 private:
  VmcLayout layout_;
  Bytes ok_;
  Bytes t_prefix_, root_prefix_, apply_;
  std::vector<Bytes> bone_prefix_, blend_prefix_;
};

}  // namespace osc
}  // namespace pyavatar
