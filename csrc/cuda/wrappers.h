// Tensor wrappers of the CUDA launchers (csrc/cuda/mmmamba_cuda.h), bound as
// the cuda_* functions of an extension module:
// - mmmamba._C built with MMMAMBA_WITH_CUDA: the launchers are the nvcc
//   build of csrc/cuda/*.cu and the tensors are CUDA tensors;
// - mmmamba._C_cuda_host (MMMAMBA_CUDA_HOST, csrc/cuda_host/): the same
//   launchers compiled by the host compiler over the CUDA emulation, and
//   the tensors are CPU tensors (the `cuda_host` test backend).
//
// Compiled by the host compiler against the torch headers of whatever torch
// is installed (the CPU build included): no CUDA torch headers, so the CUDA
// stream arrives from Python as an integer
// (torch.cuda.current_stream().cuda_stream) and outputs are allocated with
// plain at::empty on the inputs' device. Inputs must already be contiguous
// tensors of the launchers' dtypes: T = float32 / float16 / bfloat16 /
// float64, and the accumulation dtype (float32, float64 when T is) for rpb,
// A, delta_bias and the scan's states and grads; mmmamba/ops/kernels/
// cuda.py casts. Every wrapper checks dtypes, shapes and devices (the
// kernels index raw pointers) and raises with the op's name and the
// cudaError when a launch fails. Reductions of the kernels' partial sums
// (rpb, dA, dB, d bias) are torch sums: deterministic, no atomics.
#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)

#include <torch/extension.h>

#include <vector>

#include "cuda/mmmamba_cuda.h"

namespace {

#ifdef MMMAMBA_CUDA_HOST
constexpr const char* kDeviceName = "CPU (cuda_host emulation)";
bool on_kernel_device(const at::Tensor& t) { return t.is_cpu(); }
#else
constexpr const char* kDeviceName = "CUDA";
bool on_kernel_device(const at::Tensor& t) { return t.is_cuda(); }
#endif

// MMDtype of a T-typed tensor.
int mm_dtype(const at::Tensor& t, const char* name) {
  switch (t.scalar_type()) {
    case at::kFloat: return MM_FLOAT32;
    case at::kHalf: return MM_FLOAT16;
    case at::kBFloat16: return MM_BFLOAT16;
    case at::kDouble: return MM_FLOAT64;
    default:
      TORCH_CHECK(false, name, " must be float32, float16, bfloat16 or "
                  "float64, got ", t.scalar_type(),
                  " (mmmamba.ops.kernels.cuda casts)");
  }
}

// The accumulation dtype of T: float64 for float64, else float32.
at::ScalarType acc_dtype(const at::Tensor& lead) {
  return lead.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// t is a contiguous tensor of the kernels' device type on `device` with
// `dtype` and `sizes`.
void expect(const at::Tensor& t, const char* name, at::ScalarType dtype,
            const at::Device& device, at::IntArrayRef sizes) {
  TORCH_CHECK(on_kernel_device(t) && t.device() == device, name,
              " must be a ", kDeviceName, " tensor on ", device, ", got ",
              t.device());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == dtype, name, " must be ", dtype, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.sizes() == sizes, name, " must have shape ", sizes, ", got ",
              t.sizes());
}

// The leading tensor of a call: CUDA, `dim`-D; fixes device and dtype T.
void expect_lead(const at::Tensor& t, const char* name, int64_t dim) {
  TORCH_CHECK(on_kernel_device(t), name, " must be a ", kDeviceName,
              " tensor, got ", t.device());
  TORCH_CHECK(t.dim() == dim, name, " must be ", dim, "-D, got ", t.sizes());
  mm_dtype(t, name);
  expect(t, name, t.scalar_type(), t.device(), t.sizes());
}

// The window rule's requirements along both axes of an H × W map.
void expect_window(int64_t H, int64_t W, int64_t Kh, int64_t Kw, int64_t dh,
                   int64_t dw) {
  TORCH_CHECK(Kh > 0 && Kw > 0 && Kh % 2 == 1 && Kw % 2 == 1,
              "kernel sizes must be odd and positive, got (", Kh, ", ", Kw,
              ")");
  TORCH_CHECK(dh > 0 && dw > 0, "dilations must be positive, got (", dh, ", ",
              dw, ")");
  TORCH_CHECK(H >= Kh * dh && W >= Kw * dw, "a ", H, "x", W,
              " map is smaller than kernel * dilation = ", Kh * dh, "x",
              Kw * dw);
}

mm_stream_t as_stream(int64_t stream) {
  return reinterpret_cast<mm_stream_t>(static_cast<intptr_t>(stream));
}

// rc: a launcher's status (see mmmamba_cuda.h).
void check_launch(int rc, const char* op) {
  TORCH_CHECK(rc >= 0, "mmmamba ", op, ": a CUDA error was already pending "
              "before its kernels were launched, from earlier work on the "
              "device: cudaError ", -rc, " (", mm_cuda_error_string(-rc),
              "); run with CUDA_LAUNCH_BLOCKING=1 to find the kernel that "
              "raised it");
  TORCH_CHECK(rc == 0, "mmmamba ", op, ": CUDA kernel launch failed: "
              "cudaError ", rc, " (", mm_cuda_error_string(rc), ")");
}

const void* optional_ptr(const c10::optional<at::Tensor>& t) {
  return t.has_value() ? t->data_ptr() : nullptr;
}

// Neighborhood attention: query / value-like tensors B × heads × H × W × C.
MMNAParams na_params(const at::Tensor& x, int64_t Kh, int64_t Kw, int64_t dh,
                     int64_t dw) {
  expect_window(x.size(2), x.size(3), Kh, Kw, dh, dw);
  return MMNAParams{x.size(0), x.size(1), x.size(2), x.size(3), x.size(4),
                    (int)Kh,   (int)Kw,   (int)dh,   (int)dw};
}

std::vector<int64_t> attn_sizes(const at::Tensor& x, int64_t Kh, int64_t Kw) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), Kh * Kw};
}

