// CUDA kernels of the selective scan that returns every state (A2SSM):
//
//   h_t = e_t·h_{t-1} + x_t,  e_t = exp(Δ_t·A_n),  x_t = Δ_t·B_{n,t}·u_t,
//   Δ = softplus(delta + bias) (threshold 20), h_0 = 0, every (b, d, n).
//
// Parallel over the sequence ("reduce, then scan"). L is cut into chunks of
// kChunk = kThreads × kItems steps; a block owns one (batch, channel) row and
// one chunk, and loops over the N states of the row. Each thread holds
// kItems consecutive steps. The map h -> e·h + x composes associatively
// (mm_scan_compose in common/math.h), so
//   1. scan_summary_kernel folds every chunk into one (decay, value) pair
//      (thread folds, then a block scan): the workspace, 2 values per
//      (row, state, chunk);
//   2. scan_states_kernel folds the pairs of the chunks before its own into
//      the carry h at the chunk's start (at most chunks-1 steps, done by each
//      thread from the small workspace), scans the chunk in the block with
//      that carry and writes every state once.
// Loads and stores go through shared memory (striped <-> blocked, padded
// against bank conflicts): a warp always reads / writes 32 consecutive
// elements. State and accumulation are in acc_t<T> (fp32; fp64 for fp64).
//
// The backward pass is the reverse scan with the same structure. The total
// gradient of h_t is g_t = dh_t + e_{t+1}·g_{t+1}, a scan from the right over
// (e_{t+1}, dh_t) pairs (scan_backward_summary_kernel, then
// scan_backward_kernel with the carry g entering from the next chunk).
// With ℓ_t = g_t·e_t·h_{t-1} (the gradient of the log-decay Δ_t·A_n):
//   dΔ_t = Σ_n ℓ_t·A_n + g_t·B_{n,t}·u_t   (then through the softplus)
//   du_t = Σ_n g_t·Δ_t·B_{n,t}
//   dA_n = Σ_{b,t} ℓ_t·Δ_t     per block in a fixed order -> dA_part
//   dB_{n,t} = Σ_d g_t·Δ_t·u_t  per (b, d, n, t) -> dB_part
// du and dΔ are owned by their thread. The partials are summed over the
// batch / chunks / channels by the caller (selective_scan/cuda_wrappers.cpp,
// torch sums), and Σ dΔ gives d bias: no atomics, so the result is
// deterministic.
//
// Launch shape (kThreads = 128, kItems = 8, kChunk = 1024), A2Mamba-T
// stage 1 (D = 48, N = 1):
// - 2×3×512×512 (L = 128·128 = 16,384, 16 chunks): grid 96 × 16 = 1,536
//   blocks, 196,608 threads, 8 sequential steps each (plus ≤ 15 carry folds
//   and log2(32) + 2 block-scan rounds); forward moves ≈ 31 MB in fp32
//   (u and delta, 6.3 MB each, read twice; B, 0.13 MB, from L2; h, 6.3 MB,
//   written once), ≈ 19 MB with fp16 / bf16 inputs;
// - 2×3×800×1344 (L = 200·336 = 67,200, 66 chunks): 6,336 blocks, 811,008
//   threads, 8 steps each (plus ≤ 65 carry folds); ≈ 129 MB in fp32.
// kItems = 8 keeps the kernels at 56-64 (forward) and ~145 (backward)
// registers per thread for fp32 on sm_90 (ptxas -v), so several blocks share
// an SM; 16 items pushed the backward to 255 registers with spills.
// Backward reads dh, h, u, delta, B (delta and h once more for the
// neighbouring steps at chunk edges) and writes du, dΔ, dB_part: ≈ 2.6× the
// forward's bytes.
//
// No torch headers: raw pointers, MMScanParams, launchers taking a stream.
#include "../common/math.h"
#include "../cuda/dtype.cuh"
#include "cuda_launchers.h"

