#include "src/cpu_features.hpp"

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace routemat {
namespace {

#if defined(__x86_64__) || defined(__i386__)
struct x86_features {
  bool sse4_2 = false, avx2_fma = false, avx512f = false;
};

// XCR0: which register states the OS saves on a context switch.
std::uint64_t read_xcr0() noexcept {
  std::uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
}

x86_features detect_x86() noexcept {
  x86_features f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  f.sse4_2 = (ecx >> 20) & 1u;
  const bool fma = (ecx >> 12) & 1u, osxsave = (ecx >> 27) & 1u, avx = (ecx >> 28) & 1u;
  const bool f16c = (ecx >> 29) & 1u;  // the avx2 kernels convert f16 with it
  if (!(osxsave && avx)) return f;
  const std::uint64_t xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // XMM and YMM state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;  // plus opmask and both ZMM halves
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool avx2 = (ebx >> 5) & 1u, avx512f = (ebx >> 16) & 1u;
  f.avx2_fma = os_ymm && avx2 && fma && f16c;
  f.avx512f = os_zmm && f.avx2_fma && avx512f;
  return f;
}
#endif

}  // namespace

bool cpu_runs(routemat_isa isa) noexcept {
  switch (isa) {
    case ROUTEMAT_ISA_SCALAR: return true;
#if defined(__x86_64__) || defined(__i386__)
    case ROUTEMAT_ISA_SSE4_2: return detect_x86().sse4_2;
    case ROUTEMAT_ISA_AVX2: return detect_x86().avx2_fma;
    case ROUTEMAT_ISA_AVX512: return detect_x86().avx512f;
#elif defined(__aarch64__)
    case ROUTEMAT_ISA_NEON: return true;  // Advanced SIMD is mandatory on AArch64
#endif
    default: return false;
  }
}

}  // namespace routemat
