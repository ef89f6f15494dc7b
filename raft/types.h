// Plain value types of the Raft core: log entries, hard state, messages and the Ready value.
//
// These are the only Raft types that cross a module boundary. wire/ converts Message and Entry
// to and from FlatBuffers; store/ persists HardState and Entry. Nothing here knows about bytes
// on a wire or rows on a disk.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace conclave::raft {

using NodeId = uint64_t;  // 0 is never a node
using Term = uint64_t;
using Index = uint64_t;   // log indexes start at 1; 0 means "before the first entry"

constexpr NodeId kNoNode = 0;

// Who takes part in a Raft group. Voters elect leaders and make up quorums; learners receive
// the log but never vote or count towards a quorum (a new server catches up as a learner
// before it is promoted, so adding it never stalls commits, thesis §4.2.1). Both sorted, no
// id in both.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool is_voter(NodeId node) const;
  bool is_learner(NodeId node) const;
  bool contains(NodeId node) const { return is_voter(node) || is_learner(node); }
  bool operator==(const Membership&) const = default;
};

enum class EntryType : uint8_t {
  normal = 0,      // `data` is opaque to Raft
  membership = 1,  // `membership` is the group's whole new membership; `data` is empty
};

// One log entry. `data` is opaque to Raft (agent/node puts an encoded command there). A normal
// entry with empty data is the no-op a new leader appends to commit entries of earlier terms
// (Raft §5.4.2, §8). A membership entry takes effect on every server as soon as it is in its
// log, committed or not (thesis §4.1).
struct Entry {
  Term term = 0;
  Index index = 0;
  std::string data;
  EntryType type = EntryType::normal;
  Membership membership = {};  // membership entries only

  bool operator==(const Entry&) const = default;
};

// What must survive a crash before the node may answer anything that depends on it (Raft
// Figure 2 "persistent state on all servers", plus the commit index so that a restarted node
// can re-apply what it knew was committed without waiting for a leader).
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;

  bool operator==(const HardState&) const = default;
};

// Where a log begins: entries up to `index` were compacted away (their effect is in the state
// machine's persisted state) or replaced by an installed snapshot. `term` is that index's term
// (for log matching); `membership` is the membership in force there. index 0: nothing
// compacted (membership unused: Config's applies).
struct LogStart {
  Index index = 0;
  Term term = 0;
  Membership membership;

  bool operator==(const LogStart&) const = default;
};

// The state machine at `start.index`: what a follower behind the compacted log installs. `data`
// is opaque to Raft (agent/ encodes the state rows) and shared, not copied, while in flight.
struct Snapshot {
  LogStart start;
  std::shared_ptr<const std::string> data;
};

enum class MessageType : uint8_t {
  vote_request = 0,     // RequestVote (Raft §5.2): log_index/log_term = candidate's last entry
  vote_response = 1,    // reject = vote not granted
  append_request = 2,   // AppendEntries (§5.3): log_index/log_term = entry before `entries`;
                        // no entries = heartbeat
  append_response = 3,  // success: log_index = last index now known to match the leader;
                        // reject: log_index = the prev index that did not match,
                        //         reject_hint = the follower's last log index
  propose = 4,          // a follower forwards client proposals (entries with data) to the leader
  // Pre-vote (thesis §9.6): "would you vote for me in term `term`?" asked before a real
  // election, without changing anyone's term or vote; a server that hears from a leader
  // says no, so a server returning from a partition cannot depose a healthy leader.
  pre_vote_request = 5,   // term = the term the sender would campaign in; log_index/log_term
  pre_vote_response = 6,  // reject = no; term = the request's term when granted, else ours
  timeout_now = 7,        // leadership transfer (thesis §3.10): the leader tells a caught-up
                          // follower to campaign at once
  // Snapshot install (§7), in chunks: log_index/log_term = the snapshot's position,
  // snapshot_membership its membership, snapshot_data the bytes from snapshot_offset on,
  // snapshot_done on the last chunk. The follower answers each chunk with snapshot_response
  // (snapshot_offset = the bytes it holds, so a lost chunk is resent from there; reject =
  // start again from 0) and the installed snapshot with an append_response for its index.
  snapshot = 8,
  snapshot_response = 9,
  // ReadIndex asked by a follower (thesis §6.4): read_context = the follower's id for the
  // read; the leader confirms it with a heartbeat round like its own reads and answers with
  // log_index = the index the follower must have applied before serving it.
  read_index_request = 10,
  read_index_response = 11,
};

const char* message_type_name(MessageType type);

struct Message;
// True for messages that may be sent before the Ready's batch is durable (see Ready, step 2).
bool may_send_before_persist(const Message& message);

