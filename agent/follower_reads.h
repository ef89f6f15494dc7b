// FollowerReads: linearizable `kv get`s served by a follower server from its own state, after
// the leader confirmed them (Raft thesis §6.4, raft::RawNode::read_index_from_leader): the
// leader answers with its commit index at a moment it was still leader, and the follower
// serves the read once it has applied that far. The leader does no state machine work for it.
//
// Reads the leader does not confirm in time (it changed, a message was lost) or that this
// follower cannot apply in time are handed back, to be forwarded to the leader the usual way
// (agent/requester.h). Pure bookkeeping: Node owns one and feeds it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "raft/types.h"
#include "wire/client_messages.h"

namespace conclave::agent {

// Contexts of follower reads carry this bit, so the Raft read states can be told from the
// leader service's (agent/leader_service.h), whose contexts are small counters.
constexpr uint64_t kFollowerReadContextBit = uint64_t{1} << 62;

class FollowerReads {
 public:
  struct Read {
    // Who asked: a local client (connection_id), or another agent's Requester (origin, its
    // forward id), answered with a ForwardResponse.
    std::string origin;
    uint64_t forward_id = 0;
    uint64_t connection_id = 0;
    wire::ClientRequest request;  // a KvGetRequest, timeout already bounded
    int64_t deadline_ms = 0;      // the client's
    int64_t give_up_ms = 0;       // handed back (forwarded instead) after this
    raft::Index index = 0;        // 0: not confirmed yet
  };

  // Limits: at most this many waiting; a read not served within confirm_timeout_ms is handed
  // back.
  static constexpr size_t kMaxPending = 10000;
  static constexpr int64_t kConfirmTimeoutMs = 500;

  bool full() const { return pending_.size() >= kMaxPending; }
  // Registers a read; returns the context to ask Raft with.
  uint64_t add(uint64_t connection_id, wire::ClientRequest request, int64_t deadline_ms,
               int64_t now_ms);
  // A read another agent forwarded here.
  uint64_t add_forwarded(const std::string& origin, uint64_t forward_id,
                         wire::ClientRequest request, int64_t deadline_ms, int64_t now_ms);
  // Raft says the read with this context may be served once `index` is applied.
  void confirmed(uint64_t context, raft::Index index);
  // Confirmed reads whose index is applied: serve them now.
  std::vector<Read> take_servable(raft::Index applied_index);
  // Reads past their give-up time: forward them to the leader instead.
  std::vector<Read> take_expired(int64_t now_ms);
  // Everything (this node stopped being a follower, or lost its Raft).
  std::vector<Read> take_all();
  size_t size() const { return pending_.size(); }

 private:
  std::map<uint64_t, Read> pending_;  // by context
  uint64_t next_context_ = 1;
};

}  // namespace conclave::agent
