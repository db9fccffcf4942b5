// A small CUDA emulation for running the kernel bodies of csrc/**/*.cu on
// the host (the `cuda_host` backend, mmmamba._C_cuda_host).
//
// The .cu files are compiled as C++ with MMMAMBA_CUDA_HOST defined; their
// compat header (csrc/cuda/cuda_compat.cuh) then includes this file instead
// of the CUDA headers, and MM_LAUNCH calls mm_host::launch instead of
// `<<<grid, block, smem, stream>>>`. The launchers, their grid/block
// arithmetic and the kernels are the code the GPU runs.
//
// What is emulated:
// - every thread of a block is a real host thread (std::thread), so
//   __syncthreads() is a real barrier and a missing one is a real data race
//   (ThreadSanitizer sees it, see csrc/cuda_host/tsan_driver.cpp);
// - threadIdx / blockIdx / blockDim / gridDim are per-thread values; the
//   blocks of a grid run one after another on the block's threads;
// - `__shared__` variables are function-local statics: since one block runs
//   at a time (and launches are serialised), a static is exactly the
//   block's shared memory; `extern __shared__` memory is MM_DYNAMIC_SHARED
//   (one buffer of the launch's dynamic size);
// - warps of 32 consecutive threads: __shfl_sync / _up / _down / _xor and
//   __syncwarp exchange through a per-warp slot array with a warp barrier
//   (all live lanes must take part, as with a full mask);
// - atomicAdd on float / double / int (a compare-and-swap loop);
// - __half / __nv_bfloat16 as 16-bit storage types with round-to-nearest-even
//   conversions, the CUDA math and min/max the kernels call;
// - launch validation like the CUDA runtime (block of 1..1024 threads, grid
//   limits, dynamic shared memory over 48 KiB only after
//   cudaFuncSetAttribute) returning the same cudaError codes.
// Threads that return from the kernel leave the block's barriers (later
// __syncthreads wait for the live threads only, as on the GPU).
#pragma once

#ifdef __CUDACC__
#error "cuda_emulation.h is for host compilers; nvcc uses the CUDA headers"
#endif

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

// ---- runtime types and error codes (the values of the CUDA runtime) -------
typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0;
constexpr cudaError_t cudaErrorInvalidValue = 1;
constexpr cudaError_t cudaErrorInvalidConfiguration = 9;
typedef struct CUstream_st* cudaStream_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1)
      : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};
struct int2 {
  int x, y;
};
inline int2 make_int2(int x, int y) { return int2{x, y}; }

using std::max;
using std::min;

namespace mm_host {

constexpr int kWarpSize = 32;
constexpr size_t kDefaultDynamicSmem = 48 * 1024;
constexpr size_t kMaxDynamicSmem = 227 * 1024;  // sm_90's opt-in limit

// A reusable barrier for a group whose members may leave (return from the
// kernel): a phase completes when every member still in the group arrived.
// The bookkeeping is under a mutex; waiters sleep on the phase word with a
// futex, so a release wakes them without a herd on the mutex.
class Barrier {
 public:
  void reset(int members) {
    std::lock_guard<std::mutex> lock(mutex_);
    members_ = members;
    arrived_ = 0;
  }
  // The last member to arrive runs `complete` before anyone is released.
  template <typename F>
  void arrive_and_wait(F&& complete) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint32_t phase = phase_.load(std::memory_order_relaxed);
    if (++arrived_ == members_) {
      complete();
      release(lock);
      return;
    }
    lock.unlock();
    while (phase_.load(std::memory_order_acquire) == phase)
      syscall(SYS_futex, &phase_, FUTEX_WAIT_PRIVATE, phase, nullptr, nullptr,
              0);
  }
  void arrive_and_wait() {
    arrive_and_wait([] {});
  }
  void leave() {
    std::unique_lock<std::mutex> lock(mutex_);
    --members_;
    if (arrived_ > 0 && arrived_ == members_) release(lock);
  }

 private:
  void release(std::unique_lock<std::mutex>& lock) {
    arrived_ = 0;
    phase_.fetch_add(1, std::memory_order_release);
    lock.unlock();
    syscall(SYS_futex, &phase_, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
            nullptr, 0);
  }
  std::mutex mutex_;
  std::atomic<uint32_t> phase_{0};
  int members_ = 0, arrived_ = 0;
};

struct Warp {
  Barrier barrier;
  uint64_t slots[kWarpSize];  // one shuffled value per lane
};

