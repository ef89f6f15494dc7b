// Checker for a lock workload: clients take one exclusive lock, and while they hold it they
// increment a counter kept by a fenced resource (fenced_counter.h). Three properties, each
// exact for what it checks:
//
//   1. Unique tokens: no two grants carry the same fencing token.
//   2. Tokens follow real time: a grant answered before another grant's acquire was invoked
//      has the smaller token.
//   3. Exclusion: no two holders were ever both entitled to the lock at one instant. A holder is
//      entitled from when its grant was answered until the earliest of: the validity its agent
//      last gave it (LockEvent::valid_until_ms, moved by renewals), the moment it began to
//      release the lock, or the moment it learned the lock was lost. The agent promises that
//      validity ends before the cluster could grant the slot again (agent/locks), so two such
//      intervals overlapping is a broken promise: a lock granted while another holder may
//      still act on it.
//
// Plus the fenced counter's own log: its accepted writes have non-decreasing tokens (no
// out-of-order fenced write) and count 1, 2, 3, ... (every holder writes what it read plus one;
// a repeated value is a lost update: two holders acted on one token). The counter refuses old
// tokens by construction, so this part catches only tokens handed out twice, as seen by a
// resource outside the cluster.
//
// check_fenced_register checks the cluster's own fencing: a counter kept in the cluster that
// holders increment with a linearizable get and a put fenced by their token (applied only
// while the token is a current holder's). If fencing and exclusion hold, every applied write
// is the previous value plus one, so no acknowledged value repeats (a repeat is a lost
// update), the final value is at least the largest acknowledged one (else an acknowledged
// write was lost), and at most the number of writes that may have been applied.
//
// Times. Every time is milliseconds of one monotonic clock (CLOCK_MONOTONIC of the host all
// agents and the workload run on: the agents' valid_until_ms is on that clock). Events within
// kClockSlackMs of each other are treated as unordered (ms rounding), which can only accept
// more histories.
//
// Pure: no I/O, no clock. Not checked: liveness (how fast a lock was granted), grants whose
// answer was lost (an unknown acquire holds nothing the client could have acted on).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace conclave::check {

inline constexpr int64_t kClockSlackMs = 1;

struct LockGrant {
  int client = 0;
  uint64_t token = 0;
  int64_t invoke_ms = 0;          // the acquire call was made
  int64_t granted_ms = 0;         // its grant answer arrived
  int64_t valid_until_ms = 0;     // the last validity the holder was given
  // When the holder stopped relying on the lock: it began to release it, or learned it was lost
  // (nullopt: it kept it until its validity ran out).
  std::optional<int64_t> gave_up_ms;
  // What else the workload knows (the agent it went through, the events it saw), shown in
  // reports only.
  std::string context;

  int64_t entitled_until_ms() const;
};

// One write the fenced counter accepted, in the order it accepted them.
struct FencedWrite {
  int client = 0;
  uint64_t token = 0;
  int64_t value = 0;
};

struct LockHistoryVerdict {
  bool ok = true;
  size_t grants = 0;
  size_t fenced_writes = 0;
  std::vector<std::string> violations;   // one sentence each, naming the grants involved
};

// The in-cluster counter's history (see above).
struct FencedRegisterHistory {
  std::vector<int64_t> acknowledged_values;   // the value each acknowledged fenced put wrote
  uint64_t unknown = 0;                        // fenced puts whose outcome is unknown
  uint64_t refused = 0;                        // refused as stale (for the report only)
  int64_t final_value = 0;                     // read after healing
};

// One sentence per violation; empty when it holds.
std::vector<std::string> check_fenced_register(const FencedRegisterHistory& history);

LockHistoryVerdict check_lock_history(const std::vector<LockGrant>& grants,
                                      const std::vector<FencedWrite>& accepted_writes);

std::string format_grant(const LockGrant& grant);

}  // namespace conclave::check
