// SPDX-License-Identifier: Apache-2.0
// Dynamic work distribution for the warp kernels, on top of parallel_for.
//
// One parallel region per call, items handed out from an atomic counter: a
// thread that starts late (busy machine) or works on cheap items does not hold
// the others back, and a preparation phase (e.g. a layout copy) needs no second
// region.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#include "common/parallel.h"

namespace pyavatar {
namespace cpu {
namespace PYAVATAR_ISA {

// Calls prepare(b, e) on chunks of [0, n_prepare) (at most prepare_grain long),
// then work(b, e) on chunks of [0, n_work) (at most work_grain long), on up to
// get_num_threads() threads. No work chunk starts before every prepare chunk
// has finished. Chunks are claimed in order, so a thread only ever waits for
// prepare chunks that another running thread has already claimed.
template <typename Prepare, typename Work>
inline void two_phase_for(int64_t n_prepare, int64_t prepare_grain, int64_t n_work, int64_t work_grain,
                          const Prepare& prepare, const Work& work) {
  prepare_grain = std::max<int64_t>(prepare_grain, 1);
  work_grain = std::max<int64_t>(work_grain, 1);
  const int64_t prepare_chunks = (std::max<int64_t>(n_prepare, 0) + prepare_grain - 1) / prepare_grain;
  const int64_t work_chunks = (std::max<int64_t>(n_work, 0) + work_grain - 1) / work_grain;
  const int64_t total = prepare_chunks + work_chunks;
  if (total == 0) return;
  std::atomic<int64_t> next{0}, prepared{0};
  const int64_t threads = std::min<int64_t>(get_num_threads(), total);
  parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t item = next.fetch_add(1, std::memory_order_relaxed);
      if (item >= total) return;
      if (item < prepare_chunks) {
        const int64_t b = item * prepare_grain;
        prepare(b, std::min(n_prepare, b + prepare_grain));
        prepared.fetch_add(1, std::memory_order_release);
        continue;
      }
      while (prepared.load(std::memory_order_acquire) < prepare_chunks) std::this_thread::yield();
      const int64_t b = (item - prepare_chunks) * work_grain;
      work(b, std::min(n_work, b + work_grain));
    }
  });
}

// Calls work(b, e) on chunks of [0, n) at most `grain` long, handed out dynamically.
template <typename Work>
inline void dynamic_for(int64_t n, int64_t grain, const Work& work) {
  two_phase_for(0, 1, n, grain, [](int64_t, int64_t) {}, work);
}

}  // namespace PYAVATAR_ISA
}  // namespace cpu
}  // namespace pyavatar