// What the threads of one launch share.
struct Launch {
  Barrier block_sync;  // __syncthreads
  Barrier block_done;  // every thread finished the block: the next may start
  std::vector<std::unique_ptr<Warp>> warps;
  std::vector<unsigned char> dynamic_smem;
  int threads = 0;
};

// The built-in variables of the calling (emulated) thread.
struct ThreadState {
  uint3 thread_idx{0, 0, 0}, block_idx{0, 0, 0};
  dim3 block_dim, grid_dim;
  Launch* launch = nullptr;
  int warp = 0, lane = 0;
};
inline thread_local ThreadState tls;

inline Warp& current_warp() { return *tls.launch->warps[tls.warp]; }
inline int warp_lanes(int warp, int threads) {
  return std::min(kWarpSize, threads - warp * kWarpSize);
}

// Dynamic shared memory opted in per kernel (cudaFuncSetAttribute).
inline std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
inline std::map<const void*, size_t>& smem_limits() {
  static std::map<const void*, size_t> limits;
  return limits;
}

// Launches run one at a time: shared statics belong to the running block.
inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block,
                   size_t smem, cudaStream_t /*stream*/, Args&&... args) {
  const uint64_t threads = (uint64_t)block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 ||
      grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535)
    return cudaErrorInvalidConfiguration;
  size_t smem_limit = kDefaultDynamicSmem;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = smem_limits().find(reinterpret_cast<const void*>(kernel));
    if (it != smem_limits().end()) smem_limit = it->second;
  }
  if (smem > smem_limit) return cudaErrorInvalidValue;

  // kernel parameters are copied, as the GPU receives them by value
  std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  std::lock_guard<std::mutex> serial(launch_mutex());
  Launch state;
  state.threads = (int)threads;
  state.dynamic_smem.assign(smem, 0);
  const int nwarps = (state.threads + kWarpSize - 1) / kWarpSize;
  for (int w = 0; w < nwarps; ++w) {
    state.warps.push_back(std::make_unique<Warp>());
    state.warps.back()->barrier.reset(warp_lanes(w, state.threads));
  }
  state.block_sync.reset(state.threads);
  state.block_done.reset(state.threads);
  const uint64_t blocks = (uint64_t)grid.x * grid.y * grid.z;

  auto body = [&](int tid) {
    tls.launch = &state;
    tls.block_dim = block;
    tls.grid_dim = grid;
    tls.thread_idx = uint3{tid % block.x, (tid / block.x) % block.y,
                           tid / (block.x * block.y)};
    tls.warp = tid / kWarpSize;
    tls.lane = tid % kWarpSize;
    for (uint64_t b = 0; b < blocks; ++b) {
      tls.block_idx = uint3{(unsigned)(b % grid.x),
                            (unsigned)((b / grid.x) % grid.y),
                            (unsigned)(b / ((uint64_t)grid.x * grid.y))};
      std::apply(kernel, params);
      // this thread is done with the block: later barriers skip it
      state.block_sync.leave();
      current_warp().barrier.leave();
      // once every thread left both barriers, the last one to arrive
      // restores their members before anyone starts the next block
      state.block_done.arrive_and_wait([&] {
        state.block_sync.reset(state.threads);
        for (int w = 0; w < nwarps; ++w)
          state.warps[w]->barrier.reset(warp_lanes(w, state.threads));
      });
    }
    tls = ThreadState{};
  };
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int tid = 0; tid < state.threads; ++tid) pool.emplace_back(body, tid);
  for (auto& t : pool) t.join();
  return cudaSuccess;
}

// Shuffle: every live lane of the warp deposits its value, then reads lane
// `src`'s (its own when src is out of the warp).
template <typename T>
T shuffle(T value, int src) {
  static_assert(sizeof(T) <= sizeof(uint64_t) &&
                    std::is_trivially_copyable<T>::value,
                "shuffled types are at most 8 bytes");
  Warp& w = current_warp();
  std::memcpy(&w.slots[tls.lane], &value, sizeof(T));
  w.barrier.arrive_and_wait();
  const int lanes = warp_lanes(tls.warp, tls.launch->threads);
  T out = value;
  if (src >= 0 && src < lanes) std::memcpy(&out, &w.slots[src], sizeof(T));
  w.barrier.arrive_and_wait();  // nobody overwrites a slot still being read
  return out;
}

}  // namespace mm_host

