// Linearizability checker for key/value register histories.
//
// Input: a history of client operations on string keys (read, write, compare-and-set, delete),
// each with the times it was invoked and answered and what the client saw. Output: per key, a
// verdict: ok (a linearization exists: one order of the operations, each placed at an instant
// between its invoke and its response, in which every result is what a single register would
// have answered), violation (none exists), or inconclusive (the search budget ran out first).
// A violation comes with an explanation and a slice of the history around the point where the
// search got stuck (history_report.h formats both).
//
// Each key is one register: it starts absent and holds absent or a string value. Keys are
// checked one at a time, which is exact because linearizability is local: a history is
// linearizable if and only if its sub-history on each object is (Herlihy & Wing 1990, the
// locality theorem). The search per key is Wing & Gong's (1993): depth-first, linearizing
// pending operations in real-time order and backtracking when an acknowledged operation's
// response is reached before it was placed, with Lowe's (2017) memo of configurations already
// explored (operations placed, register value), and three prunings each of which keeps at
// least one linearization when any exists (read-only operations first; unknown operations
// only where something sees them; one of several interchangeable unknown operations; see
// KeySearch::open in linearizability.cc).
//
// Time. All invoke_ms and response_ms must come from one clock (the simulator's, or one test
// process). Operation A precedes B in real time only if A.response_ms < B.invoke_ms: an
// operation answered at t does NOT precede one invoked at the same t. Events inside one
// millisecond have no known order, so they are treated as concurrent; this can only accept
// more histories, never reject a linearizable one, at the cost of missing a violation that
// lives entirely inside one millisecond.
//
// Outcomes. ok: took effect once, between invoke and response, with the result recorded.
// fail: certainly took no effect; dropped. unknown: may have taken effect at any instant after
// its invoke (no upper bound), or never; its result was not seen, so an unknown read is
// dropped and an unknown write, cas or delete is placed or left out, whichever explains the
// rest of the history.
//
// It never does I/O, never reads a clock, never relies on written values being unique, and
// never reports ok without having found a linearization: a search that runs out of budget is
// inconclusive.
//
// Not yet: other data types (locks, sessions, revisions); using each client's program order
// (a client's operations are sequential) to prune further; a witness linearization on ok.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace conclave::check {

// A register's content: nullopt is absent (never written, or deleted).
using Value = std::optional<std::string>;

enum class OpKind { read, write, cas, delete_key };
enum class Outcome { ok, fail, unknown };
enum class CasResult { succeeded, failed_compare };

// One client call. Which fields each kind uses (the others are ignored):
//
//   kind         observed        written      expected     cas_result
//   read         ok only         -            -            -
//   write        -               the value    -            -
//   cas          -               new value    yes          ok only
//   delete_key   -               -            -            -
//
// A cas that succeeded found `expected` and left `written`; one that failed its compare found
// something other than `expected` and wrote nothing (both are ok outcomes: the client saw the
// answer).
struct Operation {
  int client = 0;
  OpKind kind = OpKind::read;
  std::string key;
  Outcome outcome = Outcome::ok;
  Value observed;                   // read: what it returned
  std::string written;              // write: the value; cas: the value on success
  Value expected;                   // cas: the value it compared against
  CasResult cas_result = CasResult::succeeded;
  int64_t invoke_ms = 0;
  // Required (and >= invoke_ms) for ok. For unknown, when the client stopped waiting: shown in
  // reports, never used as a bound. Ignored for fail.
  std::optional<int64_t> response_ms;
};

enum class Verdict { ok, violation, inconclusive };
const char* verdict_name(Verdict verdict);

struct CheckConfig {
  // Search steps per key; one step is one attempt to place one operation; a key that needs
  // more is inconclusive. Sized from the tests: a legal key of 3,000 operations from 10
  // concurrent clients (5% unknown outcomes) is accepted in about 15,000 steps, and the same
  // key with one stale read near its end rejected in 0.5 to 1 million (under a second); at 20
  // clients that rejection takes about 4.8 million. Memory grows with the steps used (under
  // 100 MB at 5 million).
  uint64_t max_steps_per_key = 5'000'000;
  size_t max_slice_lines = 20;      // lines in a violation's slice
};

struct KeyVerdict {
  std::string key;
  Verdict verdict = Verdict::ok;
  size_t operations_checked = 0;    // ok operations plus unknown writes, cas and deletes
  uint64_t steps = 0;               // search steps used
  // violation: why, in a few sentences; inconclusive: how far the search got; ok: empty.
  std::string explanation;
  // violation only: the operations around the point where the search got stuck, one per line
  // (the last ones placed, the one that could not be placed, what wrote the value it looked
  // for, those concurrent with it).
  std::vector<std::string> slice;
  // violation only: the response time of the operation that could not be placed (where
  // shrink_violation, history_shrink.h, may cut the history).
  std::optional<int64_t> stuck_response_ms;
};

struct HistoryVerdict {
  std::vector<KeyVerdict> keys;     // one per key with an operation checked, by key

  // violation if any key has one, else inconclusive if any key is, else ok.
  Verdict overall() const;
  // nullptr when the history has no operation on `key`.
  const KeyVerdict* find(std::string_view key) const;
};

// Errors (invalid_argument): an ok operation without response_ms, or answered before it was
// invoked. Nothing else about a history is an error.
Result<HistoryVerdict> check_linearizable(const std::vector<Operation>& history,
                                          const CheckConfig& config = {});

}  // namespace conclave::check
