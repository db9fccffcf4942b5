// Python bindings of the mmmamba._C extension (CPU kernels; CUDA launchers
// when built with MMMAMBA_WITH_CUDA, see csrc/cuda/).
#include <torch/extension.h>

#include <vector>

at::Tensor na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, int64_t Kh,
                           int64_t Kw, int64_t dh, int64_t dw);
std::vector<at::Tensor> na2d_qk_backward(const at::Tensor& grad,
                                         const at::Tensor& q,
                                         const at::Tensor& k, bool with_rpb,
                                         int64_t Kh, int64_t Kw, int64_t dh,
                                         int64_t dw);
at::Tensor na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                           int64_t Kh, int64_t Kw, int64_t dh, int64_t dw);
std::vector<at::Tensor> na2d_av_backward(const at::Tensor& grad,
                                         const at::Tensor& attn,
                                         const at::Tensor& v, int64_t Kh,
                                         int64_t Kw, int64_t dh, int64_t dw);
at::Tensor selective_scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                  const at::Tensor& A, const at::Tensor& B,
                                  const c10::optional<at::Tensor>& bias,
                                  bool softplus);
std::vector<at::Tensor> selective_scan_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus);
at::Tensor a2ssm_aggregate_forward(const at::Tensor& attn_local,
                                   const at::Tensor& attn_dilated,
                                   const at::Tensor& states, int64_t K,
                                   int64_t dh, int64_t dw);
std::vector<at::Tensor> a2ssm_aggregate_backward(
    const at::Tensor& grad, const at::Tensor& attn_local,
    const at::Tensor& attn_dilated, const at::Tensor& states, int64_t K,
    int64_t dh, int64_t dw);

#ifdef MMMAMBA_WITH_CUDA
// csrc/cuda_ops.cpp: tensor wrappers of the CUDA launchers (cuda_* names).
void add_cuda_ops(pybind11::module_& m);
#endif

static bool has_cuda() {
#ifdef MMMAMBA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using pybind11::arg;
  m.doc() = "mmmamba compiled operators (CPU kernels)";
  m.def("na2d_qk_forward", &na2d_qk_forward);
  m.def("na2d_qk_backward", &na2d_qk_backward);
  m.def("na2d_av_forward", &na2d_av_forward);
  m.def("na2d_av_backward", &na2d_av_backward);
  m.def("selective_scan_forward", &selective_scan_forward, arg("u"),
        arg("delta"), arg("A"), arg("B"), arg("delta_bias"), arg("softplus"));
  m.def("selective_scan_backward", &selective_scan_backward, arg("grad"),
        arg("h"), arg("u"), arg("delta"), arg("A"), arg("B"),
        arg("delta_bias"), arg("softplus"));
  m.def("a2ssm_aggregate_forward", &a2ssm_aggregate_forward);
  m.def("a2ssm_aggregate_backward", &a2ssm_aggregate_backward);
  m.def("has_cuda", &has_cuda,
        "True when the CUDA launchers were compiled and linked in");
#ifdef MMMAMBA_WITH_CUDA
  add_cuda_ops(m);
#endif
}
