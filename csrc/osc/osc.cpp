// SPDX-License-Identifier: Apache-2.0
#include "osc/osc.h"

#include <cstring>
#include <stdexcept>
#include <utility>

namespace pyavatar {
namespace osc {

namespace {

void put_be32(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

uint32_t float_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

void check_address(const std::string& address) {
  if (address.empty() || address[0] != '/')
    throw std::invalid_argument("OSC address must start with '/', got '" + address + "'");
  if (address.find('\0') != std::string::npos) throw std::invalid_argument("OSC address contains a NUL byte");
}

// Address and type tags of a message whose arguments follow.
Bytes header(const std::string& address, const std::string& tags) {
  check_address(address);
  Bytes out;
  Writer w(out);
  w.str(address);
  w.str("," + tags);
  return out;
}

void append(Bytes& out, const Bytes& piece) { out.insert(out.end(), piece.begin(), piece.end()); }

const char kBundleTag[8] = {'#', 'b', 'u', 'n', 'd', 'l', 'e', '\0'};

}  // namespace

void Writer::str(const std::string& s) {
  if (s.find('\0') != std::string::npos) throw std::invalid_argument("OSC string contains a NUL byte");
  const size_t n = padded_size(s.size());
  out_.insert(out_.end(), s.begin(), s.end());
  out_.insert(out_.end(), n - s.size(), 0);
}

void Writer::f32(float v) { put_be32(out_, float_bits(v)); }

void Writer::i32(int32_t v) { put_be32(out_, static_cast<uint32_t>(v)); }

Bytes message(const std::string& address, const std::vector<Arg>& args) {
  std::string tags;
  for (const Arg& a : args) {
    if (a.type != 'f' && a.type != 'i' && a.type != 's' && a.type != 'T' && a.type != 'F')
      throw std::invalid_argument(std::string("unsupported OSC argument type '") + a.type + "'");
    tags.push_back(a.type);
  }
  Bytes out = header(address, tags);
  Writer w(out);
  for (const Arg& a : args) {
    if (a.type == 'f')
      w.f32(a.f);
    else if (a.type == 'i')
      w.i32(a.i);
    else if (a.type == 's')
      w.str(a.s);
  }
  return out;
}

std::vector<Bytes> pack(const std::vector<Bytes>& messages, size_t max_bytes, bool bundle) {
  std::vector<Bytes> out;
  if (!bundle) {
    out.assign(messages.begin(), messages.end());
    return out;
  }
  const size_t head = 16;  // "#bundle\0" + timetag
  Bytes cur;
  auto start = [&cur] {
    cur.clear();
    cur.insert(cur.end(), kBundleTag, kBundleTag + 8);
    put_be32(cur, 0);
    put_be32(cur, 1);  // timetag 1 = immediately
  };
  for (const Bytes& m : messages) {
    if (head + 4 + m.size() > max_bytes) {  // too large for any bundle: send it on its own
      if (cur.size() > head) out.push_back(std::move(cur));
      cur.clear();
      out.push_back(m);
      continue;
    }
    if (cur.empty()) start();
    if (cur.size() + 4 + m.size() > max_bytes) {
      out.push_back(std::move(cur));
      start();
    }
    put_be32(cur, static_cast<uint32_t>(m.size()));
    append(cur, m);
  }
  if (cur.size() > head) out.push_back(std::move(cur));
  return out;
}

VmcEncoder::VmcEncoder(VmcLayout layout) : layout_(std::move(layout)) {
  if (layout_.max_bytes < 64) throw std::invalid_argument("VMC max_bytes must be at least 64");
  {
    std::vector<Arg> ok(1);
    ok[0].type = 'i';
    ok[0].i = 1;
    if (layout_.ok_extended) {
      for (int32_t v : {3, 0, 1}) {
        Arg a;
        a.type = 'i';
        a.i = v;
        ok.push_back(a);
      }
    }
    ok_ = message("/VMC/Ext/OK", ok);
  }
  t_prefix_ = header("/VMC/Ext/T", "f");
  root_prefix_ = header("/VMC/Ext/Root/Pos", "sfffffff");
  Writer(root_prefix_).str("root");
  for (const std::string& b : layout_.bones) {
    if (b.empty()) throw std::invalid_argument("VMC bone name is empty");
    bone_prefix_.push_back(header("/VMC/Ext/Bone/Pos", "sfffffff"));
    Writer(bone_prefix_.back()).str(b);
  }
  for (const std::string& b : layout_.blends) {
    if (b.empty()) throw std::invalid_argument("VMC blendshape name is empty");
    blend_prefix_.push_back(header("/VMC/Ext/Blend/Val", "sf"));
    Writer(blend_prefix_.back()).str(b);
  }
  apply_ = header("/VMC/Ext/Blend/Apply", "");
}

std::vector<Bytes> VmcEncoder::encode(float time, const float* root, const float* bones, const float* blends) const {
  std::vector<Bytes> msgs;
  msgs.reserve(4 + bone_prefix_.size() + blend_prefix_.size());
  msgs.push_back(ok_);
  Bytes t = t_prefix_;
  Writer(t).f32(time);
  msgs.push_back(std::move(t));
  auto pose = [&msgs](const Bytes& prefix, const float* v) {
    Bytes m = prefix;
    m.reserve(prefix.size() + 28);
    Writer w(m);
    for (int k = 0; k < 7; ++k) w.f32(v[k]);
    msgs.push_back(std::move(m));
  };
  if (layout_.root) pose(root_prefix_, root);
  for (size_t j = 0; j < bone_prefix_.size(); ++j) pose(bone_prefix_[j], bones + 7 * j);
  for (size_t j = 0; j < blend_prefix_.size(); ++j) {
    Bytes m = blend_prefix_[j];
    Writer(m).f32(blends[j]);
    msgs.push_back(std::move(m));
  }
  msgs.push_back(apply_);
  return pack(msgs, layout_.max_bytes, layout_.bundle);
}

}  // namespace osc
}  // namespace pyavatar
