// SPDX-License-Identifier: Apache-2.0
#include "common/band_pool.h"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace pyavatar {
namespace {

void work(BandJob& job) {
  for (int64_t b = job.next.fetch_add(1); b < job.bands; b = job.next.fetch_add(1)) {
    job.call(job.ctx, b * job.band, std::min(job.rows, (b + 1) * job.band));
    job.done.fetch_add(1, std::memory_order_release);
  }
}

class BandPool {
 public:
  // Never destroyed: helpers simply end with the process (joining them from a static destructor, or in
  // a forked child that has none of them, would be unsafe).
  static BandPool& instance() {
    static BandPool* pool = new BandPool;
    return *pool;
  }

  void run(BandJob& job) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || job.helpers < 1) {  // another job in flight (another Python thread): run alone
      work(job);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (; helpers_ < job.helpers; ++helpers_) std::thread([this] { loop(); }).detach();
      job_ = &job;
      ++generation_;
    }
    work_cv_.notify_all();
    work(job);
    while (job.done.load(std::memory_order_acquire) < job.bands) std::this_thread::yield();
    std::unique_lock<std::mutex> lk(mu_);
    job_ = nullptr;  // helpers that wake up from now on find nothing to do
    idle_cv_.wait(lk, [this] { return active_ == 0; });
  }

 private:
  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      work_cv_.wait(lk, [&] { return job_ != nullptr && generation_ != seen; });
      seen = generation_;
      BandJob* job = job_;
      if (job->tickets.fetch_add(1) >= job->helpers) continue;  // more pool threads than this job wants
      ++active_;
      lk.unlock();
      work(*job);
      lk.lock();
      if (--active_ == 0) idle_cv_.notify_all();
    }
  }

  std::mutex run_mu_, mu_;
  std::condition_variable work_cv_, idle_cv_;
  BandJob* job_ = nullptr;
  uint64_t generation_ = 0;
  int helpers_ = 0;
  int active_ = 0;
};

}  // namespace

void run_bands(BandJob& job) { BandPool::instance().run(job); }

}  // namespace pyavatar
