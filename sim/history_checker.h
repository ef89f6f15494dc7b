// HistoryChecker: a fast pre-check of what simulated clients saw, using the revisions the
// store answers with. Puts write unique values; every put is answered with the store revision
// it created and every get with the mod_revision of the value it read. It checks exactly:
//   - a get never returns a value older than a put that finished before the get started
//     (a stale read against an acknowledged write);
//   - a put that finished before another put started has a smaller revision;
//   - a get returns only values that some put wrote, with that put's revision, and not before
//     that put was invoked.
// It does NOT order one read against another (a read that starts after another read finished
// and sees an older value passes here), and it says nothing about puts whose outcome is
// unknown. The simulator therefore also runs the full linearizability search
// (check/linearizability.h) over the same history; this check stays because its messages name
// the revisions involved.
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
