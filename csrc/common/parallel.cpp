// SPDX-License-Identifier: Apache-2.0
#include "common/parallel.h"

#include <atomic>

namespace pyavatar {
namespace {
int default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}
std::atomic<int> g_threads{default_threads()};
}  // namespace

int get_num_threads() { return g_threads.load(std::memory_order_relaxed); }
void set_num_threads(int n) { g_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed); }

}  // namespace pyavatar