namespace mmmamba {
namespace {

constexpr int kThreads = 128;
constexpr int kItems = 8;
constexpr int kChunk = kThreads * kItems;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

template <typename Acc>
using Pair = ScanPair<Acc>;

// Arguments of every scan kernel: the launcher's params and pointers.
template <typename T>
struct ScanArgs {
  int64_t batch, D, N, L;
  int chunks, softplus;
  const T *u, *delta, *B;
  const acc_t<T> *A, *bias;
};

// Shared-memory index of element e of a chunk: one pad word per 32 keeps
// both the striped and the blocked accesses of a warp on 32 distinct banks.
__device__ __forceinline__ int padded(int e) { return e + e / 32; }
constexpr int kPaddedChunk = kChunk + kChunk / 32;

// Chunk c's element i·kThreads + tid of `row` (length L), for i < kItems,
// loaded coalesced and handed back blocked: out[j] is element
// tid·kItems + j. Elements past L read as `fill`.
template <typename S, typename Acc>
__device__ __forceinline__ void load_blocked(const S* row, int64_t L, int c,
                                             Acc fill, Acc* smem,
                                             Acc (&out)[kItems]) {
  const int64_t start = (int64_t)c * kChunk;
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int e = i * kThreads + threadIdx.x;
    smem[padded(e)] = start + e < L ? (Acc)to_f(row[start + e]) : fill;
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kItems; ++j)
    out[j] = smem[padded(threadIdx.x * kItems + j)];
  __syncthreads();
}

// The inverse: blocked values in, coalesced stores of the valid ones.
template <typename Acc>
__device__ __forceinline__ void store_blocked(const Acc (&in)[kItems],
                                              Acc* smem, int64_t L, int c,
                                              Acc* row) {
#pragma unroll
  for (int j = 0; j < kItems; ++j)
    smem[padded(threadIdx.x * kItems + j)] = in[j];
  __syncthreads();
  const int64_t start = (int64_t)c * kChunk;
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int e = i * kThreads + threadIdx.x;
    if (start + e < L) row[start + e] = smem[padded(e)];
  }
  __syncthreads();
}

// Δ = softplus(delta + bias) (or delta + bias) of the thread's steps.
template <typename T>
__device__ __forceinline__ void load_dt(const ScanArgs<T>& a, int64_t row,
                                        int c, acc_t<T>* smem,
                                        acc_t<T> (&z)[kItems],
                                        acc_t<T> (&dt)[kItems]) {
  using Acc = acc_t<T>;
  const Acc bias = a.bias ? a.bias[row % a.D] : Acc(0);
  load_blocked(a.delta + row * a.L, a.L, c, Acc(0), smem, z);
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    z[j] += bias;
    dt[j] = a.softplus ? mm_softplus(z[j]) : z[j];
  }
}

// One scan value through a warp: shuffled up (forward) or down (reverse).
template <bool kReverse, typename V>
__device__ __forceinline__ V shift(V v, int offset) {
  return kReverse ? __shfl_down_sync(kFullMask, v, offset)
                  : __shfl_up_sync(kFullMask, v, offset);
}

// Exclusive scan of the threads' pairs across the block, in thread order
// (kReverse: from the last thread down). Returns the composition of the
// pairs of the threads before this one (identity for the first) and sets
// *total to the composition of all of them. smem: 2·kWarps values.
template <bool kReverse, typename Acc>
__device__ Pair<Acc> block_exclusive_scan(Pair<Acc> mine, Acc* smem,
                                          Pair<Acc>* total) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int rank = kReverse ? 31 - lane : lane;  // position in scan order
  Pair<Acc> incl = mine;
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const Pair<Acc> other{shift<kReverse>(incl.decay, offset),
                          shift<kReverse>(incl.value, offset)};
    if (rank >= offset) incl = mm_scan_compose(other, incl);
  }
  Pair<Acc> excl{shift<kReverse>(incl.decay, 1),
                 shift<kReverse>(incl.value, 1)};
  if (rank == 0) excl = Pair<Acc>{Acc(1), Acc(0)};
  if (rank == 31) {
    smem[2 * warp] = incl.decay;
    smem[2 * warp + 1] = incl.value;
  }
  __syncthreads();
  // the warps' totals, in scan order, before this warp
  Pair<Acc> before{Acc(1), Acc(0)}, all{Acc(1), Acc(0)};
  for (int r = 0; r < kWarps; ++r) {
    const int w = kReverse ? kWarps - 1 - r : r;
    const Pair<Acc> t{smem[2 * w], smem[2 * w + 1]};
    if (w == warp) before = all;
    all = mm_scan_compose(all, t);
  }
  __syncthreads();  // smem is reused by the caller
  *total = all;
  return mm_scan_compose(before, excl);
}

// Fold of the thread's items into one pair, in scan order.
template <bool kReverse, typename Acc>
__device__ __forceinline__ Pair<Acc> fold_items(const Acc (&decay)[kItems],
                                                const Acc (&value)[kItems]) {
  Pair<Acc> p{Acc(1), Acc(0)};
#pragma unroll
  for (int s = 0; s < kItems; ++s) {
    const int j = kReverse ? kItems - 1 - s : s;
    p = mm_scan_compose(p, Pair<Acc>{decay[j], value[j]});
  }
  return p;
}

