// RawNode: one member of a Raft group, as a pure, single-threaded state machine.
//
// Inputs: tick() (one logical clock tick), step(message), propose(data), campaign().
// Output: a Ready value (see types.h for the order in which its parts must be handled),
// acknowledged with advance(). RawNode never does I/O, never reads a clock and draws randomness
// only from the seed in its Config, so the same inputs give the same outputs (the simulator
// relies on this).
//
// Scope today: leader election (§5.2), log replication and the commit rule (§5.3, §5.4),
// proposal forwarding from followers, ReadIndex reads on the leader (thesis §6.4), detection
// of followers that lost acknowledged entries, recovery from persisted state, pre-vote with a
// leader lease for votes (§9.6, §4.2.3), leadership transfer (§3.10), membership changes one
// server at a time with learners (§4.1-4.2), and log compaction with chunked snapshot installs
// (§7).
// Not yet: ReadIndex asked of a follower.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "raft/types.h"

namespace conclave::raft {

struct Config {
  NodeId id = kNoNode;
  // The initial membership, in force until the log holds a membership entry. `id` need not be
  // in it: a server joining an existing group starts with no members at all and learns the
  // membership (which names it a learner) from the leader's log.
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  int heartbeat_ticks = 5;            // leader sends heartbeats every this many ticks
  int election_ticks = 40;            // a follower waits a random [election_ticks,
                                      // 2 * election_ticks) ticks without a leader before
                                      // campaigning (Raft §5.2 randomized timeouts)
  size_t max_entries_per_append = 64;         // entries in one append_request
  size_t max_bytes_per_append = 1 << 20;      // data bytes in one append_request
  size_t max_uncommitted_entries = 4096;      // the leader refuses proposals beyond this
  size_t max_pending_reads = 10000;           // ReadIndex reads waiting for confirmation
  uint64_t random_seed = 1;                   // the only randomness RawNode uses
  // Pre-vote (thesis §9.6): an election timeout first asks a quorum whether it would vote,
  // without changing any term, so a server back from a partition cannot depose a leader.
  bool pre_vote = true;
  // Lease reads (thesis §6.4.1), OFF by default: the leader confirms a read at once, without a
  // heartbeat round, while a quorum acknowledged one of its heartbeats sent less than
  // election_ticks - lease_drift_margin_ticks ago. Safe only if no server's clock runs faster
  // than the leader's by more than the margin over an election timeout (followers refuse to
  // vote for anyone else for election_ticks after hearing from the leader, measured by their
  // own clocks); a paused or drifting clock can break it. ReadIndex, the default, assumes
  // nothing about clocks.
  bool lease_reads = false;
  int lease_drift_margin_ticks = 10;            // 25% of the default election timeout
  size_t snapshot_chunk_bytes = 256 * 1024;     // snapshot bytes in one message
  size_t max_snapshot_bytes = 1024 * 1024 * 1024;  // a follower refuses larger snapshots
  // A chunk unanswered this many heartbeat intervals is sent again (from what the follower
  // last acknowledged holding).
  int snapshot_resend_heartbeats = 2;
};

// What store/ recovered from disk. `entries` hold indexes start.index+1..N contiguously
// (empty for a new node). `applied` is the last index the state machine had durably applied
// (>= start.index); entries after it up to hard_state.commit are handed out again as
// committed_entries.
struct Recovered {
  HardState hard_state;
  std::vector<Entry> entries;
  Index applied = 0;
  LogStart start;
};

struct RawNodeCounters {
  // Followers that rejected a heartbeat at their own match index with a shorter log: they lost
  // acknowledged entries (see Message::acknowledged_index).
  uint64_t lost_log_reports = 0;
  // ReadIndex reads dropped unconfirmed because leadership ended (their callers retry).
  uint64_t reads_dropped = 0;
  uint64_t lease_reads = 0;  // reads confirmed by the lease, without a round
  // Vote requests of a higher term ignored because this node heard from a leader recently.
  uint64_t votes_refused_in_lease = 0;
  // Leadership transfers whose target did not take over within election_ticks.
  uint64_t transfers_abandoned = 0;
  uint64_t snapshot_chunks_sent = 0;
  uint64_t snapshots_installed = 0;   // received from a leader and handed to the caller
  uint64_t snapshots_refused = 0;     // over max_snapshot_bytes
  uint64_t gossip_triggered_elections = 0;  // leader_failed() started a (pre-)vote
};

class RawNode {
 public:
  // Preconditions: config.id != kNoNode; voters and learners hold each id once;
  // recovered.entries are contiguous from index 1; recovered.applied <= hard_state.commit <=
  // last entry index. Violations are programming errors and abort.
  RawNode(const Config& config, const Recovered& recovered);
  ~RawNode();
  RawNode(const RawNode&) = delete;
  RawNode& operator=(const RawNode&) = delete;

  // Advances the logical clock by one tick (heartbeats, election timeouts).
  void tick();

