// The bad-input catalogue of bags: bag boundaries (offsets[0] != 0, offsets
// that decrease, offsets[B] != m, bag sizes that do not divide m), per-route
// arrays of the wrong length, views of the wrong shape or type, outputs that
// overlap inputs, a plan of another map and unknown reductions. Each is refused
// with its exact status and message, and writes no output byte.
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bad_input_support.hpp"
#include "routemat/routemat.h"
#include "routemat/routemat.hpp"

using namespace bad_input;

namespace {

// The value a refused routemat_bags_create must leave in *out.
routemat_bags* untouched_bags() {
  static int marker = 0;
  return reinterpret_cast<routemat_bags*>(&marker);
}

// RAII for a bags object created through the C ABI.
struct c_bags {
  routemat_bags* handle = nullptr;
  c_bags() = default;
  c_bags(const c_bags&) = delete;
  c_bags& operator=(const c_bags&) = delete;
  ~c_bags() { routemat_bags_destroy(handle); }
};

// routemat_bags_create over these offsets fails and leaves *out alone.
template <class O>
void check_offsets_refused(const routemat_map* map, const std::vector<O>& offsets,
                           routemat_status want_status, const std::string& want_message) {
  routemat_bags* out = untouched_bags();
  CHECK_FAILS(routemat_bags_create(&out, map, static_cast<std::int64_t>(offsets.size()) - 1,
                                   offsets.data(), index_type_of<O>()),
              want_status, want_message);
  CHECK(out == untouched_bags());
}

// A routing of m = 6 routes into n = 4 rows (route 2 dropped) in 3 bags of 2,
// and rows of width 3 for every view the bag calls take.
struct bag_fixture {
  static constexpr std::int64_t m = 6, n = 4, bags = 3, d = 3;
  std::vector<std::int64_t> idx{3, 0, -1, 1, 2, 3};
  routemat::map map{m, n, idx.data(), routemat::drop::allow};
  routemat::bags fixed = routemat::bags::fixed(map, 2);
  guarded<float> u{n * d}, y{bags * d}, dy{bags * d}, du{n * d}, w{m}, dw{m};

  bag_fixture() {
    u.fill_values();
    dy.fill_values();
    w.fill_values();
  }
  bool outputs_untouched() const { return y.untouched() && du.untouched() && dw.untouched(); }
};

}  // namespace