// Workspace slot of (row, n, chunk): its (decay, value) pair.
__device__ __forceinline__ int64_t summary_slot(int64_t row, int64_t N,
                                                int64_t n, int chunks, int c) {
  return ((row * N + n) * chunks + c) * 2;
}

template <typename T>
__device__ __forceinline__ void write_summary(const ScanArgs<T>& a,
                                              int64_t row, int64_t n, int c,
                                              Pair<acc_t<T>> total,
                                              acc_t<T>* summary) {
  const int64_t s = summary_slot(row, a.N, n, a.chunks, c);
  summary[s] = total.decay;
  summary[s + 1] = total.value;
}

// The state entering chunk c, from the summaries of the chunks before it in
// scan order (kReverse: the chunks after it, last first).
template <bool kReverse, typename T>
__device__ __forceinline__ acc_t<T> chunk_carry(const ScanArgs<T>& a,
                                                const acc_t<T>* summary,
                                                int64_t row, int64_t n,
                                                int c) {
  acc_t<T> carry = 0;
  const int count = kReverse ? a.chunks - 1 - c : c;
  for (int r = 0; r < count; ++r) {
    const int k = kReverse ? a.chunks - 1 - r : r;
    const int64_t s = summary_slot(row, a.N, n, a.chunks, k);
    carry = summary[s] * carry + summary[s + 1];
  }
  return carry;
}

