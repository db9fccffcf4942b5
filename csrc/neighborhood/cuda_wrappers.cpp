// Tensor wrappers of the na2d CUDA launchers (neighborhood/cuda_launchers.h),
// bound as cuda_na2d_* (csrc/cuda/wrappers.h says for which modules and
// devices).
#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)

#include "../cuda/wrappers.h"
#include "checks.h"
#include "cuda_launchers.h"
#include "ops.h"

namespace mmmamba {
namespace cuda {
namespace {

MMNAParams na_params(const at::Tensor& x, int64_t Kh, int64_t Kw, int64_t dh,
                     int64_t dw) {
  return MMNAParams{x.size(0), x.size(1), x.size(2), x.size(3), x.size(4),
                    (int)Kh,   (int)Kw,   (int)dh,   (int)dw};
}

}  // namespace

at::Tensor na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, int64_t Kh,
                           int64_t Kw, int64_t dh, int64_t dw,
                           int64_t stream) {
  neighborhood::check_qk(kTarget, q, k, rpb ? &*rpb : nullptr, nullptr, Kh,
                         Kw, dh, dw);
  const MMNAParams p = na_params(q, Kh, Kw, dh, dw);
  auto attn = at::empty(neighborhood::attn_sizes(q, Kh, Kw), q.options());
  check_launch(mm_na2d_qk_forward(&p, mm_dtype(q), q.data_ptr(), k.data_ptr(),
                                  optional_ptr(rpb), attn.data_ptr(),
                                  as_stream(stream)),
               "na2d_qk_forward");
  return attn;
}

// Returns dq, dk (T) and drpb (acc, undefined without rpb).
std::vector<at::Tensor> na2d_qk_backward(const at::Tensor& grad,
                                         const at::Tensor& q,
                                         const at::Tensor& k, bool with_rpb,
                                         int64_t Kh, int64_t Kw, int64_t dh,
                                         int64_t dw, int64_t stream) {
  neighborhood::check_qk(kTarget, q, k, nullptr, &grad, Kh, Kw, dh, dw);
  const MMNAParams p = na_params(q, Kh, Kw, dh, dw);
  auto dq = at::empty_like(q), dk = at::empty_like(k);
  at::Tensor part;  // batch × heads × tiles × (2Kh-1) × (2Kw-1) partial sums
  if (with_rpb)
    part = at::zeros({q.size(0), q.size(1), mm_na2d_rpb_tiles(&p),
                      2 * Kh - 1, 2 * Kw - 1},
                     q.options().dtype(acc_dtype(q)));
  check_launch(mm_na2d_qk_backward(&p, mm_dtype(q), grad.data_ptr(),
                                   q.data_ptr(), k.data_ptr(), dq.data_ptr(),
                                   dk.data_ptr(),
                                   with_rpb ? part.data_ptr() : nullptr,
                                   as_stream(stream)),
               "na2d_qk_backward");
  at::Tensor drpb;
  if (with_rpb) drpb = part.sum({0, 2});
  return {dq, dk, drpb};
}

at::Tensor na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                           int64_t Kh, int64_t Kw, int64_t dh, int64_t dw,
                           int64_t stream) {
  neighborhood::check_av(kTarget, attn, v, nullptr, Kh, Kw, dh, dw);
  const MMNAParams p = na_params(v, Kh, Kw, dh, dw);
  auto out = at::empty_like(v);
  check_launch(mm_na2d_av_forward(&p, mm_dtype(v), attn.data_ptr(),
                                  v.data_ptr(), out.data_ptr(),
                                  as_stream(stream)),
               "na2d_av_forward");
  return out;
}

// Returns dattn, dv (T).
std::vector<at::Tensor> na2d_av_backward(const at::Tensor& grad,
                                         const at::Tensor& attn,
                                         const at::Tensor& v, int64_t Kh,
                                         int64_t Kw, int64_t dh, int64_t dw,
                                         int64_t stream) {
  neighborhood::check_av(kTarget, attn, v, &grad, Kh, Kw, dh, dw);
  const MMNAParams p = na_params(v, Kh, Kw, dh, dw);
  auto dattn = at::empty_like(attn), dv = at::empty_like(v);
  check_launch(mm_na2d_av_backward(&p, mm_dtype(v), grad.data_ptr(),
                                   attn.data_ptr(), v.data_ptr(),
                                   dattn.data_ptr(), dv.data_ptr(),
                                   as_stream(stream)),
               "na2d_av_backward");
  return {dattn, dv};
}

}  // namespace cuda
}  // namespace mmmamba

#endif  // MMMAMBA_WITH_CUDA || MMMAMBA_CUDA_HOST