  // Handles one message from a peer. A message that is malformed for its type (e.g. entries
  // whose indexes do not follow log_index) is rejected with an error value and has no effect;
  // stale-term messages are ignored (ok). Messages not addressed to this node are an error.
  // ErrorCode::storage means this node's log contradicts the leader's in a way only a damaged
  // disk explains (acknowledged entries gone, a committed entry in conflict): the caller must
  // stop this node's Raft (never vote or acknowledge again) and report it.
  Status step(const Message& message);

  // Appends `data` to the log if this node is the leader, or forwards it to the leader as a
  // `propose` message if one is known. Returns the index the entry got (leader) or 0
  // (forwarded). Errors: no_leader when no leader is known; unavailable when the leader has
  // max_uncommitted_entries in flight. A forwarded proposal may be lost; callers time out.
  Result<Index> propose(std::string data);

  // Starts an election now, without pre-vote, and asks voters to grant it despite their
  // leader lease, like a leadership transfer (used to make a single-voter group leader at
  // once at start-up, and by tests to force an election).
  void campaign();

  // The caller's clock jumped (an event-loop stall it does not replay as ticks): a lease
  // measured in ticks can no longer be trusted, so lease reads wait for a fresh round.
  void clock_jumped();

  // Another failure detector (gossip) reports `failed` dead. A follower whose leader that is
  // starts a pre-vote (or, without pre-vote, an election) now instead of waiting out its
  // election timeout; it still needs a quorum, whose members grant it only once their own
  // leader lease has run out. No effect otherwise.
  void leader_failed(NodeId failed);

  // Leadership transfer (thesis §3.10), leader only: stops accepting proposals (they fail with
  // unavailable), brings `target` (kNoNode: the most caught-up voter) up to date and sends it
  // timeout_now, so it campaigns at once and its voters grant it despite the lease. Given up
  // after election_ticks if the target has not taken over. Errors: not_leader; unavailable
  // (no other voter); invalid_argument (target not another voter).
  Status transfer_leadership(NodeId target);
  NodeId transfer_target() const;  // kNoNode: no transfer in progress

  // Membership change, one server at a time (thesis §4.1), leader only: appends a membership
  // entry, which takes effect at once on every server that has it. Returns its index.
  // Errors: not_leader / no_leader; unavailable while an earlier change is uncommitted, before
  // this leader committed an entry of its term, or during a transfer; invalid_argument when the
  // change does not fit the membership (adding a member, promoting a non-learner, removing
  // the last voter). A leader that removes itself steps down once the change is committed.
  Result<Index> change_membership(const MembershipChange& change);
  // The membership in force (the latest in the log) and the index of its entry (0: Config's).
  const Membership& membership() const;
  Index membership_index() const;
  // Leader only (empty otherwise): what it knows about each member's log, itself included.
  std::vector<PeerProgress> peer_progress() const;

  // ReadIndex (Raft thesis §6.4, raft/read_index.h): asks the leader to confirm a
  // linearizable read. The answer comes in a later Ready's read_states with the same
  // `context`: serve the read once the state machine has applied that index. Errors:
  // not_leader / no_leader (ask the leader), unavailable (max_pending_reads waiting). A read
  // may also be dropped unanswered when leadership ends (counters().reads_dropped): callers
  // time out and retry with the new leader.
  Status read_index(uint64_t context);
  // ReadIndex asked by a follower of its leader (thesis §6.4): the answer comes in a later
  // Ready's read_states, with the leader's commit index at a moment it was confirmed leader;
  // serve the read once this node has applied that far. It may never come (the leader
  // changed, a message was lost): callers time out and retry. Errors: no_leader; not_leader
  // when this node leads (use read_index). `context` must be below 2^63.
  Status read_index_from_leader(uint64_t context);

  // Log compaction: drops entries up to `through` (at most the applied and persisted index)
  // from memory and returns the new log start, which the caller persists (deleting those
  // entries from its store) in a later batch. Only applied entries go: their effect must be in
  // the caller's persisted state before it persists the returned start.
  LogStart compact(Index through);
  // The snapshot to send followers that need compacted entries: the state machine as of
  // `index` (<= applied_index(), within the log), encoded by the caller. Set it whenever the
  // log is compacted, before any follower can need it.
  void set_snapshot(Index index, std::shared_ptr<const std::string> data);
  Index log_start() const;  // entries up to here are compacted away

  // Messages that promise nothing about state not yet durable (heartbeat acknowledgements of
  // persisted entries, refusals, the leader's appends, pre-votes; see raw_node.cc
  // promises_nothing_unpersisted): the caller may send them at once, even while a Ready is
  // being persisted, so they do not wait behind an fsync. Those not taken come out in the
  // next Ready's messages as usual.
  std::vector<Message> take_messages_without_persist();

  bool has_ready() const;
  // Collects what the caller must persist, send and apply. Precondition: the previous Ready
  // was advanced.
  Ready ready();
  // Acknowledges that `ready` was handled in full (persisted, sent, applied).
  void advance(const Ready& ready);

  NodeId id() const;
  NodeId leader() const;
  Role role() const;
  Term term() const;
  Index commit_index() const;
  Index applied_index() const;
  Index last_index() const;
  // The entry at `index`, for checkers and tests. Precondition: 1 <= index <= last_index().
  const Entry& entry_at(Index index) const;
  const RawNodeCounters& counters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace conclave::raft
