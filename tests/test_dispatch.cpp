// Runtime dispatch: the best runnable ISA by default, ROUTEMAT_ISA lowers it,
// an unknown or unrunnable name is refused (never a silent fallback).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "routemat/routemat.hpp"

namespace {

const routemat::isa all_isas[] = {routemat::isa::scalar, routemat::isa::sse4_2, routemat::isa::avx2,
                                  routemat::isa::avx512, routemat::isa::neon};

bool is_isa_name(const char* name) {
  for (routemat::isa i : all_isas)
    if (std::strcmp(name, routemat::isa_name(i)) == 0) return true;
  return false;
}

// Restores the active ISA when a test case that selects others ends.
struct isa_restorer {
  routemat::isa saved = routemat::active_isa();
  ~isa_restorer() { routemat::select_isa(saved); }
};

void gather_branching_example() {
  const std::vector<std::int32_t> idx{2, 0, 1, 0, 2, 1, 2, 0, 1, 0, 2, 1, 2, 0, 1, 0, 2};
  routemat::map g(17, 3, idx.data());
  std::vector<float> u{1, 2, 3}, y(17);
  routemat::gather(g, routemat::rows_view<float>(u.data(), 3, 1),
                   routemat::rows_view<float>(y.data(), 17, 1));
  for (std::size_t i = 0; i < idx.size(); ++i) CHECK(y[i] == u[static_cast<std::size_t>(idx[i])]);
}

}  // namespace

TEST_CASE("the active ISA is the forced one, or the best runnable one") {
  const char* forced = std::getenv("ROUTEMAT_ISA");
  if (forced != nullptr && !is_isa_name(forced)) return;  // see the unknown-name case below
  const routemat::isa active = routemat::active_isa();
  routemat_isa from_c = ROUTEMAT_ISA_SCALAR;
  REQUIRE(routemat_active_isa(&from_c) == ROUTEMAT_OK);
  CHECK(static_cast<int>(from_c) == static_cast<int>(active));
  if (forced != nullptr) {
    CHECK(std::string(routemat::isa_name(active)) == forced);
  } else {
    routemat::isa best = routemat::isa::scalar;
    for (routemat::isa i : all_isas)
      if (routemat::isa_supported(i)) best = i;
    CHECK(active == best);
  }
  CHECK(routemat::isa_supported(active));
  CHECK(routemat::isa_supported(routemat::isa::scalar));
}

TEST_CASE("an unknown ROUTEMAT_ISA value is refused by every call until an ISA is selected") {
  const char* forced = std::getenv("ROUTEMAT_ISA");
  if (forced == nullptr || is_isa_name(forced)) {
    MESSAGE("not applicable: run with ROUTEMAT_ISA set to an unknown name (ctest does)");
    return;
  }
  try {
    routemat::active_isa();
    FAIL("active_isa() accepted ROUTEMAT_ISA=" << forced);
  } catch (const routemat::error& e) {
    CHECK(e.code() == routemat::status::unsupported_isa);
    CHECK(std::string(e.what()).find(std::string("ROUTEMAT_ISA=") + forced) != std::string::npos);
  }
  const std::vector<std::int32_t> idx{1, 0};
  routemat::map g(2, 2, idx.data());
  std::vector<float> u{1, 2}, y{7, 7};
  const routemat_rows src{u.data(), 2, 1, 1, ROUTEMAT_F32}, dst{y.data(), 2, 1, 1, ROUTEMAT_F32};
  CHECK(routemat_gather(g.native_handle(), &src, &dst) == ROUTEMAT_ERROR_UNSUPPORTED_ISA);
  CHECK(std::string(routemat_last_error()).find(forced) != std::string::npos);
  CHECK(y == std::vector<float>{7, 7});

  routemat::select_isa(routemat::isa::scalar);
  CHECK(routemat::active_isa() == routemat::isa::scalar);
  gather_branching_example();
}

TEST_CASE("select_isa runs every supported ISA and refuses the others") {
  const char* forced = std::getenv("ROUTEMAT_ISA");
  if (forced != nullptr && !is_isa_name(forced)) return;
  isa_restorer restore;
  for (routemat::isa i : all_isas) {
    CAPTURE(routemat::isa_name(i));
    if (routemat::isa_supported(i)) {
      routemat::select_isa(i);
      CHECK(routemat::active_isa() == i);
      gather_branching_example();
    } else {
      try {
        routemat::select_isa(i);
        FAIL("select_isa accepted an ISA this CPU cannot run");
      } catch (const routemat::error& e) {
        CHECK(e.code() == routemat::status::unsupported_isa);
        CHECK(std::string(e.what()).find(routemat::isa_name(i)) != std::string::npos);
      }
    }
  }
  CHECK(routemat_select_isa(static_cast<routemat_isa>(99)) == ROUTEMAT_ERROR_INVALID_ARGUMENT);
  CHECK(routemat_isa_name(static_cast<routemat_isa>(99)) == nullptr);
}
