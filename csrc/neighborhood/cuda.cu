// CUDA kernels for 2-D neighborhood attention (NATTEN <= 0.17 semantics),
// the same three primitives as neighborhood/cpu.cpp, one thread per
// output element, acc_t<T> accumulation, window math from common/math.h.
// The relative-position-bias gradient is summed per block into partials
// (one thread per bias entry, a fixed order over the block's pixels): no
// atomics, deterministic. No torch headers: raw pointers, MMNAParams,
// launchers taking a stream.
#include "../common/math.h"
#include "../cuda/dtype.cuh"
#include "cuda_launchers.h"

namespace mmmamba {
namespace {

constexpr int kThreads = 256;
constexpr int kRpbTile = 256;  // query pixels per block of rpb_grad_kernel

struct Geo {
  int64_t BH, H, W, C;
  int heads, Kh, Kw, dh, dw;
};

__host__ Geo geo_of(const MMNAParams* p) {
  return Geo{p->batch * p->heads, p->height, p->width, p->dim, (int)p->heads,
             p->kernel_h, p->kernel_w, p->dilation_h, p->dilation_w};
}

// (batch·head, row, col) of flat pixel index pix of a BH × H × W map.
struct Pixel {
  int64_t bh;
  int i, j;
};
__device__ __forceinline__ Pixel pixel_of(int64_t pix, const Geo& g) {
  return Pixel{pix / (g.W * g.H), (int)((pix / g.W) % g.H), (int)(pix % g.W)};
}

// out[bh, i, j, k] = x[bh, i, j] · y[bh, nbr(i, j, k)] (+ rpb)
template <typename T>
__global__ void pair_dot_kernel(Geo g, const T* x, const T* y,
                                const acc_t<T>* rpb, T* out) {
  const int64_t KK = (int64_t)g.Kh * g.Kw;
  const int64_t total = g.BH * g.H * g.W * KK;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
       idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t k = idx % KK, pix = idx / KK;
    const auto [bh, i, j] = pixel_of(pix, g);
    const int ki = k / g.Kw, kj = k % g.Kw;
    const int si = na_window_start(i, g.H, g.Kh, g.dh);
    const int sj = na_window_start(j, g.W, g.Kw, g.dw);
    const int ni = na_neighbor(i, si, ki, g.dh);
    const int nj = na_neighbor(j, sj, kj, g.dw);
    const T* xq = x + pix * g.C;
    const T* yk = y + ((bh * g.H + ni) * g.W + nj) * g.C;
    acc_t<T> acc = 0;
    for (int64_t c = 0; c < g.C; ++c) acc += to_f(xq[c]) * to_f(yk[c]);
    if (rpb) {
      const int bi = na_rpb_index(i, si, ki, g.Kh, g.dh);
      const int bj = na_rpb_index(j, sj, kj, g.Kw, g.dw);
      acc += rpb[((bh % g.heads) * (2 * g.Kh - 1) + bi) * (2 * g.Kw - 1) + bj];
    }
    out[idx] = from_f<T>(acc);
  }
}

// out[bh, i, j, c] = Σ_k w[bh, i, j, k] · y[bh, nbr(i, j, k), c]
template <typename T>
__global__ void gather_sum_kernel(Geo g, const T* w, const T* y, T* out) {
  const int64_t KK = (int64_t)g.Kh * g.Kw;
  const int64_t total = g.BH * g.H * g.W * g.C;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
       idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = idx % g.C, pix = idx / g.C;
    const auto [bh, i, j] = pixel_of(pix, g);
    const int si = na_window_start(i, g.H, g.Kh, g.dh);
    const int sj = na_window_start(j, g.W, g.Kw, g.dw);
    const T* wq = w + pix * KK;
    acc_t<T> acc = 0;
    for (int ki = 0; ki < g.Kh; ++ki) {
      const int ni = na_neighbor(i, si, ki, g.dh);
      for (int kj = 0; kj < g.Kw; ++kj) {
        const int nj = na_neighbor(j, sj, kj, g.dw);
        acc += to_f(wq[ki * g.Kw + kj]) *
               to_f(y[((bh * g.H + ni) * g.W + nj) * g.C + c]);
      }
    }
    out[idx] = from_f<T>(acc);
  }
}

