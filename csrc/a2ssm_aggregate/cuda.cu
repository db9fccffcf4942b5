// CUDA kernels of the fused A2SSM aggregation (docs/design.md § Fused
// A2SSM aggregation), the GPU twin of a2ssm_aggregate/cpu.cpp.
//
// The states stay in the scan's layout B × G × d × H × W (read in place, no
// transposed or padded copy); heads [0, g) are aggregated by attn_local with
// dilation 1, heads [g, 2g) by attn_dilated with (dh, dw), both maps
// B × g × Hp × Wp × K² over a map that is zero past H × W. Window math is
// the shared header's (na_window_start / na_neighbor, na_slot_of); acc_t<T>
// accumulation, fp32 / fp16 / bf16 / fp64 tensors.
//
// Thread mapping: a block of kTile × kRows threads owns one (batch, head)
// and kTile consecutive columns of one row; threadIdx.x walks the columns,
// so every warp reads and writes the states along W (coalesced):
//   forward  out[bg, c, i, j] = Σ_k attn[.., i, j, k] · v[bg, c, nbr(i, j, k)]
//            the tile's kTile × K² weights (contiguous in the map) are staged
//            in shared memory; threadIdx.y strides over the channels.
//   dattn    dattn[.., i, j, k] = Σ_c grad[bg, c, i, j] · v[bg, c, nbr]
//            over the whole Hp × Wp map (zero where (i, j) is outside H × W);
//            threadIdx.y strides over k, the tile is written back from shared
//            memory as one contiguous block.
//   dstates  dstates[bg, c, p, q] = Σ_{(i, j, k): nbr = (p, q)} attn · grad
//            by the inverse window rule (each output owned by one thread, no
//            atomics); a thread sums kChannels channels per attention load.
// No torch headers: raw pointers, MMAggParams, launchers taking a stream.
#include <climits>

#include "../common/math.h"
#include "../cuda/dtype.cuh"
#include "cuda_launchers.h"

