// ReadIndex (Raft thesis §6.4): linearizable reads without log entries.
//
// A read asked of the leader is tagged with the commit index at that moment and with the next
// heartbeat round. The leader numbers its broadcast rounds; every append_request carries the
// current round (`Message::read_round`) and every append_response echoes the round of the
// request it answers. An answer of this term proves the follower still followed this leader
// when the round was sent, so once a quorum (the leader included) acknowledged round r, no
// other leader can have been elected before r was sent, and every read of round <= r may be
// served at its index once the state machine has applied it. Reads that arrive between two
// broadcasts share one round: many reads cost one heartbeat.
//
// Pure bookkeeping: RawNode owns one and decides when rounds are broadcast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "raft/types.h"

namespace conclave::raft {

class ReadIndexQueue {
 public:
  // A read at `commit_index`, to be confirmed by the next round. Precondition: the leader has
  // committed an entry of its current term (§6.4 step 1), so commit_index is not stale.
  void add(uint64_t context, Index commit_index);
  size_t size() const { return reads_.size(); }

  // Reads are waiting for a round that has not been broadcast yet.
  bool needs_round() const { return next_round_pending_; }
  // Starts the round the waiting reads belong to; the caller broadcasts it.
  uint64_t start_round();
  uint64_t current_round() const { return round_; }

  // A follower's append_response of this term echoed `round`.
  void on_ack(NodeId peer, uint64_t round);

  // The highest round a quorum of `voters` (self counting as having acked every round) has
  // acknowledged; 0 when none.
  uint64_t quorum_acked_round(const std::vector<NodeId>& voters, NodeId self) const;

  // The reads that a quorum has confirmed, oldest first. `voters` holds every voter, `self`
  // included (which counts as having acknowledged the current round).
  std::vector<ReadState> take_confirmed(const std::vector<NodeId>& voters, NodeId self);

  // Leadership ended (or began): every read is dropped and rounds start over.
  void reset();

 private:
  struct PendingRead {
    uint64_t context;
    Index index;
    uint64_t round;
  };
  std::deque<PendingRead> reads_;  // rounds non-decreasing from front to back
  std::map<NodeId, uint64_t> acked_round_;
  uint64_t round_ = 0;
  bool next_round_pending_ = false;
};

}  // namespace conclave::raft
