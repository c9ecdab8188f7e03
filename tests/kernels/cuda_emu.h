// SPDX-License-Identifier: Apache-2.0
// Host emulation of the CUDA built-ins that pyavatar's NVRTC kernel headers
// (csrc/*/*.cuh) use, so that the kernel bodies can be compiled by a plain C++
// compiler and run on the CPU in tests (tests/kernels/test_cuda_sources.py).
//
// Every CUDA thread of a block is a fiber (POSIX ucontext): __syncthreads is a
// block-wide barrier, warp shuffles exchange through a per-warp slot array and
// a warp barrier, and __shared__ variables are function-local statics (blocks
// run one after another, so one copy per kernel is the block's copy). Only the
// built-ins the kernels use are provided: anything else fails to compile, which
// also keeps the headers honest about needing no CUDA header.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

inline dim3 blockIdx, blockDim, gridDim, threadIdx;

namespace emu {

// The threads of one block are fibers (ucontext) run in passes on the calling
// OS thread: a fiber runs until it waits at a barrier, then the next one runs.
// Passes alternate between ascending and descending thread order, so a read of
// shared memory that some other thread writes without a barrier in between
// sees stale data in one of them. A pass in which no barrier opens and no fiber
// finishes means the threads wait at different barriers: reported as a deadlock.
struct Fiber {
  ucontext_t context;
  dim3 index;
  int shuffle_buffer = 0;
  bool done = false;
};

constexpr std::size_t kStackBytes = 1 << 16;

// Fiber stacks of one launch, reused by each of its blocks.
struct Stacks {
  explicit Stacks(int n) {
    for (int t = 0; t < n; ++t) memory.emplace_back(new char[kStackBytes]);
  }
  std::vector<std::unique_ptr<char[]>> memory;
};

struct Barrier {
  int size = 0;
  int arrived = 0;
  unsigned long generation = 0;
};

// Shuffle exchange of one warp: double-buffered, so one barrier per shuffle
// suffices (a lane can only overwrite a buffer after the next barrier, which
// every lane reaches after reading it).
struct Warp {
  Barrier barrier;
  unsigned long long slot[2][32] = {};
};

struct Block {
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  Barrier barrier;
  std::vector<Warp> warps;
  int current = 0;
  unsigned long progress = 0;
  void (*body)(void*) = nullptr;
  void* closure = nullptr;
};

inline Block*& block() {
  static Block* b = nullptr;
  return b;
}

inline void yield() {
  Block& b = *block();
  swapcontext(&b.fibers[b.current].context, &b.scheduler);
}

inline void wait(Barrier& barrier) {
  Block& b = *block();
  if (++barrier.arrived == barrier.size) {
    barrier.arrived = 0;
    ++barrier.generation;
    ++b.progress;
    return;
  }
  const unsigned long generation = barrier.generation;
  while (barrier.generation == generation) yield();
}

inline void fiber_main() {
  Block& b = *block();
  b.body(b.closure);
  b.fibers[b.current].done = true;
  ++b.progress;
}

// Runs body(closure) once per thread of a block of shape `shape`.
inline void run_block(dim3 shape, Stacks& stacks, void (*body)(void*), void* closure) {
  const int n = static_cast<int>(shape.x * shape.y * shape.z);
  Block b;
  b.body = body;
  b.closure = closure;
  b.barrier.size = n;
  b.fibers.resize(n);
  for (int first = 0; first < n; first += 32) {
    b.warps.emplace_back();
    b.warps.back().barrier.size = n - first < 32 ? n - first : 32;
  }
  block() = &b;
  for (int t = 0; t < n; ++t) {
    Fiber& f = b.fibers[t];
    f.index = dim3{t % shape.x, (t / shape.x) % shape.y, t / (shape.x * shape.y)};
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stacks.memory[t].get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &b.scheduler;
    makecontext(&f.context, fiber_main, 0);
  }
  for (int live = n, pass = 0; live > 0; ++pass) {
    const unsigned long before = b.progress;
    live = 0;
    for (int i = 0; i < n; ++i) {
      const int t = pass % 2 == 0 ? i : n - 1 - i;
      if (b.fibers[t].done) continue;
      b.current = t;
      threadIdx = b.fibers[t].index;
      swapcontext(&b.scheduler, &b.fibers[t].context);
      live += b.fibers[t].done ? 0 : 1;
    }
    if (live > 0 && b.progress == before) {
      block() = nullptr;
      throw std::runtime_error("deadlock: the threads of a block wait at different barriers");
    }
  }
  block() = nullptr;
}

inline int lane() { return block()->current % 32; }

}  // namespace emu