void expect_rpb(const at::Tensor& rpb, const at::Tensor& q, int64_t Kh,
                int64_t Kw) {
  expect(rpb, "rpb", acc_dtype(q), q.device(),
         {q.size(1), 2 * Kh - 1, 2 * Kw - 1});
}

at::Tensor cuda_na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                                const c10::optional<at::Tensor>& rpb,
                                int64_t Kh, int64_t Kw, int64_t dh, int64_t dw,
                                int64_t stream) {
  expect_lead(q, "query", 5);
  expect(k, "key", q.scalar_type(), q.device(), q.sizes());
  if (rpb.has_value()) expect_rpb(*rpb, q, Kh, Kw);
  const MMNAParams p = na_params(q, Kh, Kw, dh, dw);
  auto attn = at::empty(attn_sizes(q, Kh, Kw), q.options());
  check_launch(mm_na2d_qk_forward(&p, mm_dtype(q, "query"), q.data_ptr(),
                                  k.data_ptr(), optional_ptr(rpb),
                                  attn.data_ptr(), as_stream(stream)),
               "na2d_qk_forward");
  return attn;
}

// Returns dq, dk (T) and drpb (acc, undefined without rpb).
std::vector<at::Tensor> cuda_na2d_qk_backward(
    const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k,
    bool with_rpb, int64_t Kh, int64_t Kw, int64_t dh, int64_t dw,
    int64_t stream) {
  expect_lead(q, "query", 5);
  expect(k, "key", q.scalar_type(), q.device(), q.sizes());
  expect(grad, "grad", q.scalar_type(), q.device(), attn_sizes(q, Kh, Kw));
  const MMNAParams p = na_params(q, Kh, Kw, dh, dw);
  auto dq = at::empty_like(q), dk = at::empty_like(k);
  at::Tensor part;  // batch × heads × tiles × (2Kh-1) × (2Kw-1) partial sums
  if (with_rpb)
    part = at::zeros({q.size(0), q.size(1), mm_na2d_rpb_tiles(&p),
                      2 * Kh - 1, 2 * Kw - 1},
                     q.options().dtype(acc_dtype(q)));
  check_launch(mm_na2d_qk_backward(&p, mm_dtype(q, "query"), grad.data_ptr(),
                                   q.data_ptr(), k.data_ptr(), dq.data_ptr(),
                                   dk.data_ptr(),
                                   with_rpb ? part.data_ptr() : nullptr,
                                   as_stream(stream)),
               "na2d_qk_backward");
  at::Tensor drpb;
  if (with_rpb) drpb = part.sum({0, 2});
  return {dq, dk, drpb};
}

