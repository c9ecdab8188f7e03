// SPDX-License-Identifier: Apache-2.0
#include "common/isa.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#endif

namespace pyavatar {
namespace cpu {
namespace {

#if defined(PYAVATAR_MULTI_ISA)
bool detect_v3() {
#if defined(_MSC_VER)
  int r[4];
  __cpuid(r, 0);
  if (r[0] < 7) return false;
  __cpuid(r, 1);
  const bool fma = (r[2] >> 12) & 1, movbe = (r[2] >> 22) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1,
             f16c = (r[2] >> 29) & 1;
  if (!(fma && movbe && osxsave && avx && f16c)) return false;
  if ((_xgetbv(0) & 0x6) != 0x6) return false;  // OS saves YMM state
  __cpuidex(r, 7, 0);
  const bool avx2 = (r[1] >> 5) & 1, bmi1 = (r[1] >> 3) & 1, bmi2 = (r[1] >> 8) & 1;
  __cpuid(r, 0x80000001);
  const bool lzcnt = (r[2] >> 5) & 1;
  return avx2 && bmi1 && bmi2 && lzcnt;
#else
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("movbe");
#endif
}
#endif

Isa best_isa() {
#if defined(PYAVATAR_MULTI_ISA)
  return detect_v3() ? Isa::v3 : Isa::v2;
#else
  return Isa::base;
#endif
}

Isa initial_isa() {
  const char* env = std::getenv("PYAVATAR_CPU_ISA");
  if (env != nullptr && std::string(env) != "" && std::string(env) != "auto") {
    const std::string name(env);
#if defined(PYAVATAR_MULTI_ISA)
    if (name == "v2") return Isa::v2;
    if (name == "v3" && detect_v3()) return Isa::v3;
#else
    if (name == "base") return Isa::base;
#endif
  }
  return best_isa();
}

std::atomic<int>& isa_state() {
  static std::atomic<int> state{static_cast<int>(initial_isa())};
  return state;
}

}  // namespace

bool cpu_supports_v3() {
#if defined(PYAVATAR_MULTI_ISA)
  return detect_v3();
#else
  return false;
#endif
}

Isa active_isa() { return static_cast<Isa>(isa_state().load(std::memory_order_relaxed)); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::v2:
      return "v2";
    case Isa::v3:
      return "v3";
    default:
      return "base";
  }
}

std::vector<std::string> compiled_isas() {
#if defined(PYAVATAR_MULTI_ISA)
  return {"v2", "v3"};
#else
  return {"base"};
#endif
}

void set_active_isa(const std::string& name) {
  Isa isa;
  if (name == "auto") {
    isa = best_isa();
  } else if (name == "v2" || name == "v3" || name == "base") {
    isa = name == "v2" ? Isa::v2 : name == "v3" ? Isa::v3 : Isa::base;
    bool compiled = false;
    for (const auto& c : compiled_isas()) compiled = compiled || c == name;
    if (!compiled) throw std::invalid_argument("CPU ISA '" + name + "' is not compiled into pyavatar._core");
    if (isa == Isa::v3 && !cpu_supports_v3())
      throw std::invalid_argument("this CPU cannot run the 'v3' (AVX2/FMA) kernels");
  } else {
    throw std::invalid_argument("unknown CPU ISA '" + name + "' (expected auto, v2, v3 or base)");
  }
  isa_state().store(static_cast<int>(isa));
}

}  // namespace cpu
}  // namespace pyavatar