// Decays e_t and inputs x_t of the thread's steps for state n.
template <typename T>
__device__ __forceinline__ void forward_elements(
    const ScanArgs<T>& a, int64_t row, int64_t n, int c, acc_t<T>* smem,
    const acc_t<T> (&dt)[kItems], const acc_t<T> (&u)[kItems],
    acc_t<T> (&decay)[kItems], acc_t<T> (&x)[kItems]) {
  using Acc = acc_t<T>;
  const int64_t b = row / a.D;
  const Acc A = a.A[(row % a.D) * a.N + n];
  load_blocked(a.B + (b * a.N + n) * a.L, a.L, c, Acc(0), smem, x);
#pragma unroll
  for (int j = 0; j < kItems; ++j)
    x[j] = mm_scan_element(dt[j], A, x[j], u[j], &decay[j]);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    scan_summary_kernel(ScanArgs<T> a, acc_t<T>* summary) {
  using Acc = acc_t<T>;
  __shared__ Acc smem[kPaddedChunk];
  const int c = blockIdx.y;
  const int64_t row = blockIdx.x;  // b·D + d
  Acc z[kItems], dt[kItems], u[kItems], decay[kItems], x[kItems];
  load_dt(a, row, c, smem, z, dt);
  load_blocked(a.u + row * a.L, a.L, c, Acc(0), smem, u);
  for (int64_t n = 0; n < a.N; ++n) {
    forward_elements(a, row, n, c, smem, dt, u, decay, x);
    Pair<Acc> total;
    block_exclusive_scan<false>(fold_items<false>(decay, x), smem, &total);
    if (threadIdx.x == 0) write_summary(a, row, n, c, total, summary);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    scan_states_kernel(ScanArgs<T> a, const acc_t<T>* summary, acc_t<T>* h) {
  using Acc = acc_t<T>;
  __shared__ Acc smem[kPaddedChunk];
  const int c = blockIdx.y;
  const int64_t row = blockIdx.x;
  Acc z[kItems], dt[kItems], u[kItems], decay[kItems], x[kItems];
  load_dt(a, row, c, smem, z, dt);
  load_blocked(a.u + row * a.L, a.L, c, Acc(0), smem, u);
  for (int64_t n = 0; n < a.N; ++n) {
    forward_elements(a, row, n, c, smem, dt, u, decay, x);
    const Acc carry = chunk_carry<false>(a, summary, row, n, c);  // h before
    Pair<Acc> total;
    const Pair<Acc> before =
        block_exclusive_scan<false>(fold_items<false>(decay, x), smem, &total);
    Acc state = before.decay * carry + before.value;
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      state = decay[j] * state + x[j];
      x[j] = state;  // x now holds h
    }
    store_blocked(x, smem, a.L, c, h + (row * a.N + n) * a.L);
  }
}

// The backward pass's per-step values of state n: decays e_t, the decay of
// the next step e_{t+1} (0 past the end) and the upstream gradient dh_t.
template <typename T>
__device__ __forceinline__ void backward_elements(
    const ScanArgs<T>& a, const acc_t<T>* dh, int64_t row, int64_t n, int c,
    acc_t<T>* smem, const acc_t<T> (&dt)[kItems], acc_t<T> (&decay)[kItems],
    acc_t<T> (&next)[kItems], acc_t<T> (&g)[kItems]) {
  using Acc = acc_t<T>;
  const Acc A = a.A[(row % a.D) * a.N + n];
#pragma unroll
  for (int j = 0; j < kItems; ++j) decay[j] = mm_exp(dt[j] * A);
  // the first decay of each thread, for the thread before it
  smem[threadIdx.x] = decay[0];
  __syncthreads();
  const int64_t end = ((int64_t)c + 1) * kChunk;  // first step of chunk c+1
  Acc after;
  if (threadIdx.x + 1 < kThreads) {
    after = smem[threadIdx.x + 1];
  } else if (end < a.L) {
    const Acc z = (Acc)to_f(a.delta[row * a.L + end]) +
                  (a.bias ? a.bias[row % a.D] : Acc(0));
    after = mm_exp((a.softplus ? mm_softplus(z) : z) * A);
  } else {
    after = 0;
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j + 1 < kItems; ++j) next[j] = decay[j + 1];
  next[kItems - 1] = after;
  const int64_t first = (int64_t)c * kChunk + threadIdx.x * kItems;
#pragma unroll
  for (int j = 0; j < kItems; ++j)
    if (first + j + 1 >= a.L) next[j] = 0;  // g_L = 0: nothing flows back
  load_blocked(dh + (row * a.N + n) * a.L, a.L, c, Acc(0), smem, g);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    scan_backward_summary_kernel(ScanArgs<T> a, const acc_t<T>* dh,
                                 acc_t<T>* summary) {
  using Acc = acc_t<T>;
  __shared__ Acc smem[kPaddedChunk];
  const int c = blockIdx.y;
  const int64_t row = blockIdx.x;
  Acc z[kItems], dt[kItems], decay[kItems], next[kItems], g[kItems];
  load_dt(a, row, c, smem, z, dt);
  for (int64_t n = 0; n < a.N; ++n) {
    backward_elements(a, dh, row, n, c, smem, dt, decay, next, g);
    Pair<Acc> total;
    block_exclusive_scan<true>(fold_items<true>(next, g), smem, &total);
    if (threadIdx.x == 0) write_summary(a, row, n, c, total, summary);
  }
}

// Deterministic block sum (fixed order: lanes by xor tree, then warps).
template <typename Acc>
__device__ Acc block_sum(Acc v, Acc* smem) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v += __shfl_xor_sync(kFullMask, v, offset);
  if (threadIdx.x % 32 == 0) smem[threadIdx.x / 32] = v;
  __syncthreads();
  Acc total = 0;
  for (int w = 0; w < kWarps; ++w) total += smem[w];
  __syncthreads();
  return total;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    scan_backward_kernel(ScanArgs<T> a, const acc_t<T>* dh,
                         const acc_t<T>* h, const acc_t<T>* summary,
                         acc_t<T>* du, acc_t<T>* ddelta, acc_t<T>* dA_part,
                         acc_t<T>* dB_part) {
  using Acc = acc_t<T>;
  __shared__ Acc smem[kPaddedChunk];
  const int c = blockIdx.y;
  const int64_t row = blockIdx.x;
  Acc z[kItems], dt[kItems], u[kItems], decay[kItems], next[kItems];
  Acc g[kItems], hv[kItems], ddt[kItems] = {}, dus[kItems] = {};
  load_dt(a, row, c, smem, z, dt);
  load_blocked(a.u + row * a.L, a.L, c, Acc(0), smem, u);
  const int64_t first = (int64_t)c * kChunk + threadIdx.x * kItems;
  for (int64_t n = 0; n < a.N; ++n) {
    const int64_t rn = row * a.N + n;
    const Acc A = a.A[(row % a.D) * a.N + n];
    backward_elements(a, dh, row, n, c, smem, dt, decay, next, g);
    // g at the first step of the next chunk
    const Acc carry = chunk_carry<true>(a, summary, row, n, c);
    Pair<Acc> total;
    const Pair<Acc> after =
        block_exclusive_scan<true>(fold_items<true>(next, g), smem, &total);
    Acc grad = after.decay * carry + after.value;
#pragma unroll
    for (int j = kItems - 1; j >= 0; --j) {
      grad = next[j] * grad + g[j];
      g[j] = grad;  // g now holds the total gradient of h_t
    }
    // h_{t-1}: the thread's own states shifted by one step
    load_blocked(h + rn * a.L, a.L, c, Acc(0), smem, hv);
    smem[threadIdx.x] = hv[kItems - 1];
    __syncthreads();
    Acc prev;
    if (threadIdx.x > 0)
      prev = smem[threadIdx.x - 1];
    else
      prev = first > 0 ? h[rn * a.L + first - 1] : Acc(0);
    __syncthreads();
    Acc b[kItems];
    load_blocked(a.B + ((row / a.D) * a.N + n) * a.L, a.L, c, Acc(0), smem,
                 b);
    Acc dA = 0, h_prev = prev;
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      const Acc h_here = hv[j];
      const Acc dlog = g[j] * decay[j] * h_prev;
      const Acc gdt = g[j] * dt[j];
      ddt[j] += dlog * A + g[j] * b[j] * u[j];
      dus[j] += gdt * b[j];
      dA += dlog * dt[j];
      hv[j] = gdt * u[j];  // hv now holds this step's share of dB
      h_prev = h_here;
    }
    store_blocked(hv, smem, a.L, c, dB_part + rn * a.L);
    dA = block_sum(dA, smem);
    if (threadIdx.x == 0) dA_part[rn * a.chunks + c] = dA;
  }
#pragma unroll
  for (int j = 0; j < kItems; ++j)
    if (a.softplus) ddt[j] *= mm_softplus_grad(z[j]);
  store_blocked(ddt, smem, a.L, c, ddelta + row * a.L);
  store_blocked(dus, smem, a.L, c, du + row * a.L);
}

template <typename T>
ScanArgs<T> args_of(const MMScanParams* p, const void* u, const void* delta,
                    const void* A, const void* B, const void* bias) {
  using Acc = acc_t<T>;
  return ScanArgs<T>{p->batch,
                     p->channels,
                     p->state,
                     p->length,
                     (int)((p->length + kChunk - 1) / kChunk),
                     p->softplus,
                     (const T*)u,
                     (const T*)delta,
                     (const T*)B,
                     (const Acc*)A,
                     (const Acc*)bias};
}

// The arguments the kernels rely on to stay in bounds (the bindings check
// them with messages; this guards direct calls of the launchers).
bool valid(const MMScanParams* p) {
  return p->batch > 0 && p->channels > 0 && p->state > 0 && p->length > 0 &&
         p->batch * p->channels <= 2147483647 &&
         (p->length + kChunk - 1) / kChunk <= 65535;
}

// blockIdx.x: the (batch, channel) row; blockIdx.y: the chunk.
dim3 grid_of(const MMScanParams* p) {
  return dim3((unsigned)(p->batch * p->channels),
              (unsigned)((p->length + kChunk - 1) / kChunk));
}

}  // namespace
}  // namespace mmmamba