#define threadIdx (::mm_host::tls.thread_idx)
#define blockIdx (::mm_host::tls.block_idx)
#define blockDim (::mm_host::tls.block_dim)
#define gridDim (::mm_host::tls.grid_dim)
#define warpSize (::mm_host::kWarpSize)

inline void __syncthreads() { mm_host::tls.launch->block_sync.arrive_and_wait(); }
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) {
  mm_host::current_warp().barrier.arrive_and_wait();
}

// width: a power of two <= 32 splitting the warp into segments, as in CUDA.
template <typename T>
T __shfl_sync(unsigned, T value, int src, int width = 32) {
  const int lane = mm_host::tls.lane;
  return mm_host::shuffle(value, (lane & ~(width - 1)) + (src & (width - 1)));
}
template <typename T>
T __shfl_up_sync(unsigned, T value, unsigned delta, int width = 32) {
  const int lane = mm_host::tls.lane;
  const int src = (lane % width) >= (int)delta ? lane - (int)delta : lane;
  return mm_host::shuffle(value, src);
}
template <typename T>
T __shfl_down_sync(unsigned, T value, unsigned delta, int width = 32) {
  const int lane = mm_host::tls.lane;
  const int src = (lane % width) + (int)delta < width ? lane + (int)delta
                                                      : lane;
  return mm_host::shuffle(value, src);
}
template <typename T>
T __shfl_xor_sync(unsigned, T value, int mask, int width = 32) {
  const int lane = mm_host::tls.lane;
  const int src = lane ^ mask;
  return mm_host::shuffle(value, (src / width == lane / width) ? src : lane);
}

// Compare-and-swap on the value's bits (GCC atomics: ThreadSanitizer sees
// them as the synchronisation they are).
template <typename T>
T atomicAdd(T* address, T value) {
  static_assert(std::is_arithmetic<T>::value, "atomicAdd on numbers");
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  static_assert(sizeof(T) == sizeof(Bits), "4- or 8-byte atomicAdd");
  Bits* bits = reinterpret_cast<Bits*>(address);
  Bits expected = __atomic_load_n(bits, __ATOMIC_RELAXED);
  while (true) {
    T old;
    std::memcpy(&old, &expected, sizeof(T));
    const T sum = old + value;
    Bits desired;
    std::memcpy(&desired, &sum, sizeof(T));
    if (__atomic_compare_exchange_n(bits, &expected, desired, false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
      return old;
  }
}

template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel* kernel, cudaFuncAttribute attr,
                                 int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      (size_t)value > mm_host::kMaxDynamicSmem)
    return cudaErrorInvalidValue;
  std::lock_guard<std::mutex> lock(mm_host::registry_mutex());
  mm_host::smem_limits()[reinterpret_cast<const void*>(kernel)] =
      (size_t)value;
  return cudaSuccess;
}

// Launches report their errors synchronously: nothing is ever pending.
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaPeekAtLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "unrecognized error code";
  }
}

// ---- 16-bit floating-point storage types --------------------------------
namespace mm_host {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE binary16, round to nearest even (what __float2half does).
inline uint16_t float_to_half_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // inf or nan
    return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // overflow
  if (abs < 0x38800000u) {  // subnormal half (or zero)
    const float scaled = bits_float(abs) * 16777216.0f;  // * 2^24, exact
    return (uint16_t)(sign | (uint32_t)std::nearbyint(scaled));
  }
  const uint32_t mant = abs & 0x7fffffu;
  uint32_t h = ((abs >> 23) - 112) << 10 | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carries up
  return (uint16_t)(sign | h);
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = (float)mant * 5.9604644775390625e-08f;
    return bits_float(sign | float_bits(v));
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
  return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

// bfloat16: the top half of a float, round to nearest even.
inline uint16_t float_to_bf16_bits(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
inline float bf16_bits_to_float(uint16_t b) {
  return bits_float((uint32_t)b << 16);
}

}  // namespace mm_host

struct __half {
  uint16_t bits;
};
struct __nv_bfloat16 {
  uint16_t bits;
};
inline float __half2float(__half h) {
  return mm_host::half_bits_to_float(h.bits);
}
inline __half __float2half(float f) {
  return __half{mm_host::float_to_half_bits(f)};
}
inline float __bfloat162float(__nv_bfloat16 b) {
  return mm_host::bf16_bits_to_float(b.bits);
}
inline __nv_bfloat16 __float2bfloat16(float f) {
  return __nv_bfloat16{mm_host::float_to_bf16_bits(f)};
}
