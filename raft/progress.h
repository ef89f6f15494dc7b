// Progress: what a leader knows about one follower's log (Raft Figure 2 "volatile state on
// leaders": nextIndex and matchIndex), plus how eagerly to send to it.
//
// Two replication states, after etcd-io/raft:
//   probe      the leader does not know where the follower's log diverges. It sends one
//              append_request (from next_index) and waits for the answer or the next heartbeat
//              before sending another, so a follower far behind is not flooded with appends it
//              will reject.
//   replicate  the follower's log is known to match up to match_index. The leader streams new
//              entries optimistically (next_index moves ahead as it sends), bounded by
//              kMaxInflightAppends unacknowledged messages.
// A rejection moves the follower back to probe; a success moves it to replicate.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace conclave::raft {

// Named limits, per follower in replicate state: unacknowledged append_requests carrying
// entries, and their data bytes. The bytes bound must stay below what the transport queues
// for one peer (agent/peer_transport.h static_asserts it), so that the transport never drops
// silently what Raft believes is in flight.
constexpr size_t kMaxInflightAppends = 64;
constexpr size_t kMaxInflightBytes = 8 * 1024 * 1024;

enum class ReplicationState : uint8_t { probe = 0, replicate = 1 };

class Progress {
 public:
  Progress() = default;
  // A new leader knows nothing yet: it probes from just after its own last entry (§5.3
  // "initialized to leader last log index + 1").
  explicit Progress(Index next_index) : next_index_(next_index) {}

  Index match_index() const { return match_index_; }
  Index next_index() const { return next_index_; }
  ReplicationState state() const { return state_; }
  // Check-quorum bookkeeping: the leader's tick count when this peer was last heard from.
  uint64_t last_heard_tick() const { return last_heard_tick_; }
  void set_last_heard_tick(uint64_t tick) { last_heard_tick_ = tick; }

  // The highest commit index the follower can have learned from what was sent to it (an
  // append declares commit only up to the last index it covers). When it is below
  // min(leader commit, match_index) the follower needs to be told.
  Index commit_sent() const { return commit_sent_; }
  void on_commit_sent(Index commit) { commit_sent_ = std::max(commit_sent_, commit); }

  // May an append carrying entries be sent now?
  bool can_send_entries() const;

  // Records that an append with entries through `last_sent_index`, `bytes` data bytes, was
  // created.
  void on_entries_sent(Index last_sent_index, size_t bytes = 0);
  size_t inflight_bytes() const { return inflight_bytes_; }
  // The caller took appends through `last_index` out of RawNode to send them (Ready).
  // Stall detection counts from here, not from creation: an append that waited behind a slow
  // fsync before it could even leave has not been lost.
  void on_handed_out(Index last_index) { handed_out_index_ = std::max(handed_out_index_, last_index); }
  // Records that a probe (possibly empty) was sent: probing pauses until an answer or heartbeat.
  void on_probe_sent() { probe_paused_ = true; }

  // A success answer says the follower matches through `matched_index`. Returns true if that
  // is news (match_index moved forward). Moves probe to replicate.
  bool on_success(Index matched_index);
  // A reject answer for prev index `rejected_index` with the follower's last index `hint`.
  // Returns false if the answer is stale (it refers to an older probe or to indexes already
  // known to match) and was ignored.
  bool on_reject(Index rejected_index, Index hint);

  // A heartbeat interval passed: probing may send again. Returns true if an append stayed
  // unacknowledged over a whole interval (it was probably lost: fall back to probing from
  // match_index + 1, §5.3 "retries indefinitely").
  bool on_heartbeat();

  // Used for the own node, whose match is what it has persisted.
  void set_self_match(Index match_index);

 private:
  void become_probe();

  Index match_index_ = 0;
  Index next_index_ = 1;
  ReplicationState state_ = ReplicationState::probe;
  bool probe_paused_ = false;
  uint64_t last_heard_tick_ = 0;
  Index commit_sent_ = 0;
  std::deque<Index> inflight_last_indexes_;  // at most kMaxInflightAppends
  std::deque<size_t> inflight_sizes_;        // data bytes of each, in the same order
  size_t inflight_bytes_ = 0;                // their sum
  Index oldest_inflight_at_last_heartbeat_ = 0;  // 0: none was in flight
  Index handed_out_index_ = 0;                   // highest append index handed to the caller
  Index handed_out_at_last_heartbeat_ = 0;
};

}  // namespace conclave::raft
