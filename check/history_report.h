// How a register history and a failed linearizability search are shown to a person: one
// operation per line, and for a violation a short explanation plus a slice of the history
// around the point where the search got stuck (at most CheckConfig::max_slice_lines lines).
//
// The slice is not a minimal counterexample: it is what the search saw at its deepest dead
// end, which is usually where the bug shows (the last operations placed, the operation that
// could not be placed, what wrote the value it looked for, and the operations concurrent with
// it).
//
// Never does I/O; pure string building, so the search in linearizability.cc stays readable.
// Not yet: a slice for inconclusive keys (their explanation says how far the search got).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "check/linearizability.h"

namespace conclave::check {

// absent, or the value in double quotes with \" \\ and non-printable bytes escaped, cut after
// 40 bytes with "..." so one line stays one line.
std::string format_value(const Value& value);

// One line, e.g.
//   client 3 read "k" -> "v1" [120, 135] ms
//   client 1 write "k" = "v2" -> ok [100, 140] ms
//   client 2 cas "k" from "v1" to "v3" -> failed compare [130, 150] ms
//   client 4 delete "k" -> unknown [90, ?] ms
// For an unknown outcome the second time is when the client stopped waiting ("?" if never).
std::string format_operation(const Operation& op);

struct PlacedOperation {
  const Operation* op = nullptr;
  size_t position = 0;                     // 1 for the first operation placed
};

// The deepest configuration a search for one key could not extend.
struct StuckPoint {
  std::vector<PlacedOperation> placed_last;  // the last few placed, in the order placed
  // The operation that last changed the register, when it is older than placed_last.
  std::optional<PlacedOperation> last_change_before;
  size_t placed_total = 0;                 // operations placed, unknown ones included
  size_t acknowledged_placed = 0;          // ok operations placed
  size_t acknowledged_total = 0;           // ok operations of the key
  Value register_value;                    // the register after the operations placed
  // The acknowledged operation with the earliest response among those not placed: nothing can
  // be placed after its response until it is, and it could not be.
  const Operation* stuck = nullptr;
  bool stuck_fits_value = false;           // whether `stuck` may take effect on register_value
};

struct ViolationReport {
  std::string explanation;
  // One operation per line, and at the end a line counting those left out, if any were.
  std::vector<std::string> slice;
};

// `key_operations`: every operation of the key that was checked (to find what wrote the value
// `stuck.stuck` looked for, and what was concurrent with it).
ViolationReport describe_violation(const std::string& key, const StuckPoint& stuck,
                                   const std::vector<const Operation*>& key_operations,
                                   size_t max_slice_lines);

// The explanation of an inconclusive key: the budget and how far the search got.
std::string describe_budget_exhausted(const std::string& key, uint64_t max_steps,
                                      size_t most_acknowledged_placed,
                                      size_t acknowledged_total);

}  // namespace conclave::check