inline void __syncthreads() { emu::wait(emu::block()->barrier); }

template <typename T>
T __shfl_sync(unsigned, T value, int src_lane) {
  static_assert(sizeof(T) <= sizeof(unsigned long long), "shuffle of a type wider than 8 bytes");
  emu::Block& b = *emu::block();
  emu::Fiber& self = b.fibers[b.current];
  emu::Warp& warp = b.warps[b.current / 32];
  unsigned long long* slot = warp.slot[self.shuffle_buffer];
  self.shuffle_buffer ^= 1;
  std::memcpy(&slot[emu::lane()], &value, sizeof(T));
  emu::wait(warp.barrier);
  T result;
  std::memcpy(&result, &slot[src_lane & 31], sizeof(T));
  return result;
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask) {
  return __shfl_sync(mask, value, emu::lane() ^ lane_mask);
}

inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

namespace emu {

template <typename... A>
struct Call {
  void (*fn)(A...);
  void* const* args;
  template <std::size_t... I>
  void invoke(std::index_sequence<I...>) const {
    fn(*static_cast<typename std::remove_cv<A>::type*>(args[I])...);
  }
  static void run(void* self) { static_cast<Call*>(self)->invoke(std::index_sequence_for<A...>{}); }
};

// Runs fn(args...) for every thread of every block of the launch, block after block.
template <typename... A>
void run_grid(void (*fn)(A...), dim3 grid, dim3 shape, void* const* args) {
  gridDim = grid;
  blockDim = shape;
  Call<A...> call{fn, args};
  Stacks stacks(static_cast<int>(shape.x * shape.y * shape.z));
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = dim3{bx, by, bz};
        run_block(shape, stacks, &Call<A...>::run, &call);
      }
}

// Kind of a kernel parameter as the Python side packs it: every kernel takes one params struct by value,
// "s<bytes>", so a packing of another size than the compiler's struct is refused before anything runs.
template <typename A>
std::string kind_of() {
  static_assert(std::is_class<A>::value && std::is_trivially_copyable<A>::value,
                "kernel parameters are params structs passed by value");
  return "s" + std::to_string(sizeof(A));
}

struct Kernel {
  std::string kinds;
  void (*launch)(void*, dim3, dim3, void* const*);
  void* fn;
};

template <typename... A>
Kernel describe(void (*fn)(A...)) {
  Kernel k;
  for (const std::string& kind : {kind_of<A>()...}) k.kinds += kind;
  k.fn = reinterpret_cast<void*>(fn);
  k.launch = [](void* f, dim3 grid, dim3 block, void* const* args) {
    run_grid(reinterpret_cast<void (*)(A...)>(f), grid, block, args);
  };
  return k;
}

std::map<std::string, Kernel>& registry();

}  // namespace emu

// Launches kernel `name`; returns 0, or -1 with a message in `error` when the
// name is unknown or the packed argument kinds differ from the kernel's.
extern "C" int emu_launch(const char* name, const unsigned* grid, const unsigned* block, void* const* args,
                          const char* kinds, char* error, int error_size) {
  auto& reg = emu::registry();
  auto it = reg.find(name);
  if (it == reg.end()) {
    std::snprintf(error, error_size, "unknown kernel %s", name);
    return -1;
  }
  if (it->second.kinds != kinds) {
    std::snprintf(error, error_size, "kernel %s takes argument kinds '%s', got '%s'", name, it->second.kinds.c_str(),
                  kinds);
    return -1;
  }
  try {
    it->second.launch(it->second.fn, dim3{grid[0], grid[1], grid[2]}, dim3{block[0], block[1], block[2]}, args);
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "kernel %s: %s", name, e.what());
    return -1;
  }
  return 0;
}