TEST_CASE_TEMPLATE("bad input: bag offsets that do not start at 0, decrease or miss m are refused",
                   O, std::int32_t, std::int64_t) {
  const std::vector<std::int64_t> idx{0, 1, 2, 0, 1};
  const routemat::map g(5, 3, idx.data());
  check_offsets_refused(g.native_handle(), std::vector<O>{1, 3, 5}, ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets[0] is 1; the first bag must start at route 0");
  check_offsets_refused(g.native_handle(), std::vector<O>{-1, 3, 5},
                        ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets[0] is -1; the first bag must start at route 0");
  check_offsets_refused(g.native_handle(), std::vector<O>{0, 3, 2, 5},
                        ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets decrease at bag 1: offsets[1] = 3 > offsets[2] = 2");
  check_offsets_refused(g.native_handle(), std::vector<O>{0, 2, 4}, ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets[2] is 4; the last bag must end at the map's rows m = 5");
  check_offsets_refused(g.native_handle(), std::vector<O>{0, 2, 6}, ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets[2] is 6; the last bag must end at the map's rows m = 5");
  // A bag past m cannot hide behind a later one that comes back to m.
  check_offsets_refused(g.native_handle(), std::vector<O>{0, 9, 5}, ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets decrease at bag 1: offsets[1] = 9 > offsets[2] = 5");
  // B = 0 needs m = 0.
  check_offsets_refused(g.native_handle(), std::vector<O>{0}, ROUTEMAT_ERROR_INVALID_ARGUMENT,
                        "offsets[0] is 0; the last bag must end at the map's rows m = 5");
  // The C++ API throws the same.
  const std::vector<O> backwards{0, 4, 3, 5};
  CHECK_THROWS_ROUTEMAT(routemat::bags(g, 3, backwards.data()), routemat::status::invalid_argument,
                        "offsets decrease at bag 1: offsets[1] = 4 > offsets[2] = 3");
}

TEST_CASE("bad input: bags_create refuses NULL out, map and offsets, negative B, unknown types") {
  const std::vector<std::int64_t> idx{0, 1};
  const routemat::map g(2, 2, idx.data());
  const std::int64_t offsets[2] = {0, 2};
  routemat_bags* out = untouched_bags();
  CHECK_FAILS(routemat_bags_create(nullptr, g.native_handle(), 1, offsets, ROUTEMAT_INT64),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK_FAILS(routemat_bags_create(&out, nullptr, 1, offsets, ROUTEMAT_INT64),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "map is NULL");
  CHECK_FAILS(routemat_bags_create(&out, g.native_handle(), -1, offsets, ROUTEMAT_INT64),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "bags -1 is negative");
  CHECK_FAILS(routemat_bags_create(&out, g.native_handle(), 1, nullptr, ROUTEMAT_INT64),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "offsets is NULL with 1 bags (it has bags + 1 values)");
  for (const int type : {2, -1, INT32_MIN, INT32_MAX}) {
    CAPTURE(type);
    routemat_index_type raw;
    std::memcpy(&raw, &type, sizeof raw);
    CHECK_FAILS(routemat_bags_create(&out, g.native_handle(), 1, offsets, raw),
                ROUTEMAT_ERROR_INVALID_ARGUMENT,
                cat("offset type ", type, " is neither ROUTEMAT_INT32 nor ROUTEMAT_INT64"));
  }
  CHECK(out == untouched_bags());
}

TEST_CASE("bad input: a bag count whose tables overflow is refused before offsets are read") {
  // Found by the fuzzer: B = INT64_MAX overflowed computing B + 1. Only 2
  // offsets exist here; a refused B must be refused before any is read.
  const std::vector<std::int64_t> idx{0, 1};
  const routemat::map g(2, 2, idx.data());
  const std::int64_t offsets[2] = {0, 2};
  routemat_bags* out = untouched_bags();
  for (const std::int64_t bags :
       {std::int64_t{INT64_MAX}, std::int64_t{INT64_MAX / 2}, std::int64_t{INT64_MAX / 16}}) {
    CAPTURE(bags);
    CHECK_FAILS(routemat_bags_create(&out, g.native_handle(), bags, offsets, ROUTEMAT_INT64),
                ROUTEMAT_ERROR_OVERFLOW, cat(bags, " bags over 2 routes do not fit in memory"));
  }
  CHECK(out == untouched_bags());
}

TEST_CASE("bad input: fixed bags need a size of at least 1 that divides m") {
  const std::vector<std::int32_t> idx{0, 1, 2, 0, 1};
  const routemat::map g(5, 3, idx.data());
  routemat_bags* out = untouched_bags();
  for (const std::int64_t size : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{INT64_MIN}})
    CHECK_FAILS(routemat_bags_create_fixed(&out, g.native_handle(), size),
                ROUTEMAT_ERROR_INVALID_ARGUMENT, cat("bag size ", size, " must be at least 1"));
  CHECK_FAILS(routemat_bags_create_fixed(&out, g.native_handle(), 2),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "the map's rows m = 5 are not a multiple of the bag size 2");
  CHECK_FAILS(routemat_bags_create_fixed(&out, g.native_handle(), 6),
              ROUTEMAT_ERROR_INVALID_ARGUMENT,
              "the map's rows m = 5 are not a multiple of the bag size 6");
  CHECK(out == untouched_bags());
  // m = 0: zero bags of any size.
  const routemat::map empty(0, 3, static_cast<const std::int32_t*>(nullptr));
  CHECK(routemat::bags::fixed(empty, 3).count() == 0);
}

TEST_CASE("bad input: bag_forward refuses wrong shapes, weights and reductions, writing nothing") {
  bag_fixture f;
  const routemat_bags* b = f.fixed.native_handle();
  const routemat_rows u = rows_of(f.u.ptr(), f.n, f.d, f.d);
  const routemat_rows y = rows_of(f.y.ptr(), f.bags, f.d, f.d);
  const routemat_rows u_too_few = rows_of(f.u.ptr(), f.n - 1, f.d, f.d);
  const routemat_rows y_long = rows_of(f.y.ptr(), f.bags + 1, f.d, f.d);
  const routemat_rows y_narrow = rows_of(f.y.ptr(), f.bags, f.d - 1, f.d);
  std::vector<double> y64(static_cast<std::size_t>(f.bags * f.d));
  const routemat_rows y_f64 = rows_of(y64.data(), f.bags, f.d, f.d);

  CHECK_FAILS(routemat_bag_forward(nullptr, &u, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "bags is NULL");
  CHECK_FAILS(routemat_bag_forward(b, &u_too_few, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "u has 3 rows; the map needs 4 (the map's cols n)");
  CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y_long),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "y has 4 rows; the map needs 3 (the bags B)");
  CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y_narrow),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "u width 3 differs from y width 2");
  CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y_f64),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "u holds f32 values but y holds f64");
  // Weights: one per route, NULL only with a count of 0.
  CHECK_FAILS(routemat_bag_forward(b, &u, f.w.ptr(), 5, ROUTEMAT_REDUCE_SUM, &y),
              ROUTEMAT_ERROR_SHAPE_MISMATCH,
              "weight_count 5 differs from the map's rows m = 6 (one weight per route)");
  CHECK_FAILS(routemat_bag_forward(b, &u, f.w.ptr(), 0, ROUTEMAT_REDUCE_SUM, &y),
              ROUTEMAT_ERROR_SHAPE_MISMATCH,
              "weight_count 0 differs from the map's rows m = 6 (one weight per route)");
  CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 6, ROUTEMAT_REDUCE_SUM, &y),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "weights is NULL but weight_count is 6");
  for (const int reduce : {2, -1, INT32_MIN, INT32_MAX}) {
    CAPTURE(reduce);
    routemat_reduce raw;
    std::memcpy(&raw, &reduce, sizeof raw);
    CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 0, raw, &y), ROUTEMAT_ERROR_INVALID_ARGUMENT,
                cat("reduce ", reduce, " is neither ROUTEMAT_REDUCE_SUM nor ROUTEMAT_REDUCE_MEAN"));
  }
  // y overlapping u (exactly, or one element of it), the weights or the indices.
  const routemat_rows y_on_u = rows_of(f.u.ptr(), f.bags, f.d, f.d);
  const routemat_rows y_on_u_tail = rows_of(f.u.ptr() + (f.n - 1) * f.d, 1, 1, 1);
  const routemat_rows u_narrow = rows_of(f.u.ptr(), f.n, 1, f.d);
  const std::int64_t one_route[2] = {0, 1};
  const std::vector<std::int64_t> idx1{0};
  const routemat::map g1(1, f.n, idx1.data());
  const routemat::bags b1(g1, 1, one_route);
  CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y_on_u),
              ROUTEMAT_ERROR_ALIASING, "y overlaps u");
  CHECK_FAILS(routemat_bag_forward(b1.native_handle(), &u_narrow, nullptr, 0, ROUTEMAT_REDUCE_SUM,
                                   &y_on_u_tail),
              ROUTEMAT_ERROR_ALIASING, "y overlaps u");
  const routemat_rows y_on_w = rows_of(f.w.ptr(), 1, 1, 1);
  CHECK_FAILS(routemat_bag_forward(b1.native_handle(), &u_narrow, f.w.ptr(), 1, ROUTEMAT_REDUCE_SUM,
                                   &y_on_w),
              ROUTEMAT_ERROR_ALIASING, "y overlaps weights");
  const routemat_rows y_on_idx3 = {f.idx.data(), f.bags, 1, 1, ROUTEMAT_F32};
  CHECK_FAILS(routemat_bag_forward(b, &u_narrow, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y_on_idx3),
              ROUTEMAT_ERROR_ALIASING, "y overlaps the map's indices");
  CHECK(f.outputs_untouched());
  CHECK(f.u.untouched());
  CHECK(f.w.untouched());
}

