// SPDX-License-Identifier: Apache-2.0
// Minimal parallel-for used by the CPU kernels: OpenMP when available,
// otherwise std::thread chunks (so builds without OpenMP, e.g. Apple clang,
// still use every core they are given).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

#if defined(PYAVATAR_OPENMP)
#include <omp.h>
#endif

namespace pyavatar {

int get_num_threads();
void set_num_threads(int n);

// Calls fn(begin, end) on disjoint sub-ranges of [begin, end), each at least
// `grain` long (except possibly the last), using up to get_num_threads() threads.
template <typename F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), max_chunks));
  if (threads <= 1) {
    fn(begin, end);
    return;
  }
  const int64_t chunk = (n + threads - 1) / threads;
#if defined(PYAVATAR_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    const int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
    if (b < e) fn(b, e);
  }
#else
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) {
    const int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
    if (b < e) pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(begin, std::min(end, begin + chunk));
  for (auto& th : pool) th.join();
#endif
}

// parallel_for whose chunks may throw (e.g. std::bad_alloc): no exception may escape a
// parallel region, so the first one is kept and rethrown after every chunk has finished.
// (An atomic flag rather than a mutex: per-ISA kernel objects must not instantiate
// out-of-line library code, see tests/kernels/test_isa_isolation.py.)
template <typename F>
inline void parallel_for_rethrow(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  parallel_for(begin, end, grain, [&](int64_t b, int64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

}  // namespace pyavatar
