// Every Python binding of the two extension modules, compiled into each:
// - mmmamba._C: the CPU kernels (csrc/<op>/cpu.cpp) and has_cuda; with
//   MMMAMBA_WITH_CUDA also the cuda_* wrappers of the CUDA launchers
//   (csrc/<op>/cuda_wrappers.cpp over the nvcc build of csrc/**/*.cu);
// - mmmamba._C_cuda_host (MMMAMBA_CUDA_HOST): the cuda_* wrappers only,
//   over the same kernels compiled by the host compiler with the CUDA
//   emulation (csrc/cuda_host/): the `cuda_host` test backend, a separate
//   module so that mmmamba._C stays lean.
// The only translation unit with the pybind11 / torch extension headers.
#include <torch/extension.h>

#include "a2ssm_aggregate/ops.h"
#include "common/isa.h"
#include "depthwise_conv2d/ops.h"
#include "neighborhood/ops.h"
#include "selective_scan/ops.h"

#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)
#include "cuda/launchers.h"
#include "selective_scan/cuda_launchers.h"
#endif

namespace {

using pybind11::arg;

#ifndef MMMAMBA_CUDA_HOST
bool has_cuda() {
#ifdef MMMAMBA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::vector<std::string> supported_cpu_isas() {
  namespace cpu = mmmamba::cpu;
  std::vector<std::string> names;
  for (cpu::Isa isa : {cpu::Isa::kAvx512, cpu::Isa::kAvx2, cpu::Isa::kBaseline})
    if (cpu::cpu_supports(isa)) names.push_back(cpu::isa_name(isa));
  return names;
}

void add_cpu_ops(pybind11::module_& m) {
  namespace cpu = mmmamba::cpu;
  // the instruction-set variant of the CPU kernels (common/isa.h)
  m.def("_cpu_isa", [] { return cpu::isa_name(cpu::cpu_isa()); });
  m.def("_cpu_isas", &supported_cpu_isas);
  m.def("_set_cpu_isa", &cpu::set_cpu_isa, arg("isa"));
  m.def("na2d_qk_forward", &cpu::na2d_qk_forward);
  m.def("na2d_qk_backward", &cpu::na2d_qk_backward);
  m.def("na2d_av_forward", &cpu::na2d_av_forward);
  m.def("na2d_av_backward", &cpu::na2d_av_backward);
  m.def("selective_scan_forward", &cpu::selective_scan_forward, arg("u"),
        arg("delta"), arg("A"), arg("B"), arg("delta_bias"), arg("softplus"));
  m.def("selective_scan_backward", &cpu::selective_scan_backward, arg("grad"),
        arg("h"), arg("u"), arg("delta"), arg("A"), arg("B"),
        arg("delta_bias"), arg("softplus"));
  m.def("a2ssm_aggregate_forward", &cpu::a2ssm_aggregate_forward);
  m.def("a2ssm_aggregate_backward", &cpu::a2ssm_aggregate_backward);
  m.def("depthwise_conv2d_forward", &cpu::depthwise_conv2d_forward, arg("x"),
        arg("weight"), arg("bias"), arg("residual"));
  m.def("depthwise_conv2d_backward", &cpu::depthwise_conv2d_backward,
        arg("grad"), arg("x"), arg("weight"), arg("residual"));
  m.def("has_cuda", &has_cuda,
        "True when the CUDA launchers were compiled and linked in");
}
#endif  // !MMMAMBA_CUDA_HOST

#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)
void add_cuda_ops(pybind11::module_& m) {
  namespace cuda = mmmamba::cuda;
  m.def("cuda_kernel_image_status", &mm_cuda_kernel_image_status,
        "0 if the kernels have an image for the current device, else the "
        "cudaError of the query");
  m.def("cuda_error_string", &mm_cuda_error_string, arg("code"));
  m.def("cuda_selective_scan_chunks", &mm_selective_scan_chunks,
        arg("length"), "chunks the CUDA scan cuts a sequence into");
  m.def("cuda_na2d_qk_forward", &cuda::na2d_qk_forward, arg("query"),
        arg("key"), arg("rpb"), arg("kernel_h"), arg("kernel_w"),
        arg("dilation_h"), arg("dilation_w"), arg("stream"));
  m.def("cuda_na2d_qk_backward", &cuda::na2d_qk_backward, arg("grad"),
        arg("query"), arg("key"), arg("with_rpb"), arg("kernel_h"),
        arg("kernel_w"), arg("dilation_h"), arg("dilation_w"), arg("stream"));
  m.def("cuda_na2d_av_forward", &cuda::na2d_av_forward, arg("attn"),
        arg("value"), arg("kernel_h"), arg("kernel_w"), arg("dilation_h"),
        arg("dilation_w"), arg("stream"));
  m.def("cuda_na2d_av_backward", &cuda::na2d_av_backward, arg("grad"),
        arg("attn"), arg("value"), arg("kernel_h"), arg("kernel_w"),
        arg("dilation_h"), arg("dilation_w"), arg("stream"));
  m.def("cuda_selective_scan_forward", &cuda::selective_scan_forward,
        arg("u"), arg("delta"), arg("A"), arg("B"), arg("delta_bias"),
        arg("softplus"), arg("stream"));
  m.def("cuda_selective_scan_backward", &cuda::selective_scan_backward,
        arg("grad"), arg("h"), arg("u"), arg("delta"), arg("A"), arg("B"),
        arg("delta_bias"), arg("softplus"), arg("stream"));
  m.def("cuda_a2ssm_aggregate_forward", &cuda::a2ssm_aggregate_forward,
        arg("attn_local"), arg("attn_dilated"), arg("states"),
        arg("kernel_size"), arg("dilation_h"), arg("dilation_w"),
        arg("stream"));
  m.def("cuda_a2ssm_aggregate_backward", &cuda::a2ssm_aggregate_backward,
        arg("grad"), arg("attn_local"), arg("attn_dilated"), arg("states"),
        arg("kernel_size"), arg("dilation_h"), arg("dilation_w"),
        arg("stream"));
  m.def("cuda_depthwise_conv2d_forward", &cuda::depthwise_conv2d_forward,
        arg("x"), arg("weight"), arg("bias"), arg("residual"), arg("stream"));
  m.def("cuda_depthwise_conv2d_backward", &cuda::depthwise_conv2d_backward,
        arg("grad"), arg("x"), arg("weight"), arg("residual"), arg("stream"));
}
#endif  // MMMAMBA_WITH_CUDA || MMMAMBA_CUDA_HOST

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#ifdef MMMAMBA_CUDA_HOST
  m.doc() = "mmmamba CUDA kernels run on the host (test backend cuda_host)";
#else
  m.doc() = "mmmamba compiled operators (CPU kernels)";
  add_cpu_ops(m);
#endif
#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)
  add_cuda_ops(m);
#endif
}