// out[bh, p, q, c] = Σ_{(i, j, k): nbr(i, j, k) = (p, q)} w[.., k] · y[i, j, c]
template <typename T>
__global__ void scatter_sum_kernel(Geo g, const T* w, const T* y, T* out) {
  const int64_t KK = (int64_t)g.Kh * g.Kw;
  const int64_t total = g.BH * g.H * g.W * g.C;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
       idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = idx % g.C, pix = idx / g.C;
    const auto [bh, p, q] = pixel_of(pix, g);  // the key pixel
    acc_t<T> acc = 0;
    for (int oi = -(g.Kh - 1); oi <= g.Kh - 1; ++oi) {
      const int i = p + oi * g.dh;
      if (i < 0 || i >= g.H) continue;
      const int ki = na_slot_of(i, p, g.H, g.Kh, g.dh);
      if (ki < 0) continue;
      for (int oj = -(g.Kw - 1); oj <= g.Kw - 1; ++oj) {
        const int j = q + oj * g.dw;
        if (j < 0 || j >= g.W) continue;
        const int kj = na_slot_of(j, q, g.W, g.Kw, g.dw);
        if (kj < 0) continue;
        const int64_t qpix = (bh * g.H + i) * g.W + j;
        acc += to_f(w[qpix * KK + ki * g.Kw + kj]) * to_f(y[qpix * g.C + c]);
      }
    }
    out[idx] = from_f<T>(acc);
  }
}

// part[bh, tile, r] = Σ over the tile's query pixels of grad[pixel, k] for
// the slot k whose bias index is r (bias entry r = (ri, rj) per thread).
template <typename T>
__global__ void rpb_grad_kernel(Geo g, const T* grad, acc_t<T>* part) {
  const int64_t KK = (int64_t)g.Kh * g.Kw;
  const int Rh = 2 * g.Kh - 1, Rw = 2 * g.Kw - 1;
  const int64_t HW = g.H * g.W;
  const int64_t bh = blockIdx.y;
  const int64_t first = (int64_t)blockIdx.x * kRpbTile;
  const int64_t last = min(first + kRpbTile, HW);
  for (int r = threadIdx.x; r < Rh * Rw; r += blockDim.x) {
    const int ri = r / Rw, rj = r % Rw;
    acc_t<T> acc = 0;
    for (int64_t pix = first; pix < last; ++pix) {
      const int i = (int)(pix / g.W), j = (int)(pix % g.W);
      const int ki = na_slot_of_rpb(i, na_window_start(i, g.H, g.Kh, g.dh),
                                    ri, g.Kh, g.dh);
      const int kj = na_slot_of_rpb(j, na_window_start(j, g.W, g.Kw, g.dw),
                                    rj, g.Kw, g.dw);
      if (ki >= 0 && kj >= 0)
        acc += to_f(grad[(bh * HW + pix) * KK + ki * g.Kw + kj]);
    }
    part[(bh * gridDim.x + blockIdx.x) * Rh * Rw + r] = acc;
  }
}

__host__ int blocks_for(int64_t total) {
  int64_t blocks = (total + kThreads - 1) / kThreads;
  return (int)(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

__host__ int64_t rpb_tiles(const Geo& g) {
  return (g.H * g.W + kRpbTile - 1) / kRpbTile;
}

// Threads of rpb_grad_kernel: one per bias entry, whole warps, <= 1024.
__host__ int rpb_threads(const Geo& g) {
  const int bins = (2 * g.Kh - 1) * (2 * g.Kw - 1);
  return min(1024, (bins + 31) / 32 * 32);
}

}  // namespace
}  // namespace mmmamba

