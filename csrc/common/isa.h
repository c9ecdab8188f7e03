// SPDX-License-Identifier: Apache-2.0
// Run-time selection between the per-ISA builds of the CPU kernels.
//
// On x86-64 every kernel translation unit is compiled twice, with
// PYAVATAR_ISA=v2 (x86-64-v2 baseline) and PYAVATAR_ISA=v3 (AVX2 + FMA);
// elsewhere once with PYAVATAR_ISA=base. Kernel code lives in
// namespace pyavatar::cpu::PYAVATAR_ISA; headers declare it for every ISA and
// provide a dispatching inline wrapper via PYAVATAR_ISA_DISPATCH.
#pragma once

#include <string>
#include <vector>

namespace pyavatar {
namespace cpu {

enum class Isa { base = 0, v2 = 2, v3 = 3 };

// The ISA the dispatchers currently use (best supported unless overridden).
Isa active_isa();
// Force an ISA ("v2", "v3", "base" or "auto"); throws std::invalid_argument when
// it is not compiled in or the CPU cannot run it.
void set_active_isa(const std::string& name);
// Names of the ISA builds compiled into this module.
std::vector<std::string> compiled_isas();
// Whether this CPU can run the v3 build (AVX2 + FMA + BMI2 + F16C + LZCNT + MOVBE).
bool cpu_supports_v3();
const char* isa_name(Isa isa);

}  // namespace cpu
}  // namespace pyavatar

#if defined(PYAVATAR_MULTI_ISA)
#define PYAVATAR_ISA_DISPATCH(fn, ...)                                                                          \
  do {                                                                                                          \
    if (::pyavatar::cpu::active_isa() == ::pyavatar::cpu::Isa::v3) return ::pyavatar::cpu::v3::fn(__VA_ARGS__); \
    return ::pyavatar::cpu::v2::fn(__VA_ARGS__);                                                                \
  } while (0)
#else
#define PYAVATAR_ISA_DISPATCH(fn, ...)             \
  do {                                             \
    return ::pyavatar::cpu::base::fn(__VA_ARGS__); \
  } while (0)
#endif

// Declares `decl` inside every ISA namespace (used by kernel headers).
#define PYAVATAR_DECLARE_ISA_VARIANTS(decl) \
  namespace v2 { decl; }                    \
  namespace v3 { decl; }                    \
  namespace base { decl; }
