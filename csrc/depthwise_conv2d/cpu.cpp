// CPU kernels of the depthwise convolution (docs/design.md § Depthwise
// convolution): stride 1, odd K, padding K/2, per-channel bias, optionally
// plus the input (residual), on channels-last maps (B × C × H × W tensors in
// NHWC memory, indexed as B × H × W × C).
//
// Work is split over the B·H output rows (at::parallel_for); the row
// kernels of cpu_rows.h vectorise over the channels. The input gradient is
// the forward kernel run on the output gradient with the taps flipped; the
// weight gradient gives each thread K² × C (+ C for the bias) partial sums
// over its share of the rows, summed at the end (no atomics). Arguments are
// checked by checks.h, the contract the CUDA wrappers check.
#include <ATen/Parallel.h>

#include <vector>

#include "../common/parallel.h"
#include "checks.h"
#include "cpu_rows.h"
#include "ops.h"

namespace mmmamba {
namespace cpu {
namespace {

void check_kernel_size(int64_t K) {
  TORCH_CHECK(K <= kMaxDwKernel, "the CPU depthwise_conv2d kernels take "
              "kernel sizes up to ", kMaxDwKernel, ", got ", K);
}

DwMap map_of(const at::Tensor& x, int64_t K) {
  return DwMap{x.size(2), x.size(3), x.size(1), (int)K};
}

// weight C × K × K → taps K² × C (flipped: tap k holds weight K²-1-k).
at::Tensor taps_of(const at::Tensor& weight, bool flipped) {
  const at::Tensor w = flipped ? weight.flip({1, 2}) : weight;
  return w.reshape({weight.size(0), -1}).t().contiguous();
}

// out = bias + (residual ? x : 0) + conv(x, taps), every row.
at::Tensor convolve(const at::Tensor& x, const at::Tensor& taps,
                    const at::Tensor* bias, bool residual, int64_t K) {
  const DwMap m = map_of(x, K);
  // B, C, H, W in NHWC memory
  auto out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  const int64_t rows = x.size(0) * m.H, row_size = m.W * m.C;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "depthwise_conv2d_rows", [&] {
    using T = scalar_t;
    const T* xp = x.data_ptr<T>();
    const T* tp = taps.data_ptr<T>();
    const T* bp = bias ? bias->data_ptr<T>() : nullptr;
    T* op = out.data_ptr<T>();
    at::parallel_for(0, rows, grain_for(row_size * K * K),
                     [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row)
        dw_forward_row(m, xp + (row / m.H) * m.H * row_size, tp, bp, residual,
                       row % m.H, op + row * row_size);
    });
  });
  return out;
}

}  // namespace

at::Tensor depthwise_conv2d_forward(const at::Tensor& x,
                                    const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias,
                                    bool residual) {
  const int64_t K =
      depthwise_conv2d::check_conv(kCpuTarget, x, weight, bias, nullptr);
  check_kernel_size(K);
  return convolve(x, taps_of(weight, false),
                  bias.has_value() ? &*bias : nullptr, residual, K);
}

// Returns dx (channels-last, x's shape), dweight (C × K × K) and dbias (C).
std::vector<at::Tensor> depthwise_conv2d_backward(const at::Tensor& grad,
                                                  const at::Tensor& x,
                                                  const at::Tensor& weight,
                                                  bool residual) {
  const int64_t K = depthwise_conv2d::check_conv(kCpuTarget, x, weight,
                                                 c10::nullopt, &grad);
  check_kernel_size(K);
  const at::Tensor dx =
      convolve(grad, taps_of(weight, true), nullptr, residual, K);
  const DwMap m = map_of(x, K);
  const int64_t rows = x.size(0) * m.H, threads = at::get_num_threads();
  // per thread: K² × C tap sums, then C bias sums
  auto partial = at::zeros({threads, K * K + 1, m.C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "depthwise_conv2d_wgrad", [&] {
    using T = scalar_t;
    const T* xp = x.data_ptr<T>();
    const T* gp = grad.data_ptr<T>();
    T* pp = partial.data_ptr<T>();
    at::parallel_for(0, rows, grain_for(m.W * m.C * K * K),
                     [&](int64_t begin, int64_t end) {
      T* mine = pp + at::get_thread_num() * (K * K + 1) * m.C;
      dw_wgrad_rows(m, xp, gp, begin, end, mine, mine + K * K * m.C);
    });
  });
  const at::Tensor tap_sums = partial.narrow(1, 0, K * K).sum(0);  // K², C
  return {dx, tap_sums.t().reshape({m.C, K, K}).contiguous(),
          partial.select(1, K * K).sum(0)};
}

}  // namespace cpu
}  // namespace mmmamba