struct Message {
  MessageType type = MessageType::append_request;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  Index log_index = 0;
  Term log_term = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;
  // append_request only: the highest index the recipient has acknowledged to this leader in
  // this term (its match index). A follower whose log ends before it has lost entries it
  // acknowledged: a damaged or replaced disk (etcd: "Was the raft log corrupted, truncated,
  // or lost?").
  Index acknowledged_index = 0;
  // append_request: the leader's current ReadIndex round; append_response: the round of the
  // request it answers (raft/read_index.h).
  uint64_t read_round = 0;
  // vote_request only: this election was asked for by the leader (timeout_now), so voters
  // grant it although they heard from that leader recently.
  bool leader_transfer = false;
  // read_index_request / read_index_response only: the follower's context for the read.
  uint64_t read_context = 0;
  // snapshot / snapshot_response only (see MessageType::snapshot).
  uint64_t snapshot_offset = 0;
  std::string snapshot_data;
  bool snapshot_done = false;
  Membership snapshot_membership;

  bool operator==(const Message&) const = default;
};

// A linearizable read confirmed by the leader (Raft thesis §6.4): it may be served from the
// state machine once `index` is applied. `context` is the caller's id from read_index().
struct ReadState {
  uint64_t context = 0;
  Index index = 0;

  bool operator==(const ReadState&) const = default;
};

enum class Role : uint8_t { follower = 0, candidate = 1, leader = 2, pre_candidate = 3 };

const char* role_name(Role role);

// One membership change, one server at a time (thesis §4.1: any two majorities of the old and
// new voter sets then overlap, so no joint consensus is needed).
enum class MembershipChangeType : uint8_t {
  add_learner = 0,   // a server not in the group starts receiving the log
  promote = 1,       // a learner becomes a voter
  remove = 2,        // a voter or learner leaves the group
};

struct MembershipChange {
  MembershipChangeType type = MembershipChangeType::add_learner;
  NodeId node = kNoNode;
};

// What the leader knows about one member's replication (for `conclave raft peers`).
struct PeerProgress {
  NodeId id = kNoNode;
  bool voter = false;
  Index match_index = 0;
  Index next_index = 0;
  // Ticks since the leader last heard from it (0 for the leader itself).
  uint64_t ticks_since_heard = 0;
  bool replicating = false;  // replicate state (else probing)
};

// Volatile state worth reporting (status output, metrics, simulator checkers).
struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::follower;

  bool operator==(const SoftState&) const = default;
};

// Everything the caller must do after a batch of inputs, in this order (the durability rule):
//
//   1. Persist `hard_state` (if set) and `entries` durably, in one transaction and one fsync.
//      Stored entries with index >= entries.front().index are replaced (a new leader may have
//      overwritten an uncommitted suffix, Raft §5.3).
//   2. Only then send `messages`. A vote or an append acknowledgement must never leave before
//      the fsync that backs it (Raft §5.2, §5.3: a node that forgets its vote could vote twice
//      in one term). Exception: messages for which may_send_before_persist() holds (the
//      leader's append requests, forwarded proposals) may leave before or during step 1, so
//      the leader's fsync and its followers' run in parallel (thesis §10.2.1). That is safe
//      because they promise nothing about this node's disk: the leader counts its own copy
//      towards a quorum only once persisted (advance()), and the term they carry was made
//      durable before the votes that elected this leader were asked for. Messages that promise
//      nothing unpersisted at all (those, refusals, acknowledgements of entries already
//      persisted) can also be taken with RawNode::take_messages_without_persist() while an
//      earlier Ready is still being persisted, so they never wait behind an fsync.
//   3. Apply `committed_entries` in index order. They are known committed (durable on a
//      quorum), so they may be applied, and answered, even before step 1 is done, provided
//      what applying them changes on disk is persisted with or after this Ready's batch (some
//      may be among `entries` of this same Ready).
//      Serve each of `read_states` once the state machine has applied its index.
//   4. Call RawNode::advance(ready) with this value.
//
// Until advance() is called, ready() must not be called again; inputs (step, tick, propose)
// may continue meanwhile and their effects appear in the next Ready.
struct Ready {
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Entry> committed_entries;
  std::optional<SoftState> soft_state;  // set when leader or role changed since the last Ready
  std::vector<ReadState> read_states;   // reads confirmed since the last Ready
  // A snapshot received from the leader. Persist it with step 1 (it replaces the whole log and
  // the state machine's state: no entry up to its index is kept) and restore the state
  // machine from it before applying `committed_entries`, which follow it.
  std::optional<Snapshot> snapshot;

  bool empty() const {
    return !hard_state && entries.empty() && messages.empty() && committed_entries.empty() &&
           !soft_state && read_states.empty() && !snapshot;
  }
};

}  // namespace conclave::raft
