// Per-instruction-set variants of the CPU kernels' inner loops and the
// choice between them, for every op (docs/design.md § CPU execution).
//
// A kernel writes its inner function once, as an MM_ALWAYS_INLINE body, and
// emits one wrapper per level with MM_FOR_EACH_ISA: name_avx512 (compiled
// for x86-64-v4), name_avx2 (x86-64-v3: AVX2 + FMA) and name_baseline (the
// build's flags), each a copy of the body compiled for its instruction set.
// MM_ISA_CALL(name, args...) calls the variant of cpu_isa(): the widest the
// CPU supports, unless MMMAMBA_CPU_ISA or _C._set_cpu_isa (tests, debugging)
// names another. One build thus runs on any x86-64 machine with its widest
// vectors, and every variant the machine supports can be run and tested.
// Elsewhere (other CPUs or compilers) the three are the same code and only
// baseline is supported.
#pragma once

#include <string>

namespace mmmamba {
namespace cpu {

enum class Isa : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2 };

// The variant the kernels run now (chosen on first use).
Isa cpu_isa();
// Whether this CPU can run the variant.
bool cpu_supports(Isa isa);
// "avx512", "avx2", "baseline", or "" for the widest supported; an unknown
// name or one the CPU lacks raises (c10::Error, a RuntimeError in Python).
void set_cpu_isa(const std::string& name);
std::string isa_name(Isa isa);

}  // namespace cpu
}  // namespace mmmamba

#if defined(__x86_64__) && \
    ((defined(__GNUC__) && __GNUC__ >= 11) || \
     (defined(__clang__) && __clang_major__ >= 14))
#define MM_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#define MM_TARGET_AVX2 __attribute__((target("arch=x86-64-v3")))
#else
#define MM_TARGET_AVX512
#define MM_TARGET_AVX2
#endif

// inlined into each variant, so each compiles it for its instruction set
#define MM_ALWAYS_INLINE __attribute__((always_inline)) inline

// X(target attribute, variant suffix) for each variant.
#define MM_FOR_EACH_ISA(X) \
  X(MM_TARGET_AVX512, avx512) X(MM_TARGET_AVX2, avx2) X(, baseline)

#define MM_ISA_CALL(name, ...)                                     \
  switch (::mmmamba::cpu::cpu_isa()) {                             \
    case ::mmmamba::cpu::Isa::kAvx512:                             \
      return name##_avx512(__VA_ARGS__);                           \
    case ::mmmamba::cpu::Isa::kAvx2:                               \
      return name##_avx2(__VA_ARGS__);                             \
    default:                                                       \
      return name##_baseline(__VA_ARGS__);                         \
  }