using namespace mmmamba;

extern "C" int64_t mm_selective_scan_chunks(int64_t length) {
  return (length + kChunk - 1) / kChunk;
}

extern "C" int mm_selective_scan_forward(const MMScanParams* p, int dtype,
                                         const void* u, const void* delta,
                                         const void* A, const void* B,
                                         const void* bias, void* h,
                                         void* summary, mm_stream_t stream) {
  if (!valid(p)) return (int)cudaErrorInvalidValue;
  MM_DISPATCH_DTYPE(dtype, {
    using Acc = acc_t<T>;
    const ScanArgs<T> a = args_of<T>(p, u, delta, A, B, bias);
    MM_RETURN_IF_ERROR(launch(scan_summary_kernel<T>, grid_of(p),
                              dim3(kThreads), 0, stream, a, (Acc*)summary));
    MM_RETURN_IF_ERROR(launch(scan_states_kernel<T>, grid_of(p),
                              dim3(kThreads), 0, stream, a,
                              (const Acc*)summary, (Acc*)h));
  });
  return 0;
}

extern "C" int mm_selective_scan_backward(
    const MMScanParams* p, int dtype, const void* dh, const void* h,
    const void* u, const void* delta, const void* A, const void* B,
    const void* bias, void* du, void* ddelta, void* dA_part, void* dB_part,
    void* summary, mm_stream_t stream) {
  if (!valid(p)) return (int)cudaErrorInvalidValue;
  MM_DISPATCH_DTYPE(dtype, {
    using Acc = acc_t<T>;
    const ScanArgs<T> a = args_of<T>(p, u, delta, A, B, bias);
    MM_RETURN_IF_ERROR(launch(scan_backward_summary_kernel<T>, grid_of(p),
                              dim3(kThreads), 0, stream, a, (const Acc*)dh,
                              (Acc*)summary));
    MM_RETURN_IF_ERROR(launch(scan_backward_kernel<T>, grid_of(p),
                              dim3(kThreads), 0, stream, a, (const Acc*)dh,
                              (const Acc*)h, (const Acc*)summary, (Acc*)du,
                              (Acc*)ddelta, (Acc*)dA_part, (Acc*)dB_part));
  });
  return 0;
}
