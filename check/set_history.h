// Checker for a set workload: clients add distinct elements while faults happen, and one read
// after the cluster has healed returns the whole set. Exact for what it checks:
//   - no acknowledged add is lost (every add answered ok is in the final read);
//   - nothing appears that was never added (every element read was attempted).
// An add whose outcome is unknown (timed out, connection lost) may be present or not.
// Not checked: when an element became visible (that is the register workload's job).
// Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace conclave::check {

struct SetAdd {
  std::string element;
  bool acknowledged = false;   // answered ok; false: unknown outcome (failed adds are left out)
};

struct SetVerdict {
  bool ok = true;
  size_t acknowledged = 0;
  size_t unknown = 0;
  size_t unknown_present = 0;        // unknown adds that took effect
  std::vector<std::string> lost;     // acknowledged, not in the final read
  std::vector<std::string> unexpected;  // in the final read, never added
};

SetVerdict check_set(const std::vector<SetAdd>& adds, const std::vector<std::string>& final_read);

}  // namespace conclave::check
