// Shrinks one key's history that check_linearizable rejected to a small sub-history that it
// still rejects, for a person to read (the nemesis prints it).
//
// Every step only removes operations (or forgets a response) in ways that can never turn a
// linearizable history into a non-linearizable one: if the whole history had a linearization,
// the smaller one would have that linearization with the removed operations left out. So a
// rejected small history is by itself proof that the original was not linearizable. The steps:
//   1. Cut at the stuck operation's response T: operations invoked after T go; of those still
//      pending at T, reads and failed compare-and-sets go and state changes become unknown.
//   2. Reads and failed compare-and-sets (which change nothing) go, in chunks, while the rest
//      is still rejected.
//   3. Once no failed compare-and-set is left: a write, compare-and-set or delete whose value
//      nothing left observes or expects goes, in chunks, while the rest is still rejected.
// Steps 2 and 3 repeat until nothing more can go. A complete result is 1-minimal for these
// removals (no single read, failed compare-and-set or unobserved change can be taken out), not
// the smallest counterexample there is. When the trial budget runs out (or a trial is
// inconclusive, which counts as not rejected) the result is smaller but not 1-minimal, and
// `complete` says so.
//
// Pure: no I/O, no clock. Each trial is one check_linearizable call; at most `max_trials`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "check/linearizability.h"

namespace conclave::check {

struct ShrinkResult {
  // In invoke order. The original history when the checker did not reject it on the first
  // trial (shrunk = false).
  std::vector<Operation> operations;
  bool shrunk = false;
  bool complete = false;     // shrunk, and 1-minimal: the trial budget did not run out
  size_t trials = 0;
};

// `key_history`: the operations of one key that check_linearizable rejected;
// `stuck_response_ms`: KeyVerdict::stuck_response_ms (nullopt skips step 1).
ShrinkResult shrink_violation(const std::vector<Operation>& key_history,
                              std::optional<int64_t> stuck_response_ms,
                              const CheckConfig& config = {}, size_t max_trials = 3000);

}  // namespace conclave::check
