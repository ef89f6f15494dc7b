// The timing contract between a lock holder's agent and the leader, in one place, because the
// two sides must agree on it (agent/locks.md states the argument at length).
//
// The promise: a holder is told its lock is lost before the earliest moment the cluster could
// grant that slot to someone else.
//
// The leader never ends a session because its agent failed or left (InvalidateNodeCommand)
// earlier than kSessionContactGraceMs after it last received a request from that agent, and a
// new leader counts every agent as heard from when it was elected. The slot then stays blocked
// for the holder's lock-delay D, measured on the state machine clock, which never runs faster
// than real time (agent/leader_service.h). So a slot is re-granted no earlier than
//     (the last time the leader received anything from the agent) + grace + D.
// The agent counts a request as received by a legitimate leader only when the answer proves it:
// a committed write or a ReadIndex-confirmed read (a keepalive). The request was sent at time
// s, before the leader received it, so the slot cannot move before s + grace + D. The agent
// tells its holder the lock is lost at
//     valid_until = s_last + grace + D - kLostMarginMs
// where s_last is the send time of the newest such answered request, and it sends keepalives
// every kKeepaliveIntervalMs so s_last stays recent while it is connected. The margin covers
// clock-rate differences and the time the holder needs to act on the notice (the `conclave
// lock` command sends SIGTERM, then SIGKILL after a grace shorter than the margin).
#pragma once

#include <cstdint>

namespace conclave::agent {

constexpr int64_t kSessionContactGraceMs = 1000;
constexpr int64_t kKeepaliveIntervalMs = 200;
constexpr int64_t kJeopardyAfterMs = 500;   // no confirmed contact this long: jeopardy
constexpr int64_t kLostMarginMs = 300;
constexpr int64_t kDefaultLockDelayMs = 1000;
// A session whose agent the leader's gossip does not list at all (e.g. every server restarted
// while that agent was down) ends after this long without hearing from it: much longer than
// a join takes to spread, and longer than kSessionContactGraceMs, so the argument above holds.
constexpr int64_t kUnknownOwnerGraceMs = 30000;

// When a holder whose agent last confirmed contact at `confirmed_send_ms` must consider a lock
// with `lock_delay_ms` lost (see above).
constexpr int64_t lock_valid_until_ms(int64_t confirmed_send_ms, int64_t lock_delay_ms) {
  return confirmed_send_ms + kSessionContactGraceMs + lock_delay_ms - kLostMarginMs;
}

// The same bound for a lock held by a TTL session: the cluster ends the session no earlier than
// ttl after the leader stamped its last renewal (or its creation), which it received after
// `renewed_send_ms`, and then blocks the slot for the lock-delay. A holder of a TTL session is
// valid until the earlier of the two bounds.
constexpr int64_t ttl_lock_valid_until_ms(int64_t renewed_send_ms, int64_t ttl_ms,
                                          int64_t lock_delay_ms) {
  return renewed_send_ms + ttl_ms + lock_delay_ms - kLostMarginMs;
}

}  // namespace conclave::agent
