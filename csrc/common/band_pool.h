// SPDX-License-Identifier: Apache-2.0
// Row-band parallelism that tolerates a busy machine.
//
// The calling thread works through the bands itself and helper threads (a small
// persistent pool) join in as soon as the OS runs them. The caller only waits
// for bands a helper has already claimed, never for a helper that has not
// started, so a loaded machine cannot make two threads slower than one (a
// fork-join region would wait for every thread).
//
// The pool lives in band_pool.cpp, compiled once: per-ISA kernel objects only
// see this header (no out-of-line library code, see tests/kernels/test_isa_isolation.py).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "common/parallel.h"

namespace pyavatar {

// One parallel job: bands of rows handed out by an atomic counter.
struct BandJob {
  void (*call)(const void* ctx, int64_t r0, int64_t r1) = nullptr;
  const void* ctx = nullptr;
  int64_t rows = 0, band = 1, bands = 0;
  int helpers = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<int> tickets{0};
};

// Runs the job's bands on the calling thread plus up to job.helpers pool threads;
// returns when every band is done.
void run_bands(BandJob& job);

// Runs fn(r0, r1) on bands of `band` rows of [0, rows) with get_num_threads() threads.
template <typename F>
inline void for_bands(int64_t rows, int64_t band, const F& fn) {
  BandJob job;
  job.call = [](const void* ctx, int64_t r0, int64_t r1) { (*static_cast<const F*>(ctx))(r0, r1); };
  job.ctx = &fn;
  job.rows = rows;
  job.band = band;
  job.bands = (rows + band - 1) / band;
  job.helpers = static_cast<int>(std::min<int64_t>(get_num_threads(), job.bands)) - 1;
  run_bands(job);
}

}  // namespace pyavatar
