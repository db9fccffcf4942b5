// CPU kernels of the fused A2SSM aggregation (docs/design.md § Fused A2SSM
// aggregation).
//
// The scan writes the states as B × G × d × H × W. Heads [0, g) are
// aggregated by the local attention map (dilation 1), heads [g, 2g) by the
// dilated one; both maps are B × g × Hp × Wp × K² over a map that may be
// zero-padded past H × W (small-map rule). One call reads the states once
// into the attention layout (padded, one pass in ATen), runs the row
// primitives of neighborhood/cpu_rows.h for both halves in one parallel
// loop, and writes the result straight back in the states' layout, cropped
// to H × W — instead of a Python permute, pad, two na2d_av calls, crop and
// concat. Arguments are checked by checks.h, the contract the CUDA wrappers
// check.
#include <vector>

#include "../neighborhood/cpu_rows.h"
#include "checks.h"
#include "ops.h"

namespace mmmamba {
namespace cpu {
namespace {

struct Halves {
  int64_t B, G, g, d, H, W, Hp, Wp, KK;
  Window local, dilated;
  const Window& of(int64_t head) const { return head < g ? local : dilated; }
  int64_t attn_slice(int64_t bg) const {  // offset into a half's map
    return ((bg / G) * g + (bg % G) % g) * Hp * Wp * KK;
  }
};

// The sizes and windows of a checked call.
Halves halves_of(const at::Tensor& attn_local, const at::Tensor& states,
                 int64_t K, int64_t dh, int64_t dw) {
  const int64_t Hp = attn_local.size(2), Wp = attn_local.size(3);
  return Halves{states.size(0), states.size(1), states.size(1) / 2,
                states.size(2), states.size(3), states.size(4), Hp, Wp, K * K,
                Window(Hp, Wp, K, K, 1, 1), Window(Hp, Wp, K, K, dh, dw)};
}

// B × G × d × H × W → B × G × Hp × Wp × d, zero-padded (one ATen pass).
at::Tensor as_values(const at::Tensor& x, const Halves& s) {
  return at::constant_pad_nd(x.permute({0, 1, 3, 4, 2}),
                             {0, 0, 0, s.Wp - s.W, 0, s.Hp - s.H})
      .contiguous();
}

// out[bg, :, i, :W] = row[:W, :] transposed (row: Wp × d).
template <typename T>
void store_row(const Halves& s, int64_t bg, int64_t i, const T* row, T* out) {
  T* o = out + bg * s.d * s.H * s.W + i * s.W;
  for (int64_t c = 0; c < s.d; ++c)
    for (int64_t j = 0; j < s.W; ++j) o[c * s.H * s.W + j] = row[j * s.d + c];
}

}  // namespace

at::Tensor a2ssm_aggregate_forward(const at::Tensor& attn_local,
                                   const at::Tensor& attn_dilated,
                                   const at::Tensor& states, int64_t K,
                                   int64_t dh, int64_t dw) {
  a2ssm_aggregate::check_aggregate(kCpuTarget, attn_local, attn_dilated,
                                   states, nullptr, K, dh, dw);
  const Halves s = halves_of(attn_local, states, K, dh, dw);
  const at::Tensor values = as_values(states, s);  // B, G, Hp, Wp, d
  auto out = at::empty_like(states);               // B, G, d, H, W
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "a2ssm_aggregate_fwd", [&] {
    using T = scalar_t;
    const T* vp = values.data_ptr<T>();
    const T* maps[2] = {attn_local.data_ptr<T>(), attn_dilated.data_ptr<T>()};
    T* op = out.data_ptr<T>();
    const int64_t row_work = s.Wp * s.KK * s.d;
    for_each_row(s.B * s.G, s.H, row_work, [&](int64_t bg, int64_t i) {
      const int64_t head = bg % s.G;
      std::vector<T> row(s.Wp * s.d);
      gather_sum_row(s.of(head), s.d, i,
                     maps[head >= s.g] + s.attn_slice(bg),
                     vp + bg * s.Hp * s.Wp * s.d, row.data());
      store_row<T>(s, bg, i, row.data(), op);
    });
  });
  return out;
}

// Returns dattn_local, dattn_dilated (B × g × Hp × Wp × K²) and dstates
// (B × G × d × H × W): dattn = pair_dot(grad, values), dvalues =
// scatter_sum(attn, grad), with grad zero outside H × W.
std::vector<at::Tensor> a2ssm_aggregate_backward(
    const at::Tensor& grad, const at::Tensor& attn_local,
    const at::Tensor& attn_dilated, const at::Tensor& states, int64_t K,
    int64_t dh, int64_t dw) {
  a2ssm_aggregate::check_aggregate(kCpuTarget, attn_local, attn_dilated,
                                   states, &grad, K, dh, dw);
  const Halves s = halves_of(attn_local, states, K, dh, dw);
  const at::Tensor grads = as_values(grad, s);     // B, G, Hp, Wp, d
  auto dlocal = at::empty_like(attn_local);
  auto ddilated = at::empty_like(attn_dilated);
  auto dstates = at::empty_like(states);
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "a2ssm_aggregate_bwd", [&] {
    using T = scalar_t;
    // the states as pair_dot_row's keys, once in each half's window order
    const MapLayout channel_major{s.d * s.H * s.W, s.W, 1, s.H * s.W, s.H,
                                  s.W};
    const at::Tensor keys[2] = {
        grouped_keys<T>(s.local, states, s.B * s.G, s.d, channel_major),
        grouped_keys<T>(s.dilated, states, s.B * s.G, s.d, channel_major)};
    const int64_t keys_slice = s.Hp * s.d * grouped_width(s.local);
    const T* kp[2] = {keys[0].data_ptr<T>(), keys[1].data_ptr<T>()};
    const T* gp = grads.data_ptr<T>();
    const T* maps[2] = {attn_local.data_ptr<T>(), attn_dilated.data_ptr<T>()};
    T* dmaps[2] = {dlocal.data_ptr<T>(), ddilated.data_ptr<T>()};
    T* dsp = dstates.data_ptr<T>();
    const int64_t row_work = 2 * s.Wp * s.KK * s.d;
    for_each_row(s.B * s.G, s.Hp, row_work, [&](int64_t bg, int64_t i) {
      const int64_t head = bg % s.G, slice = bg * s.Hp * s.Wp * s.d;
      const Window& w = s.of(head);
      pair_dot_row(w, s.d, i, gp + slice, kp[head >= s.g] + bg * keys_slice,
                   nullptr, dmaps[head >= s.g] + s.attn_slice(bg));
      if (i >= s.H) return;  // padded rows have no states to differentiate
      std::vector<T> row(s.Wp * s.d);
      scatter_sum_row(w, s.d, i, maps[head >= s.g] + s.attn_slice(bg),
                      gp + slice, row.data());
      store_row<T>(s, bg, i, row.data(), dsp);
    });
  });
  return {dlocal, ddilated, dstates};
}

}  // namespace cpu
}  // namespace mmmamba