at::Tensor cuda_na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                                int64_t Kh, int64_t Kw, int64_t dh, int64_t dw,
                                int64_t stream) {
  expect_lead(v, "value", 5);
  expect(attn, "attn", v.scalar_type(), v.device(), attn_sizes(v, Kh, Kw));
  const MMNAParams p = na_params(v, Kh, Kw, dh, dw);
  auto out = at::empty_like(v);
  check_launch(mm_na2d_av_forward(&p, mm_dtype(v, "value"), attn.data_ptr(),
                                  v.data_ptr(), out.data_ptr(),
                                  as_stream(stream)),
               "na2d_av_forward");
  return out;
}

std::vector<at::Tensor> cuda_na2d_av_backward(const at::Tensor& grad,
                                              const at::Tensor& attn,
                                              const at::Tensor& v, int64_t Kh,
                                              int64_t Kw, int64_t dh,
                                              int64_t dw, int64_t stream) {
  expect_lead(v, "value", 5);
  expect(attn, "attn", v.scalar_type(), v.device(), attn_sizes(v, Kh, Kw));
  expect(grad, "grad", v.scalar_type(), v.device(), v.sizes());
  const MMNAParams p = na_params(v, Kh, Kw, dh, dw);
  auto dattn = at::empty_like(attn), dv = at::empty_like(v);
  check_launch(mm_na2d_av_backward(&p, mm_dtype(v, "value"), grad.data_ptr(),
                                   attn.data_ptr(), v.data_ptr(),
                                   dattn.data_ptr(), dv.data_ptr(),
                                   as_stream(stream)),
               "na2d_av_backward");
  return {dattn, dv};
}

// Selective scan: u, delta: T batch × D × L; A: acc D × N; B: T
// batch × N × L; bias: acc D or None.
MMScanParams scan_params(const at::Tensor& u, const at::Tensor& delta,
                         const at::Tensor& A, const at::Tensor& B,
                         const c10::optional<at::Tensor>& bias,
                         bool softplus) {
  expect_lead(u, "u", 3);
  const int64_t batch = u.size(0), D = u.size(1), L = u.size(2);
  TORCH_CHECK(A.dim() == 2, "A must be (D, N), got ", A.sizes());
  const int64_t N = A.size(1);
  expect(delta, "delta", u.scalar_type(), u.device(), u.sizes());
  expect(A, "A", acc_dtype(u), u.device(), {D, N});
  expect(B, "B", u.scalar_type(), u.device(), {batch, N, L});
  if (bias.has_value())
    expect(*bias, "delta_bias", acc_dtype(u), u.device(), {D});
  TORCH_CHECK(batch > 0 && D > 0 && N > 0 && L > 0, "selective scan sizes "
              "must be positive, got u ", u.sizes(), " and A ", A.sizes());
  return MMScanParams{batch, D, N, L, softplus ? 1 : 0};
}

// The chunk summaries the scan kernels exchange: batch × D × N × chunks × 2.
at::Tensor scan_workspace(const MMScanParams& p, const at::Tensor& u) {
  return at::empty({p.batch, p.channels, p.state,
                    mm_selective_scan_chunks(p.length), 2},
                   u.options().dtype(acc_dtype(u)));
}

at::Tensor cuda_selective_scan_forward(const at::Tensor& u,
                                       const at::Tensor& delta,
                                       const at::Tensor& A,
                                       const at::Tensor& B,
                                       const c10::optional<at::Tensor>& bias,
                                       bool softplus, int64_t stream) {
  const MMScanParams p = scan_params(u, delta, A, B, bias, softplus);
  auto h = at::empty({p.batch, p.channels, p.state, p.length},
                     u.options().dtype(acc_dtype(u)));
  auto summary = scan_workspace(p, u);
  check_launch(mm_selective_scan_forward(
                   &p, mm_dtype(u, "u"), u.data_ptr(), delta.data_ptr(),
                   A.data_ptr(), B.data_ptr(), optional_ptr(bias),
                   h.data_ptr(), summary.data_ptr(), as_stream(stream)),
               "selective_scan_forward");
  return h;
}

