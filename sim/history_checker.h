// HistoryChecker: checks what simulated clients saw against what a linearizable KV store may
// answer. Puts write unique values; every put is answered with the store revision it created
// and every get with the mod_revision of the value it read, which gives a total order to check
// against real time:
//   - a get never returns a value older than a put that finished before the get started
//     (no stale reads);
//   - a put that finished before another put started has a smaller revision;
//   - a get returns only values that some put wrote, with that put's revision.
// A full Knossos-style search over indeterminate operations comes later; these checks are
// exact for acknowledged operations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conclave::sim {

struct Operation {
  int client = 0;
  bool is_put = false;
  std::string key;
  std::string value;          // put: written; get: read (when found)
  int64_t invoke_ms = 0;
  int64_t response_ms = 0;    // when the answer arrived
  bool ok = false;            // false: error, timeout or lost (indeterminate for puts)
  bool found = false;         // get only
  uint64_t revision = 0;      // put: the revision created; get: the value's mod_revision
};

// Returns one line per violation (empty when the history is consistent).
std::vector<std::string> check_history(const std::vector<Operation>& history);

}  // namespace conclave::sim