TEST_CASE("bad input: bag_backward refuses wrong shapes, per-route arrays, overlaps and plans") {
  bag_fixture f;
  const routemat_bags* b = f.fixed.native_handle();
  const routemat_rows u = rows_of(f.u.ptr(), f.n, f.d, f.d);
  const routemat_rows dy = rows_of(f.dy.ptr(), f.bags, f.d, f.d);
  const routemat_rows du = rows_of(f.du.ptr(), f.n, f.d, f.d);
  const auto sum = ROUTEMAT_REDUCE_SUM;

  CHECK_FAILS(routemat_bag_backward(nullptr, nullptr, &dy, &u, nullptr, 0, sum, &du, nullptr, 0),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "bags is NULL");
  // A plan of another map, even one with the same shape and indices elsewhere.
  const std::vector<std::int64_t> copy = f.idx;
  const routemat::map other(f.m, f.n, copy.data(), routemat::drop::allow);
  const routemat::plan wrong_plan(other);
  CHECK_FAILS(routemat_bag_backward(b, wrong_plan.native_handle(), &dy, &u, nullptr, 0, sum, &du,
                                    nullptr, 0),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "plan was built from another map than the bags");
  const routemat_rows dy_long = rows_of(f.dy.ptr(), f.bags - 1, f.d, f.d);
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy_long, &u, nullptr, 0, sum, &du, nullptr, 0),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "dy has 2 rows; the map needs 3 (the bags B)");
  const routemat_rows du_narrow = rows_of(f.du.ptr(), f.n, f.d - 1, f.d);
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du_narrow, nullptr, 0),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "dy width 3 differs from du width 2");
  std::vector<double> du64(static_cast<std::size_t>(f.n * f.d));
  const routemat_rows du_f64 = rows_of(du64.data(), f.n, f.d, f.d);
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du_f64, nullptr, 0),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "dy holds f32 values but du holds f64");
  // dw needs u, and one slot per route.
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, nullptr, nullptr, 0, sum, &du, f.dw.ptr(), 6),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "u is NULL; dw needs it");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du, f.dw.ptr(), 7),
              ROUTEMAT_ERROR_SHAPE_MISMATCH,
              "dw_count 7 differs from the map's rows m = 6 (one weight gradient per route)");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du, nullptr, 6),
              ROUTEMAT_ERROR_INVALID_ARGUMENT, "dw is NULL but dw_count is 6");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, f.w.ptr(), 2, sum, &du, nullptr, 0),
              ROUTEMAT_ERROR_SHAPE_MISMATCH,
              "weight_count 2 differs from the map's rows m = 6 (one weight per route)");
  // Overlaps: du with dy, u or the weights; dw with du, dy or the weights.
  const routemat_rows du_on_dy = rows_of(f.dy.ptr(), f.n, 1, 1);
  const routemat_rows dy_narrow = rows_of(f.dy.ptr(), f.bags, 1, f.d);
  const routemat_rows u_narrow = rows_of(f.u.ptr(), f.n, 1, f.d);
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy_narrow, &u_narrow, nullptr, 0, sum, &du_on_dy,
                                    nullptr, 0),
              ROUTEMAT_ERROR_ALIASING, "du overlaps dy");
  const routemat_rows du_on_u = rows_of(f.u.ptr(), f.n, f.d, f.d);
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du_on_u, nullptr, 0),
              ROUTEMAT_ERROR_ALIASING, "du overlaps u");
  guarded<float> big_w(f.n * f.d);
  const routemat_rows du_on_w = rows_of(big_w.ptr(), f.n, f.d, f.d);
  CHECK_FAILS(
      routemat_bag_backward(b, nullptr, &dy, &u, big_w.ptr(), f.m, sum, &du_on_w, nullptr, 0),
      ROUTEMAT_ERROR_ALIASING, "du overlaps weights");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du, f.du.ptr() + 1, 6),
              ROUTEMAT_ERROR_ALIASING, "dw overlaps du");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du, f.dy.ptr(), 6),
              ROUTEMAT_ERROR_ALIASING, "dw overlaps dy");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, f.w.ptr(), 6, sum, &du, f.w.ptr(), 6),
              ROUTEMAT_ERROR_ALIASING, "dw overlaps weights");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du, f.u.ptr() + 5, 6),
              ROUTEMAT_ERROR_ALIASING, "dw overlaps u");
  CHECK_FAILS(routemat_bag_backward(b, nullptr, &dy, &u, nullptr, 0, sum, &du, f.idx.data(), 6),
              ROUTEMAT_ERROR_ALIASING, "dw overlaps the map's indices");
  CHECK(f.outputs_untouched());
  CHECK(f.dy.untouched());
  CHECK(f.u.untouched());
  CHECK(f.w.untouched());
}

