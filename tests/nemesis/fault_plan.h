// The nemesis's schedule: which faults, in which order, for how long, all drawn from one seed
// so that a printed seed replays the same schedule (the cluster's own timing is real and
// varies; the schedule does not). Pure: no I/O, no clock.
//
// Every kind appears once per round, in an order shuffled per round, so a run of a few rounds
// covers every kind. Targets that depend on the live cluster (the current leader) are chosen
// when the fault is applied, from the fault's own random word.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace conclave::nemesis {

enum class FaultKind {
  partition_halves,    // the agents split at random into two groups that cannot talk
  isolate_leader,      // the leader cut off from everyone
  bridge,              // two groups that cannot talk, and one server that sees both
  one_way_from_leader, // nothing the leader sends arrives; it still hears everyone
  packet_loss,         // every agent loses a share of what it sends (20-40%)
  kill_restart,        // kill -9 an agent (the leader half the time), restarted at the end
  pause,               // SIGSTOP an agent (the leader half the time), SIGCONT at the end
  membership_change,   // a new server joins under 10% loss; healed, it becomes a voter and leaves
};

inline constexpr FaultKind kAllFaultKinds[] = {
    FaultKind::partition_halves, FaultKind::isolate_leader, FaultKind::bridge,
    FaultKind::one_way_from_leader, FaultKind::packet_loss, FaultKind::kill_restart,
    FaultKind::pause, FaultKind::membership_change};

const char* fault_kind_name(FaultKind kind);
// The kind with that name, or nullopt.
std::optional<FaultKind> fault_kind_named(const std::string& name);

struct PlannedFault {
  FaultKind kind = FaultKind::partition_halves;
  int64_t quiet_before_ms = 0;  // no fault for this long first
  int64_t duration_ms = 0;      // then the fault, healed after this long
  uint64_t choice = 0;          // random word for choosing targets when applied
};

struct FaultPlanOptions {
  int64_t min_fault_ms = 3000;
  int64_t max_fault_ms = 8000;
  int64_t min_quiet_ms = 1000;
  int64_t max_quiet_ms = 3000;
  std::vector<FaultKind> kinds;   // the kinds to draw from; empty: every kind
};

// `count` faults; the runner takes them in order until its time is up.
std::vector<PlannedFault> plan_faults(uint64_t seed, size_t count,
                                      const FaultPlanOptions& options = {});

// "kill_restart 5200 ms after 1800 ms quiet"
std::string describe(const PlannedFault& fault);

// A small deterministic generator (splitmix64), the same on every platform and library.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [low, high].
  int64_t between(int64_t low, int64_t high);
  bool chance(double probability);

 private:
  uint64_t state_;
};

}  // namespace conclave::nemesis
