#include "src/dispatch.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "routemat/routemat.h"
#include "src/cpu_features.hpp"
#include "src/error.hpp"

namespace routemat {

// One `namespace isa_<name> { extern const kernel_table table; }` per ISA
// compiled into this build, from the list in cmake/isa.cmake.
#define ROUTEMAT_ISA(ns, id)                                                       \
  namespace ns {                                                                   \
  extern const kernel_table table; /* NOLINT(readability-redundant-declaration) */ \
  }
#include "routemat_isa_list.inc"
#undef ROUTEMAT_ISA

namespace {

struct compiled_isa {
  routemat_isa isa;
  const kernel_table* table;
};

// Ordered from least to most preferred.
constexpr compiled_isa compiled[] = {
#define ROUTEMAT_ISA(ns, id) {id, &ns::table},
#include "routemat_isa_list.inc"
#undef ROUTEMAT_ISA
};

constexpr const char* isa_names[] = {"scalar", "sse4_2", "avx2", "avx512", "neon"};

const compiled_isa* find_compiled(routemat_isa isa) noexcept {
  for (const compiled_isa& c : compiled)
    if (c.isa == isa) return &c;
  return nullptr;
}

bool runnable(routemat_isa isa) noexcept { return find_compiled(isa) && cpu_runs(isa); }

std::string runnable_list() {
  std::string list;
  for (const compiled_isa& c : compiled) {
    if (!cpu_runs(c.isa)) continue;
    if (!list.empty()) list += ", ";
    list += isa_names[c.isa];
  }
  return list;
}

class dispatcher {
 public:
  dispatcher() {
    const compiled_isa* best = &compiled[0];
    for (const compiled_isa& c : compiled)
      if (cpu_runs(c.isa)) best = &c;
    const char* forced = std::getenv("ROUTEMAT_ISA");
    if (forced == nullptr || forced[0] == '\0') {
      activate(*best);
      return;
    }
    for (const compiled_isa& c : compiled) {
      if (std::strcmp(forced, isa_names[c.isa]) != 0) continue;
      if (cpu_runs(c.isa)) {
        activate(c);
        return;
      }
      env_error_ = "ROUTEMAT_ISA=" + std::string(forced) +
                   " cannot run on this CPU/OS; it runs: " + runnable_list();
      return;
    }
    env_error_ = "ROUTEMAT_ISA=" + std::string(forced) +
                 " is not an ISA of this build; choose one of: " + runnable_list();
  }

  const kernel_table* table() const noexcept {
    const kernel_table* t = table_.load(std::memory_order_acquire);
    if (t == nullptr) fail(ROUTEMAT_ERROR_UNSUPPORTED_ISA, "%s", env_error_.c_str());
    return t;
  }
  routemat_isa isa() const noexcept { return isa_.load(std::memory_order_acquire); }
  void activate(const compiled_isa& c) noexcept {
    isa_.store(c.isa, std::memory_order_release);
    table_.store(c.table, std::memory_order_release);
  }

 private:
  std::atomic<const kernel_table*> table_{nullptr};
  std::atomic<routemat_isa> isa_{ROUTEMAT_ISA_SCALAR};
  std::string env_error_;
};

dispatcher& the_dispatcher() {
  static dispatcher d;
  return d;
}

}  // namespace

const kernel_table* active_kernels() noexcept { return the_dispatcher().table(); }

}  // namespace routemat

using routemat::the_dispatcher;

extern "C" routemat_status routemat_active_isa(routemat_isa* out) {
  if (out == nullptr) return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  if (the_dispatcher().table() == nullptr) return ROUTEMAT_ERROR_UNSUPPORTED_ISA;
  *out = the_dispatcher().isa();
  return ROUTEMAT_OK;
}

extern "C" routemat_status routemat_select_isa(routemat_isa isa) {
  const char* name = routemat_isa_name(isa);
  if (name == nullptr)
    return routemat::fail(ROUTEMAT_ERROR_INVALID_ARGUMENT, "unknown ISA value %d",
                          static_cast<int>(isa));
  const routemat::compiled_isa* c = routemat::find_compiled(isa);
  if (c == nullptr || !routemat::cpu_runs(isa))
    return routemat::fail(ROUTEMAT_ERROR_UNSUPPORTED_ISA, "ISA %s cannot run here; it runs: %s",
                          name, routemat::runnable_list().c_str());
  the_dispatcher().activate(*c);
  return ROUTEMAT_OK;
}

extern "C" int routemat_isa_supported(routemat_isa isa) { return routemat::runnable(isa) ? 1 : 0; }

extern "C" const char* routemat_isa_name(routemat_isa isa) {
  const auto i = static_cast<unsigned>(isa);
  return i < sizeof routemat::isa_names / sizeof routemat::isa_names[0] ? routemat::isa_names[i]
                                                                        : nullptr;
}