TEST_CASE("bad input: bag calls refuse mixed 16-bit rows; 16-bit weights are read as such") {
  bag_fixture f;
  const routemat_bags* b = f.fixed.native_handle();
  std::vector<routemat::bf16> u16(static_cast<std::size_t>(f.n * f.d), routemat::bf16(1.0f));
  std::vector<routemat::f16> y16(static_cast<std::size_t>(f.bags * f.d), routemat::f16(2.0f));
  const routemat_rows u = {u16.data(), f.n, f.d, f.d, ROUTEMAT_BF16};
  const routemat_rows y = {y16.data(), f.bags, f.d, f.d, ROUTEMAT_F16};
  const std::vector<routemat::f16> y_before = y16;
  CHECK_FAILS(routemat_bag_forward(b, &u, nullptr, 0, ROUTEMAT_REDUCE_SUM, &y),
              ROUTEMAT_ERROR_SHAPE_MISMATCH, "u holds bf16 values but y holds f16");
  CHECK(std::memcmp(y16.data(), y_before.data(), y16.size() * sizeof(routemat::f16)) == 0);
  // Weights are of the rows' type (here bf16).
  std::vector<routemat::bf16> y_bf(static_cast<std::size_t>(f.bags * f.d));
  const routemat_rows y_ok = {y_bf.data(), f.bags, f.d, f.d, ROUTEMAT_BF16};
  const std::vector<routemat::bf16> w16(6, routemat::bf16(0.5f));
  CHECK(routemat_bag_forward(b, &u, w16.data(), 6, ROUTEMAT_REDUCE_SUM, &y_ok) == ROUTEMAT_OK);
  CHECK(static_cast<float>(y_bf[0]) == 1.0f);  // bag 0: routes 0, 1, each 0.5 * 1
}
