// The instruction-set variant the CPU kernels run (common/isa.h).
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>

#include "isa.h"

namespace mmmamba {
namespace cpu {
namespace {

constexpr int kUnset = -1;
std::atomic<int> active{kUnset};

Isa widest_supported() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2})
    if (cpu_supports(isa)) return isa;
  return Isa::kBaseline;
}

Isa parse(const std::string& name, const char* source) {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kBaseline})
    if (name == isa_name(isa)) {
      TORCH_CHECK(cpu_supports(isa), source, ": the CPU lacks ", name,
                  " (it supports up to ", isa_name(widest_supported()), ")");
      return isa;
    }
  TORCH_CHECK(false, source, ": unknown instruction set '", name,
              "'; choose avx512, avx2 or baseline");
}

}  // namespace

std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "baseline";
  }
}

bool cpu_supports(Isa isa) {
  if (isa == Isa::kBaseline) return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  return isa == Isa::kAvx512 ? __builtin_cpu_supports("x86-64-v4")
                             : __builtin_cpu_supports("x86-64-v3");
#else
  return false;
#endif
}

Isa cpu_isa() {
  int isa = active.load(std::memory_order_relaxed);
  if (isa == kUnset) {
    const char* env = std::getenv("MMMAMBA_CPU_ISA");
    const Isa chosen = env && *env ? parse(env, "MMMAMBA_CPU_ISA")
                                   : widest_supported();
    isa = static_cast<int>(chosen);
    active.store(isa, std::memory_order_relaxed);
  }
  return static_cast<Isa>(isa);
}

void set_cpu_isa(const std::string& name) {
  const Isa isa = name.empty() ? widest_supported()
                               : parse(name, "_set_cpu_isa");
  active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace cpu
}  // namespace mmmamba
