// doctest main: skips the whole run (exit 77, ctest's SKIP_RETURN_CODE) when
// ROUTEMAT_ISA forces an ISA this build has but this CPU/OS cannot run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "routemat/routemat.h"

int main(int argc, char** argv) {
  const char* forced = std::getenv("ROUTEMAT_ISA");
  if (forced != nullptr) {
    for (int isa = ROUTEMAT_ISA_SCALAR; isa <= ROUTEMAT_ISA_NEON; ++isa) {
      const auto id = static_cast<routemat_isa>(isa);
      if (std::strcmp(forced, routemat_isa_name(id)) == 0 && !routemat_isa_supported(id)) {
        std::printf("skipped: ROUTEMAT_ISA=%s cannot run on this CPU/OS (or is not built)\n",
                    forced);
        return 77;
      }
    }
  }
  routemat_isa active = ROUTEMAT_ISA_SCALAR;
  if (routemat_active_isa(&active) == ROUTEMAT_OK)
    std::printf("routemat tests on ISA %s\n", routemat_isa_name(active));
  doctest::Context context(argc, argv);
  return context.run();
}
