// The na2d ops as csrc/bindings.cpp binds them: the CPU kernels
// (neighborhood/cpu.cpp) and the tensor wrappers of the CUDA launchers
// (neighborhood/cuda_wrappers.cpp, which also take the CUDA stream).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace mmmamba {
namespace cpu {

at::Tensor na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, int64_t Kh,
                           int64_t Kw, int64_t dh, int64_t dw);
// Returns dq, dk and drpb (undefined without rpb).
std::vector<at::Tensor> na2d_qk_backward(const at::Tensor& grad,
                                         const at::Tensor& q,
                                         const at::Tensor& k, bool with_rpb,
                                         int64_t Kh, int64_t Kw, int64_t dh,
                                         int64_t dw);
at::Tensor na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                           int64_t Kh, int64_t Kw, int64_t dh, int64_t dw);
// Returns dattn, dv.
std::vector<at::Tensor> na2d_av_backward(const at::Tensor& grad,
                                         const at::Tensor& attn,
                                         const at::Tensor& v, int64_t Kh,
                                         int64_t Kw, int64_t dh, int64_t dw);

}  // namespace cpu

namespace cuda {

at::Tensor na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, int64_t Kh,
                           int64_t Kw, int64_t dh, int64_t dw, int64_t stream);
std::vector<at::Tensor> na2d_qk_backward(const at::Tensor& grad,
                                         const at::Tensor& q,
                                         const at::Tensor& k, bool with_rpb,
                                         int64_t Kh, int64_t Kw, int64_t dh,
                                         int64_t dw, int64_t stream);
at::Tensor na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                           int64_t Kh, int64_t Kw, int64_t dh, int64_t dw,
                           int64_t stream);
std::vector<at::Tensor> na2d_av_backward(const at::Tensor& grad,
                                         const at::Tensor& attn,
                                         const at::Tensor& v, int64_t Kh,
                                         int64_t Kw, int64_t dh, int64_t dw,
                                         int64_t stream);

}  // namespace cuda
}  // namespace mmmamba
