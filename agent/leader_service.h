// LeaderService: what only the leader does for the cluster's clients.
//
// - Forwarded requests (agent/requester.h) become state machine commands, stamped with the
//   leader's clock (the state machine's only time source), proposed, and answered when their
//   entry is applied on this node; a retried request is answered from the dedup table the same
//   way. A request already pending here is not proposed twice.
// - Reads (kv get, session and lock lists, keepalives) add no log entries: they are confirmed
//   by ReadIndex (raft/read_index.h) and served once this node has applied that far.
// - It records when it last heard from each agent, and proposes what time and gossip call for:
//   a TickCommand when a TTL or a lock-delay is due, and an InvalidateNodeCommand for the
//   sessions of an agent that gossip reports failed or left (never before the contact grace
//   of agent/lock_timing.h has passed since that agent was last heard from), or restarted (gossip
//   shows another boot id and the session's boot has been silent for the contact grace: gossip
//   may be older than the session, so a boot that still talks is never taken for a dead one),
//   or that its gossip does not list at all and that stayed silent for kUnknownOwnerGraceMs.
//
// The leader's clock: when elected, it starts from the state machine's clock and moves with
// the local monotonic clock from there, never below the state machine's clock. So intervals
// measured on it (lock-delay, TTLs) are never shorter in real time, even across leader changes
// with skewed clocks.
//
// Active only while this node leads (on_elected / on_deposed); pure, like Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gossip/types.h"
#include "raft/raw_node.h"
#include "state_machine/state_machine.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

// What the leader needs to know about an agent from gossip.
struct MemberView {
  gossip::MemberState state = gossip::MemberState::alive;
  uint64_t boot_id = 0;  // 0: unknown (no metadata yet)
};

struct LeaderServiceCounters {
  uint64_t forwards_received = 0;
  uint64_t proposals = 0;
  uint64_t duplicate_forwards = 0;   // a request already pending here, not proposed again
  uint64_t reads_served = 0;
  uint64_t invalidations_proposed = 0;
  uint64_t ticks_proposed = 0;
};

class LeaderService {
 public:
  struct Reply {
    std::string to;  // the origin agent (possibly this one)
    wire::ForwardResponse response;
  };

  explicit LeaderService(std::string self_name) : self_name_(std::move(self_name)) {}

  bool active() const { return active_; }
  void on_elected(int64_t now_ms, const state::StateMachine& state_machine);
  // Leadership ended: everything pending is answered not_leader (with the new leader, when
  // known), so the origins re-send at once.
  void on_deposed(const std::string& new_leader);

  // Precondition: active().
  void on_forward(const std::string& origin, const wire::ForwardRequest& request, int64_t now_ms,
                  raft::RawNode& raft, const state::StateMachine& state_machine);
  void on_applied(const state::Applied& applied);
  void on_read_states(const std::vector<raft::ReadState>& reads);
  // Serves the confirmed reads that the state machine has applied far enough for.
  void serve_reads(const state::StateMachine& state_machine);
  void tick(int64_t now_ms, raft::RawNode& raft, const state::StateMachine& state_machine,
            const std::map<std::string, MemberView>& members);

  std::vector<Reply> take_replies() { return std::exchange(replies_, {}); }
  // The leader's clock now (see above). Precondition: active().
  int64_t stamp_ms(int64_t now_ms, const state::StateMachine& state_machine);
  const LeaderServiceCounters& counters() const { return counters_; }
  size_t parked_watch_count() const { return parked_watches_.size(); }

 private:
  struct Waiter {
    std::string origin;
    uint64_t forward_id = 0;
    int64_t expires_ms = 0;
  };
  struct PendingRead {
    Waiter waiter;
    uint64_t client_id = 0;
    wire::ClientRequestBody body;
    raft::Index index = 0;  // set once confirmed
  };
  using RequestKey = std::pair<uint64_t, uint64_t>;  // (client id, sequence)

  void reply(const Waiter& waiter, ErrorCode code, std::string message,
             wire::ClientResponseBody body = std::monostate{});
  bool propose(raft::RawNode& raft, const wire::Command& command, const Waiter* waiter);
  // A request naming a session of another agent is refused (its result would not be theirs).
  bool owned_by_origin(uint64_t session, const std::string& origin, uint64_t client_id,
                       const state::StateMachine& state_machine, const Waiter& waiter);
  void serve(const PendingRead& read, const state::StateMachine& state_machine);
  // Answers a confirmed watch if it has something to report, or it may wait no longer;
  // otherwise parks it. `may_park`: false when its wait is over.
  void serve_watch(const PendingRead& read, const wire::KvWatchRequest& watch,
                   const state::StateMachine& state_machine, bool may_park,
                   int64_t answer_by_ms);

  std::string self_name_;
  bool active_ = false;
  int64_t clock_base_ms_ = 0;
  int64_t elected_at_ms_ = 0;
  int64_t last_stamp_ms_ = 0;
  std::map<std::string, int64_t> last_contact_ms_;  // by agent name, on the local clock
  // By (agent name, boot id = the forward's client id): which run of an agent is still talking.
  std::map<std::pair<std::string, uint64_t>, int64_t> last_contact_by_boot_ms_;
  std::map<RequestKey, Waiter> pending_writes_;
  std::map<uint64_t, PendingRead> pending_reads_;   // by ReadIndex context
  std::vector<PendingRead> confirmed_reads_;
  // Watches with nothing to report yet: answered by the first change they match (after any
  // apply) or, with what there is (nothing), when wait_ms is up (tick).
  struct ParkedWatch {
    PendingRead read;
    int64_t answer_by_ms = 0;
  };
  static constexpr size_t kMaxParkedWatches = 4096;
  std::vector<ParkedWatch> parked_watches_;
  int64_t now_ms_ = 0;  // the latest time on_forward or tick was given
  uint64_t next_read_context_ = 1;
  int64_t last_tick_proposed_ms_ = -1;
  std::map<std::pair<std::string, uint64_t>, int64_t> invalidation_proposed_ms_;
  std::vector<Reply> replies_;
  LeaderServiceCounters counters_;
};

}  // namespace conclave::agent