using namespace mmmamba;

extern "C" int64_t mm_na2d_rpb_tiles(const MMNAParams* p) {
  return rpb_tiles(geo_of(p));
}

extern "C" int mm_na2d_qk_forward(const MMNAParams* p, int dtype,
                                  const void* q, const void* k,
                                  const void* rpb, void* attn,
                                  mm_stream_t stream) {
  const Geo g = geo_of(p);
  const int blocks = blocks_for(g.BH * g.H * g.W * g.Kh * g.Kw);
  MM_DISPATCH_DTYPE(dtype, MM_RETURN_IF_ERROR(launch(
      pair_dot_kernel<T>, dim3(blocks), dim3(kThreads), 0, stream, g,
      (const T*)q, (const T*)k, (const acc_t<T>*)rpb, (T*)attn)));
  return 0;
}

extern "C" int mm_na2d_qk_backward(const MMNAParams* p, int dtype,
                                   const void* grad, const void* q,
                                   const void* k, void* dq, void* dk,
                                   void* drpb_part, mm_stream_t stream) {
  const Geo g = geo_of(p);
  const int b_pix = blocks_for(g.BH * g.H * g.W * g.C);
  MM_DISPATCH_DTYPE(dtype, {
    MM_RETURN_IF_ERROR(launch(gather_sum_kernel<T>, dim3(b_pix),
                              dim3(kThreads), 0, stream, g, (const T*)grad,
                              (const T*)k, (T*)dq));
    MM_RETURN_IF_ERROR(launch(scatter_sum_kernel<T>, dim3(b_pix),
                              dim3(kThreads), 0, stream, g, (const T*)grad,
                              (const T*)q, (T*)dk));
    if (drpb_part && g.BH * g.H * g.W > 0) {
      if (g.BH > 65535) return (int)cudaErrorInvalidConfiguration;
      MM_RETURN_IF_ERROR(launch(
          rpb_grad_kernel<T>, dim3((unsigned)rpb_tiles(g), (unsigned)g.BH),
          dim3(rpb_threads(g)), 0, stream, g, (const T*)grad,
          (acc_t<T>*)drpb_part));
    }
  });
  return 0;
}

extern "C" int mm_na2d_av_forward(const MMNAParams* p, int dtype,
                                  const void* attn, const void* v, void* out,
                                  mm_stream_t stream) {
  const Geo g = geo_of(p);
  const int blocks = blocks_for(g.BH * g.H * g.W * g.C);
  MM_DISPATCH_DTYPE(dtype, MM_RETURN_IF_ERROR(launch(
      gather_sum_kernel<T>, dim3(blocks), dim3(kThreads), 0, stream, g,
      (const T*)attn, (const T*)v, (T*)out)));
  return 0;
}

extern "C" int mm_na2d_av_backward(const MMNAParams* p, int dtype,
                                   const void* grad, const void* attn,
                                   const void* v, void* dattn, void* dv,
                                   mm_stream_t stream) {
  const Geo g = geo_of(p);
  const int b_pix = blocks_for(g.BH * g.H * g.W * g.C);
  const int b_nbr = blocks_for(g.BH * g.H * g.W * g.Kh * g.Kw);
  MM_DISPATCH_DTYPE(dtype, {
    MM_RETURN_IF_ERROR(launch(pair_dot_kernel<T>, dim3(b_nbr), dim3(kThreads),
                              0, stream, g, (const T*)grad, (const T*)v,
                              (const acc_t<T>*)nullptr, (T*)dattn));
    MM_RETURN_IF_ERROR(launch(scatter_sum_kernel<T>, dim3(b_pix),
                              dim3(kThreads), 0, stream, g, (const T*)attn,
                              (const T*)grad, (T*)dv));
  });
  return 0;
}