// Returns du, ddelta, dA, dB and dbias (undefined without bias), all acc.
std::vector<at::Tensor> cuda_selective_scan_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus, int64_t stream) {
  const MMScanParams p = scan_params(u, delta, A, B, bias, softplus);
  const std::vector<int64_t> states{p.batch, p.channels, p.state, p.length};
  const at::ScalarType acc = acc_dtype(u);
  expect(grad, "grad", acc, u.device(), states);
  expect(h, "h", acc, u.device(), states);
  const auto opts = u.options().dtype(acc);
  // every element is written by the thread that owns it (no zero-fill)
  auto du = at::empty(u.sizes(), opts), ddelta = at::empty(u.sizes(), opts);
  auto dA_part = at::empty({p.batch, p.channels, p.state,
                            mm_selective_scan_chunks(p.length)}, opts);
  auto dB_part = at::empty(states, opts);
  auto summary = scan_workspace(p, u);
  check_launch(mm_selective_scan_backward(
                   &p, mm_dtype(u, "u"), grad.data_ptr(), h.data_ptr(),
                   u.data_ptr(), delta.data_ptr(), A.data_ptr(),
                   B.data_ptr(), optional_ptr(bias), du.data_ptr(),
                   ddelta.data_ptr(), dA_part.data_ptr(), dB_part.data_ptr(),
                   summary.data_ptr(), as_stream(stream)),
               "selective_scan_backward");
  at::Tensor dbias;
  if (bias.has_value()) dbias = ddelta.sum({0, 2});
  return {du, ddelta, dA_part.sum({0, 3}), dB_part.sum(1), dbias};
}

// A2SSM aggregation: states B × G × d × H × W, maps B × G/2 × Hp × Wp × K²,
// all T.
MMAggParams aggregate_params(const at::Tensor& attn_local,
                             const at::Tensor& attn_dilated,
                             const at::Tensor& states, int64_t K, int64_t dh,
                             int64_t dw) {
  expect_lead(states, "states", 5);
  TORCH_CHECK(states.size(1) % 2 == 0, "states must have an even number of "
              "heads, got ", states.size(1));
  TORCH_CHECK(attn_local.dim() == 5, "attn_local must be (B, G/2, Hp, Wp, "
              "K*K), got ", attn_local.sizes());
  const int64_t Hp = attn_local.size(2), Wp = attn_local.size(3);
  const std::vector<int64_t> maps{states.size(0), states.size(1) / 2, Hp, Wp,
                                  K * K};
  expect(attn_local, "attn_local", states.scalar_type(), states.device(),
         maps);
  expect(attn_dilated, "attn_dilated", states.scalar_type(), states.device(),
         maps);
  TORCH_CHECK(Hp >= states.size(3) && Wp >= states.size(4), "the attention "
              "maps (", Hp, "x", Wp, ") must cover the states (",
              states.size(3), "x", states.size(4), ")");
  expect_window(Hp, Wp, K, K, 1, 1);
  expect_window(Hp, Wp, K, K, dh, dw);
  return MMAggParams{states.size(0), states.size(1), states.size(2),
                     states.size(3), states.size(4), Hp, Wp, (int)K,
                     (int)dh, (int)dw};
}

at::Tensor cuda_a2ssm_aggregate_forward(const at::Tensor& attn_local,
                                        const at::Tensor& attn_dilated,
                                        const at::Tensor& states, int64_t K,
                                        int64_t dh, int64_t dw,
                                        int64_t stream) {
  const MMAggParams p =
      aggregate_params(attn_local, attn_dilated, states, K, dh, dw);
  auto out = at::empty_like(states);
  check_launch(mm_a2ssm_aggregate_forward(
                   &p, mm_dtype(states, "states"), attn_local.data_ptr(),
                   attn_dilated.data_ptr(), states.data_ptr(), out.data_ptr(),
                   as_stream(stream)),
               "a2ssm_aggregate_forward");
  return out;
}

