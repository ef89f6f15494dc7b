#include "tests/nemesis/fault_plan.h"

#include <iterator>
#include <utility>

namespace conclave::nemesis {

const char* fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::partition_halves: return "partition_halves";
    case FaultKind::isolate_leader: return "isolate_leader";
    case FaultKind::bridge: return "bridge";
    case FaultKind::one_way_from_leader: return "one_way_from_leader";
    case FaultKind::packet_loss: return "packet_loss";
    case FaultKind::kill_restart: return "kill_restart";
    case FaultKind::pause: return "pause";
    case FaultKind::membership_change: return "membership_change";
  }
  return "?";
}

std::optional<FaultKind> fault_kind_named(const std::string& name) {
  for (FaultKind kind : kAllFaultKinds) {
    if (name == fault_kind_name(kind)) return kind;
  }
  return std::nullopt;
}

uint64_t Random::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int64_t Random::between(int64_t low, int64_t high) {
  const uint64_t span = static_cast<uint64_t>(high - low) + 1;
  return low + static_cast<int64_t>(next() % span);
}

bool Random::chance(double probability) {
  return static_cast<double>(next() >> 11) / static_cast<double>(1ULL << 53) < probability;
}

std::vector<PlannedFault> plan_faults(uint64_t seed, size_t count,
                                      const FaultPlanOptions& options) {
  Random random(seed);
  std::vector<PlannedFault> plan;
  std::vector<FaultKind> round;
  while (plan.size() < count) {
    if (round.empty()) {
      if (options.kinds.empty()) {
        round.assign(std::begin(kAllFaultKinds), std::end(kAllFaultKinds));
      } else {
        round = options.kinds;
      }
      for (size_t i = round.size() - 1; i > 0; --i) {  // Fisher-Yates
        std::swap(round[i], round[static_cast<size_t>(random.between(0, static_cast<int64_t>(i)))]);
      }
    }
    PlannedFault fault;
    fault.kind = round.back();
    round.pop_back();
    fault.quiet_before_ms = random.between(options.min_quiet_ms, options.max_quiet_ms);
    fault.duration_ms = random.between(options.min_fault_ms, options.max_fault_ms);
    fault.choice = random.next();
    plan.push_back(fault);
  }
  return plan;
}

std::string describe(const PlannedFault& fault) {
  return std::string(fault_kind_name(fault.kind)) + " " + std::to_string(fault.duration_ms) +
         " ms after " + std::to_string(fault.quiet_before_ms) + " ms quiet";
}

}  // namespace conclave::nemesis