namespace mmmamba {
namespace {

constexpr int kTile = 32;     // columns per block (threadIdx.x)
constexpr int kRows = 8;      // threadIdx.y: channels (forward) or slots k
constexpr int kChannels = 4;  // channels per thread in the dstates kernel
constexpr size_t kDefaultSmem = 48 * 1024;

struct Agg {
  int64_t BG, G, g, d;  // batch·heads, heads, heads per half, channels
  int H, W, Hp, Wp, K, KK;
  int dil_h, dil_w;  // the dilated half's; the local half has (1, 1)
};

__host__ Agg agg_of(const MMAggParams* p) {
  return Agg{p->batch * p->heads, p->heads, p->heads / 2, p->dim,
             (int)p->height, (int)p->width, (int)p->padded_h,
             (int)p->padded_w, p->kernel, p->kernel * p->kernel,
             p->dilation_h, p->dilation_w};
}

// The arguments the kernels rely on to stay in bounds (the bindings check
// them with messages; this guards direct calls of the launchers).
__host__ bool valid(const MMAggParams* p) {
  return p->batch >= 0 && p->heads >= 0 && p->heads % 2 == 0 &&
         p->dim >= 0 && p->kernel > 0 && p->kernel % 2 == 1 &&
         p->dilation_h > 0 && p->dilation_w > 0 && p->height >= 0 &&
         p->width >= 0 && p->height <= p->padded_h &&
         p->width <= p->padded_w && p->padded_h <= INT_MAX &&
         p->padded_w <= INT_MAX &&
         p->padded_h >= (int64_t)p->kernel * p->dilation_h &&
         p->padded_w >= (int64_t)p->kernel * p->dilation_w;
}

// The block's (batch·head, half, row, first column); blockIdx.x enumerates
// the column tiles of every (batch, head), blockIdx.y the rows.
struct Tile {
  int64_t bg;
  int half, row, j0;
};

__device__ __forceinline__ Tile tile_of(const Agg& a, int width) {
  const int64_t tiles = (width + kTile - 1) / kTile;
  const int64_t bg = blockIdx.x / tiles;
  return Tile{bg, (bg % a.G) >= a.g ? 1 : 0, (int)blockIdx.y,
              (int)(blockIdx.x % tiles) * kTile};
}

// Offset of head bg's slice (Hp × Wp × K²) in its half's attention map.
__device__ __forceinline__ int64_t attn_offset(const Agg& a, int64_t bg) {
  return ((bg / a.G) * a.g + (bg % a.G) % a.g) * a.Hp * a.Wp * a.KK;
}

// Window starts of query (i, j) in the padded map, with the half's dilation.
struct Window {
  int si, sj, dh, dw;
};

// (dh, dw) of a half: 0 local, 1 dilated.
__device__ __forceinline__ int2 dilation_of(const Agg& a, int half) {
  return half ? make_int2(a.dil_h, a.dil_w) : make_int2(1, 1);
}

__device__ __forceinline__ Window window_of(const Agg& a, int half, int i,
                                            int j) {
  const int2 d = dilation_of(a, half);
  const int dh = d.x, dw = d.y;
  return Window{na_window_start(i, a.Hp, a.K, dh),
                na_window_start(j, a.Wp, a.K, dw), dh, dw};
}

// plane[ni, nj] of an H × W plane seen as zero-padded to Hp × Wp.
template <typename T>
__device__ __forceinline__ acc_t<T> value_at(const Agg& a, const T* plane,
                                          int ni, int nj) {
  return (ni < a.H && nj < a.W) ? (acc_t<T>)to_f(plane[(int64_t)ni * a.W + nj])
                                : acc_t<T>(0);
}

// The whole block copies count contiguous elements (coalesced).
template <typename D, typename S>
__device__ __forceinline__ void block_copy(const S* src, int count, D* dst) {
  for (int e = threadIdx.y * blockDim.x + threadIdx.x; e < count;
       e += blockDim.x * blockDim.y)
    dst[e] = from_f<D>(to_f(src[e]));
}

template <typename T>
__global__ void __launch_bounds__(kTile * kRows)
    aggregate_forward_kernel(Agg a, const T* attn_local,
                             const T* attn_dilated, const T* states, T* out) {
  MM_DYNAMIC_SHARED(acc_t<T>, w);  // kTile × K²: weights of the tile's queries
  const Tile t = tile_of(a, a.W);
  const int n = min(kTile, a.W - t.j0);
  block_copy((t.half ? attn_dilated : attn_local) + attn_offset(a, t.bg) +
                 ((int64_t)t.row * a.Wp + t.j0) * a.KK,
             n * a.KK, w);
  __syncthreads();
  const int j = t.j0 + threadIdx.x;
  if (j >= a.W) return;
  const Window win = window_of(a, t.half, t.row, j);
  const int64_t HW = (int64_t)a.H * a.W;
  const T* v = states + t.bg * a.d * HW;                        // d, H, W
  T* o = out + t.bg * a.d * HW + (int64_t)t.row * a.W + j;     // d (stride HW)
  const acc_t<T>* wq = w + threadIdx.x * a.KK;
  for (int64_t c = threadIdx.y; c < a.d; c += blockDim.y) {
    acc_t<T> acc = 0;
    for (int ki = 0; ki < a.K; ++ki) {
      const int ni = na_neighbor(t.row, win.si, ki, win.dh);
      for (int kj = 0; kj < a.K; ++kj)
        acc += wq[ki * a.K + kj] *
               value_at(a, v + c * HW, ni, na_neighbor(j, win.sj, kj, win.dw));
    }
    o[c * HW] = from_f<T>(acc);
  }
}

template <typename T>
__global__ void __launch_bounds__(kTile * kRows)
    aggregate_dattn_kernel(Agg a, const T* grad, const T* states,
                           T* dattn_local, T* dattn_dilated) {
  MM_DYNAMIC_SHARED(acc_t<T>, w);  // kTile × K²: gradients of the tile's weights
  const Tile t = tile_of(a, a.Wp);
  const int n = min(kTile, a.Wp - t.j0);
  const int j = t.j0 + threadIdx.x;
  if (threadIdx.x < n) {
    // the output is cropped to H × W: queries outside it get zero gradient
    const bool live = t.row < a.H && j < a.W;
    const Window win = window_of(a, t.half, t.row, j);
    const int64_t HW = (int64_t)a.H * a.W;
    const int64_t slice = t.bg * a.d * HW;
    for (int k = threadIdx.y; k < a.KK; k += blockDim.y) {
      const int ni = na_neighbor(t.row, win.si, k / a.K, win.dh);
      const int nj = na_neighbor(j, win.sj, k % a.K, win.dw);
      acc_t<T> acc = 0;
      if (live && ni < a.H && nj < a.W) {
        const T* g = grad + slice + (int64_t)t.row * a.W + j;  // d (stride HW)
        const T* v = states + slice + (int64_t)ni * a.W + nj;  // d (stride HW)
        for (int64_t c = 0; c < a.d; ++c)
          acc += to_f(g[c * HW]) * to_f(v[c * HW]);
      }
      w[threadIdx.x * a.KK + k] = acc;
    }
  }
  __syncthreads();
  block_copy(w, n * a.KK,
             (t.half ? dattn_dilated : dattn_local) + attn_offset(a, t.bg) +
                 ((int64_t)t.row * a.Wp + t.j0) * a.KK);
}

template <typename T>
__global__ void __launch_bounds__(kTile * kRows)
    aggregate_dstates_kernel(Agg a, const T* grad, const T* attn_local,
                             const T* attn_dilated, T* dstates) {
  const Tile t = tile_of(a, a.W);
  const int p = t.row, q = t.j0 + threadIdx.x;
  if (q >= a.W) return;
  const int2 dil = dilation_of(a, t.half);
  const int dh = dil.x, dw = dil.y;
  const T* attn = (t.half ? attn_dilated : attn_local) + attn_offset(a, t.bg);
  const int64_t HW = (int64_t)a.H * a.W;
  const T* g = grad + t.bg * a.d * HW;                           // d, H, W
  T* o = dstates + t.bg * a.d * HW + (int64_t)p * a.W + q;      // d (stride HW)
  for (int64_t c0 = threadIdx.y; c0 < a.d; c0 += blockDim.y * kChannels) {
    acc_t<T> acc[kChannels] = {};
    // queries (i, j) inside H × W (grad is zero elsewhere) that see (p, q)
    for (int oi = 1 - a.K; oi < a.K; ++oi) {
      const int i = p + oi * dh;
      const int ki = (i >= 0 && i < a.H) ? na_slot_of(i, p, a.Hp, a.K, dh) : -1;
      if (ki < 0) continue;
      for (int oj = 1 - a.K; oj < a.K; ++oj) {
        const int j = q + oj * dw;
        const int kj =
            (j >= 0 && j < a.W) ? na_slot_of(j, q, a.Wp, a.K, dw) : -1;
        if (kj < 0) continue;
        const acc_t<T> wk =
            to_f(attn[((int64_t)i * a.Wp + j) * a.KK + ki * a.K + kj]);
        const T* gq = g + (int64_t)i * a.W + j;  // d (stride HW)
#pragma unroll
        for (int r = 0; r < kChannels; ++r) {
          const int64_t c = c0 + r * blockDim.y;
          if (c < a.d) acc[r] += wk * to_f(gq[c * HW]);
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kChannels; ++r) {
      const int64_t c = c0 + r * blockDim.y;
      if (c < a.d) o[c * HW] = from_f<T>(acc[r]);
    }
  }
}

// Grid of the row-tile kernels: every (batch, head) × column tile, rows.
__host__ bool grid_of(const Agg& a, int width, int rows, dim3* grid) {
  const int64_t x = a.BG * ((width + kTile - 1) / kTile);
  if (x > INT_MAX || rows > 65535) return false;
  *grid = dim3((unsigned)x, (unsigned)rows);
  return true;
}

// Shared memory of a kTile × K² tile of acc_t<T>; above the default 48 KiB
// the kernel must opt in (large K).
template <typename T>
__host__ size_t tile_bytes(const Agg& a) {
  return (size_t)kTile * a.KK * sizeof(acc_t<T>);
}

template <typename Kernel>
__host__ int allow_smem(Kernel kernel, size_t bytes) {
  return bytes > kDefaultSmem
             ? (int)cudaFuncSetAttribute(
                   kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                   (int)bytes)
             : 0;
}

}  // namespace
}  // namespace mmmamba

using namespace mmmamba;

extern "C" int mm_a2ssm_aggregate_forward(const MMAggParams* p, int dtype,
                                          const void* attn_local,
                                          const void* attn_dilated,
                                          const void* states, void* out,
                                          mm_stream_t stream) {
  if (!valid(p)) return (int)cudaErrorInvalidValue;
  const Agg a = agg_of(p);
  if (a.BG * a.d * a.H * a.W == 0) return (int)cudaSuccess;  // empty output
  dim3 grid;
  if (!grid_of(a, a.W, a.H, &grid)) return (int)cudaErrorInvalidConfiguration;
  MM_DISPATCH_DTYPE(dtype, {
    const size_t smem = tile_bytes<T>(a);
    MM_RETURN_IF_ERROR(allow_smem(aggregate_forward_kernel<T>, smem));
    MM_RETURN_IF_ERROR(launch(aggregate_forward_kernel<T>, grid,
                              dim3(kTile, kRows), smem, stream, a,
                              (const T*)attn_local, (const T*)attn_dilated,
                              (const T*)states, (T*)out));
  });
  return 0;
}

extern "C" int mm_a2ssm_aggregate_backward(
    const MMAggParams* p, int dtype, const void* grad, const void* attn_local,
    const void* attn_dilated, const void* states, void* dattn_local,
    void* dattn_dilated, void* dstates, mm_stream_t stream) {
  if (!valid(p)) return (int)cudaErrorInvalidValue;
  const Agg a = agg_of(p);
  dim3 grid_attn, grid_states;
  if (!grid_of(a, a.Wp, a.Hp, &grid_attn) ||
      !grid_of(a, a.W, a.H, &grid_states))
    return (int)cudaErrorInvalidConfiguration;
  const dim3 block(kTile, kRows);
  MM_DISPATCH_DTYPE(dtype, {
    if (a.BG > 0) {  // every weight gets a gradient, even when d·H·W == 0
      const size_t smem = tile_bytes<T>(a);
      MM_RETURN_IF_ERROR(allow_smem(aggregate_dattn_kernel<T>, smem));
      MM_RETURN_IF_ERROR(launch(aggregate_dattn_kernel<T>, grid_attn, block,
                                smem, stream, a, (const T*)grad,
                                (const T*)states, (T*)dattn_local,
                                (T*)dattn_dilated));
    }
    if (a.BG * a.d * a.H * a.W > 0)
      MM_RETURN_IF_ERROR(launch(aggregate_dstates_kernel<T>, grid_states,
                                block, 0, stream, a, (const T*)grad,
                                (const T*)attn_local,
                                (const T*)attn_dilated, (T*)dstates));
  });
  return 0;
}