// Returns dattn_local, dattn_dilated and dstates, all T.
std::vector<at::Tensor> cuda_a2ssm_aggregate_backward(
    const at::Tensor& grad, const at::Tensor& attn_local,
    const at::Tensor& attn_dilated, const at::Tensor& states, int64_t K,
    int64_t dh, int64_t dw, int64_t stream) {
  const MMAggParams p =
      aggregate_params(attn_local, attn_dilated, states, K, dh, dw);
  expect(grad, "grad", states.scalar_type(), states.device(), states.sizes());
  auto dlocal = at::empty_like(attn_local);
  auto ddilated = at::empty_like(attn_dilated);
  auto dstates = at::empty_like(states);
  check_launch(mm_a2ssm_aggregate_backward(
                   &p, mm_dtype(states, "states"), grad.data_ptr(),
                   attn_local.data_ptr(), attn_dilated.data_ptr(),
                   states.data_ptr(), dlocal.data_ptr(), ddilated.data_ptr(),
                   dstates.data_ptr(), as_stream(stream)),
               "a2ssm_aggregate_backward");
  return {dlocal, ddilated, dstates};
}

}  // namespace

void add_cuda_ops(pybind11::module_& m) {
  using pybind11::arg;
  m.def("cuda_kernel_image_status", &mm_cuda_kernel_image_status,
        "0 if the kernels have an image for the current device, else the "
        "cudaError of the query");
  m.def("cuda_error_string", &mm_cuda_error_string, arg("code"));
  m.def("cuda_selective_scan_chunks", &mm_selective_scan_chunks,
        arg("length"), "chunks the CUDA scan cuts a sequence into");
  m.def("cuda_na2d_qk_forward", &cuda_na2d_qk_forward, arg("query"),
        arg("key"), arg("rpb"), arg("kernel_h"), arg("kernel_w"),
        arg("dilation_h"), arg("dilation_w"), arg("stream"));
  m.def("cuda_na2d_qk_backward", &cuda_na2d_qk_backward, arg("grad"),
        arg("query"), arg("key"), arg("with_rpb"), arg("kernel_h"),
        arg("kernel_w"), arg("dilation_h"), arg("dilation_w"), arg("stream"));
  m.def("cuda_na2d_av_forward", &cuda_na2d_av_forward, arg("attn"),
        arg("value"), arg("kernel_h"), arg("kernel_w"), arg("dilation_h"),
        arg("dilation_w"), arg("stream"));
  m.def("cuda_na2d_av_backward", &cuda_na2d_av_backward, arg("grad"),
        arg("attn"), arg("value"), arg("kernel_h"), arg("kernel_w"),
        arg("dilation_h"), arg("dilation_w"), arg("stream"));
  m.def("cuda_selective_scan_forward", &cuda_selective_scan_forward,
        arg("u"), arg("delta"), arg("A"), arg("B"), arg("delta_bias"),
        arg("softplus"), arg("stream"));
  m.def("cuda_selective_scan_backward", &cuda_selective_scan_backward,
        arg("grad"), arg("h"), arg("u"), arg("delta"), arg("A"), arg("B"),
        arg("delta_bias"), arg("softplus"), arg("stream"));
  m.def("cuda_a2ssm_aggregate_forward", &cuda_a2ssm_aggregate_forward,
        arg("attn_local"), arg("attn_dilated"), arg("states"),
        arg("kernel_size"), arg("dilation_h"), arg("dilation_w"),
        arg("stream"));
  m.def("cuda_a2ssm_aggregate_backward", &cuda_a2ssm_aggregate_backward,
        arg("grad"), arg("attn_local"), arg("attn_dilated"), arg("states"),
        arg("kernel_size"), arg("dilation_h"), arg("dilation_w"),
        arg("stream"));
}

#endif  // MMMAMBA_WITH_CUDA || MMMAMBA_CUDA_HOST

