// The nemesis's schedule (fault_plan.h): a seed replays it, and every kind comes once a round.
#include <catch2/catch.hpp>

#include <iterator>
#include <set>

#include "tests/nemesis/fault_plan.h"

using namespace conclave::nemesis;

TEST_CASE("a seed replays the same fault plan; another seed gives another") {
  auto describe_all = [](const std::vector<PlannedFault>& plan) {
    std::string text;
    for (const auto& fault : plan) {
      text += describe(fault) + " " + std::to_string(fault.choice) + "\n";
    }
    return text;
  };
  CHECK(describe_all(plan_faults(42, 30)) == describe_all(plan_faults(42, 30)));
  CHECK(describe_all(plan_faults(42, 30)) != describe_all(plan_faults(43, 30)));
}

TEST_CASE("every fault kind comes once in each round, within the configured times") {
  const size_t kinds = std::size(kAllFaultKinds);
  const auto plan = plan_faults(7, kinds * 3);
  for (size_t round = 0; round < 3; ++round) {
    std::set<FaultKind> seen;
    for (size_t i = 0; i < kinds; ++i) seen.insert(plan[round * kinds + i].kind);
    CHECK(seen.size() == kinds);
  }
  for (const auto& fault : plan) {
    CHECK(fault.duration_ms >= 3000);
    CHECK(fault.duration_ms <= 8000);
    CHECK(fault.quiet_before_ms >= 1000);
    CHECK(fault.quiet_before_ms <= 3000);
  }
}

TEST_CASE("a plan can be limited to chosen kinds, named as the summary names them") {
  FaultPlanOptions options;
  options.kinds = {FaultKind::pause, FaultKind::isolate_leader};
  for (const auto& fault : plan_faults(1, 10, options)) {
    CHECK((fault.kind == FaultKind::pause || fault.kind == FaultKind::isolate_leader));
  }
  for (FaultKind kind : kAllFaultKinds) CHECK(fault_kind_named(fault_kind_name(kind)) == kind);
  CHECK_FALSE(fault_kind_named("meteor").has_value());
}
