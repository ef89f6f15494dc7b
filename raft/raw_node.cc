// RawNode: election (§5.2), replication (§5.3), the commit rule (§5.4) and the Ready protocol.
//
// Design notes:
// - The log after its start lives in memory (raft/log.h); the caller compacts it behind a
//   snapshot (raft/DESIGN.md "Snapshots"), so memory follows the live data, not the history.
// - Durability is expressed only through Ready ordering: every message produced while handling
//   an input goes out in a Ready whose hard_state/entries (persisted first by the caller) already
//   back it. Because ready() cannot be called again before advance(), anything a message refers
//   to was either persisted by an earlier Ready or is in the same one. The exception is what
//   may_send_before_persist() allows (append requests, proposals): they promise nothing about
//   this node's disk (types.h, Ready step 2).
// - The leader counts its own log towards a quorum only up to what it has persisted
//   (stable_index, updated in advance()), so an entry is never committed on the strength of a
//   copy that a crash could still lose.
// - Peers are kept in std::map so iteration, and therefore message order, is deterministic.
#include "raft/raw_node.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "common/check.h"
#include "common/prng.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/read_index.h"

namespace conclave::raft {

namespace {

// Named limit: data bytes of committed entries handed out in one Ready. At least one entry is
// always handed out; the rest follow in later Readys. Keeps one apply batch bounded.
constexpr size_t kMaxCommittedBytesPerReady = 4u << 20;

size_t data_bytes(const std::vector<Entry>& entries) {
  size_t bytes = 0;
  for (const Entry& entry : entries) bytes += entry.data.size();
  return bytes;
}

Error invalid(std::string message) {
  return make_error(ErrorCode::invalid_argument, "raft: " + std::move(message));
}

}  // namespace

struct RawNode::State {
  State(const Config& config_in, const Recovered& recovered)
      : config(config_in),
        prng(config_in.random_seed),
        log(recovered.start.index, recovered.start.term, recovered.entries) {
    initial_membership.voters = config.voters;
    initial_membership.learners = config.learners;
    if (recovered.start.index > 0) initial_membership = recovered.start.membership;
    std::sort(initial_membership.voters.begin(), initial_membership.voters.end());
    std::sort(initial_membership.learners.begin(), initial_membership.learners.end());
    recompute_membership();
  }

  Config config;
  Prng prng;
  RaftLog log;

  // Membership (thesis §4.1): the latest membership entry in the log, committed or not, else
  // the one in force at the log start (Config's when nothing was compacted).
  // membership_index: that entry's index (0: the log start's).
  Membership initial_membership;
  Membership membership;
  Index membership_index = 0;

  // Persistent state (Figure 2) plus the commit index.
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  // Volatile.
  Index applied = 0;
  Role role = Role::follower;
  NodeId leader = kNoNode;

  int election_elapsed_ticks = 0;
  int heartbeat_elapsed_ticks = 0;
  int randomized_election_ticks = 0;
  uint64_t leader_ticks = 0;  // ticks since this node became leader (check-quorum clock)

  std::map<NodeId, Progress> progress;  // leader only; includes this node
  std::map<NodeId, bool> votes;         // (pre-)candidate only: voter -> granted
  // Leadership transfer in progress (leader only): the target, and ticks since it started.
  NodeId transfer_target = kNoNode;
  int transfer_elapsed_ticks = 0;

  std::vector<Message> messages;  // outbox for the next Ready (after its batch is persisted)
  std::vector<Message> early_messages;  // may leave at once (take_messages_without_persist)
  RawNodeCounters counters;

  // Snapshots (raft/DESIGN.md "Snapshots"). The one set by the caller, sent to followers that
  // need compacted entries; per follower, the transfer in progress (the snapshot it started
  // with, the bytes the follower acknowledged, heartbeats without an answer).
  std::optional<Snapshot> snapshot;
  struct SnapshotTransfer {
    Snapshot snapshot;
    uint64_t acked_offset = 0;
    int idle_heartbeats = 0;
  };
  std::map<NodeId, SnapshotTransfer> transfers;
  // Follower: the snapshot being received (from which leader, in which term).
  struct IncomingSnapshot {
    NodeId from = kNoNode;
    Term term = 0;
    LogStart start;
    std::string data;
  };
  std::optional<IncomingSnapshot> incoming;
  std::optional<Snapshot> installed;  // for the next Ready
  Index restored_at = 0;              // the last snapshot installed here
  Index installing_through = 0;       // an installed snapshot not yet persisted (0: none)

  // ReadIndex (raft/read_index.h). Reads asked before this leader committed an entry of its
  // term wait in reads_before_commit (§6.4: until then its commit index may be stale).
  ReadIndexQueue reads;
  std::vector<uint64_t> reads_before_commit;
  std::vector<ReadState> read_states;  // confirmed, for the next Ready

  // What was last handed out, so a Ready carries only changes.
  HardState last_hard_state;
  SoftState last_soft_state;
  bool ready_in_flight = false;
  Index committed_handed_out_through = 0;

  // ---- helpers ------------------------------------------------------------------------------

  bool is_voter(NodeId node) const { return membership.is_voter(node); }
  size_t quorum() const { return quorum_size(membership.voters.size()); }
  // A group in which this node alone decides: it is the only voter.
  bool sole_voter() const { return membership.voters.size() == 1 && is_voter(config.id); }

  // ---- membership ---------------------------------------------------------------------------

  void recompute_membership() {
    membership = initial_membership;
    membership_index = 0;
    for (Index index = log.last_index(); index > log.start_index(); --index) {
      const Entry& entry = log.at(index);
      if (entry.type == EntryType::membership) {
        membership = entry.membership;
        membership_index = index;
        break;
      }
    }
  }

  // The log gained or lost a membership entry: the new membership applies at once (§4.1).
  void on_membership_changed() {
    if (role == Role::leader) {
      for (NodeId node : membership.voters) progress.try_emplace(node, Progress(log.last_index()));
      for (NodeId node : membership.learners) {
        progress.try_emplace(node, Progress(log.last_index()));
      }
      for (auto it = progress.begin(); it != progress.end();) {
        if (it->first != config.id && !membership.contains(it->first)) {
          transfers.erase(it->first);  // a snapshot transfer to it ends too
          it = progress.erase(it);
        } else {
          ++it;
        }
      }
      if (transfer_target != kNoNode && !is_voter(transfer_target)) transfer_target = kNoNode;
    }
  }

  // Appends to the log, following any membership entry at once.
  void append_to_log(Entry entry) {
    const bool changes_membership = entry.type == EntryType::membership;
    log.append(std::move(entry));
    if (changes_membership) {
      membership = log.at(log.last_index()).membership;
      membership_index = log.last_index();
      on_membership_changed();
    }
  }

  void truncate_log_from(Index index) {
    log.truncate_from(index);
    if (membership_index >= index) {
      recompute_membership();  // a membership entry was cut: the one before it applies again
      on_membership_changed();
    }
  }

  Result<Index> change_membership(const MembershipChange& change) {
    if (role != Role::leader) {
      return make_error(leader == kNoNode ? ErrorCode::no_leader : ErrorCode::not_leader,
                        "raft: membership changes are made by the leader");
    }
    if (transfer_target != kNoNode) {
      return make_error(ErrorCode::unavailable,
                        "raft: a leadership transfer is in progress; retry with the new leader");
    }
    // One change at a time: the next may only start once the previous one is committed, or
    // two changes could each form majorities that do not overlap (§4.1).
    if (membership_index > commit) {
      return make_error(ErrorCode::unavailable,
                        "raft: the membership change at index " +
                            std::to_string(membership_index) +
                            " is not committed yet; one change at a time");
    }
    // A new leader must first commit an entry of its own term, or a change it appends could
    // race one that an earlier leader appended but did not commit (the single-server change
    // bug noted by Ongaro, raft-dev 2015).
    if (!committed_in_term()) {
      return make_error(ErrorCode::unavailable,
                        "raft: this leader has not committed an entry of its term yet; retry "
                        "shortly");
    }
    if (change.node == kNoNode) return invalid("membership change for node 0");
    Membership next = membership;
    const std::string node = std::to_string(change.node);
    switch (change.type) {
      case MembershipChangeType::add_learner:
        if (next.contains(change.node)) {
          return invalid("node " + node + " is already a member of this group");
        }
        next.learners.push_back(change.node);
        break;
      case MembershipChangeType::promote:
        if (!next.is_learner(change.node)) {
          return invalid("node " + node + " is not a learner of this group");
        }
        std::erase(next.learners, change.node);
        next.voters.push_back(change.node);
        break;
      case MembershipChangeType::remove:
        if (!next.contains(change.node)) {
          return invalid("node " + node + " is not a member of this group");
        }
        if (next.is_voter(change.node) && next.voters.size() == 1) {
          return invalid("node " + node + " is the last voter; a group needs one");
        }
        std::erase(next.voters, change.node);
        std::erase(next.learners, change.node);
        break;
    }
    std::sort(next.voters.begin(), next.voters.end());
    std::sort(next.learners.begin(), next.learners.end());
    Entry entry;
    entry.term = term;
    entry.index = log.last_index() + 1;
    entry.type = EntryType::membership;
    entry.membership = std::move(next);
    append_to_log(std::move(entry));
    broadcast_append(/*send_empty=*/false);
    return log.last_index();
  }

  std::vector<PeerProgress> peer_progress() const {
    std::vector<PeerProgress> peers;
    for (const auto& [id, pr] : progress) {
      PeerProgress peer;
      peer.id = id;
      peer.voter = is_voter(id);
      peer.match_index = id == config.id ? log.stable_index() : pr.match_index();
      peer.next_index = pr.next_index();
      peer.ticks_since_heard = id == config.id ? 0 : leader_ticks - pr.last_heard_tick();
      peer.replicating = pr.state() == ReplicationState::replicate;
      peers.push_back(peer);
    }
    return peers;
  }

  void reset_election_timer() {
    // Raft §5.2: a fresh random timeout in [election_ticks, 2 * election_ticks) at every reset,
    // so that split votes are unlikely to repeat.
    election_elapsed_ticks = 0;
    randomized_election_ticks =
        config.election_ticks +
        static_cast<int>(prng.below(static_cast<uint64_t>(config.election_ticks)));
  }

  void send(Message message) { send_in_term(std::move(message), term); }

  // Pre-vote messages carry the term of the election they are about, not ours.
  void send_in_term(Message message, Term message_term) {
    CONCLAVE_CHECK(message.to != config.id, "raft never sends a message to itself");
    message.from = config.id;
    message.term = message_term;
    (promises_nothing_unpersisted(message) ? early_messages : messages)
        .push_back(std::move(message));
  }

  // May `message` leave while a batch is still being persisted (even one handed out before it
  // was created)? Yes when it promises nothing about state that is not yet durable: the kinds
  // may_send_before_persist() names; refusals (a vote or an append rejected promises
  // nothing; a term not yet durable only makes a peer step down); and an append acknowledgement
  // for entries already persisted.
  bool promises_nothing_unpersisted(const Message& message) const {
    if (may_send_before_persist(message)) return true;
    switch (message.type) {
      case MessageType::vote_response:
        return message.reject;
      case MessageType::append_response:
        // While an installed snapshot is not yet persisted, the log's "stable" start is a
        // promise the disk cannot keep yet: acknowledgements wait for its Ready.
        return message.reject ||
               (installing_through == 0 && message.log_index <= log.stable_index());
      default:
        return false;
    }
  }

  // Has this node heard from a leader within the minimum election timeout? Then it refuses
  // to help depose it (thesis §4.2.3, §9.6): a leader that lost its quorum steps down by
  // check-quorum within that time anyway.
  bool in_leader_lease() const {
    return role == Role::leader ||
           (leader != kNoNode && election_elapsed_ticks < config.election_ticks);
  }

  // The membership in force at `index` (within the log).
  Membership membership_at(Index index) const {
    for (Index at = std::min(index, log.last_index()); at > log.start_index(); --at) {
      if (log.at(at).type == EntryType::membership) return log.at(at).membership;
    }
    return initial_membership;
  }

  LogStart compact(Index through) {
    through = std::max(log.start_index(), std::min({through, applied, log.stable_index()}));
    LogStart start{through, log.term_at(through), membership_at(through)};
    log.compact_to(through);
    initial_membership = start.membership;
    if (membership_index <= through) membership_index = 0;
    return start;
  }

  void set_snapshot(Index index, std::shared_ptr<const std::string> data) {
    CONCLAVE_CHECK(index <= applied && log.has_term(index),
                   "set_snapshot() needs an applied index that is still in the log");
    snapshot = Snapshot{LogStart{index, log.term_at(index), membership_at(index)},
                        std::move(data)};
  }

  // The caller is taking these messages to send them: appends count as sent from now.
  void note_handed_out(const std::vector<Message>& outgoing) {
    if (role != Role::leader) return;
    for (const Message& message : outgoing) {
      if (message.type != MessageType::append_request || message.entries.empty()) continue;
      if (auto found = progress.find(message.to); found != progress.end()) {
        found->second.on_handed_out(message.entries.back().index);
      }
    }
  }

  // Leader: `peer` needs entries that were compacted away.
  bool needs_snapshot(const Progress& pr) const { return pr.next_index() < log.first_index(); }

  // Leader: sends `peer` the next chunk of its transfer, starting one if there is none.
  void send_snapshot_chunk(NodeId peer) {
    auto transfer = transfers.find(peer);
    if (transfer == transfers.end()) {
      if (!snapshot || snapshot->start.index < log.start_index()) return;  // none usable yet
      transfer = transfers.emplace(peer, SnapshotTransfer{*snapshot, 0, 0}).first;
    }
    SnapshotTransfer& t = transfer->second;
    const std::string& data = *t.snapshot.data;
    const uint64_t offset = std::min<uint64_t>(t.acked_offset, data.size());
    const size_t size = std::min<size_t>(config.snapshot_chunk_bytes, data.size() - offset);
    Message chunk;
    chunk.type = MessageType::snapshot;
    chunk.to = peer;
    chunk.log_index = t.snapshot.start.index;
    chunk.log_term = t.snapshot.start.term;
    chunk.snapshot_membership = t.snapshot.start.membership;
    chunk.snapshot_offset = offset;
    chunk.snapshot_data = data.substr(offset, size);
    chunk.snapshot_done = offset + size == data.size();
    chunk.commit = commit;
    t.idle_heartbeats = 0;
    ++counters.snapshot_chunks_sent;
    send(std::move(chunk));
  }

  void handle_snapshot_response(const Message& m) {
    auto transfer = transfers.find(m.from);
    if (transfer == transfers.end() || m.log_index != transfer->second.snapshot.start.index) {
      return;  // about a transfer that ended or was replaced
    }
    auto pr = progress.find(m.from);
    if (pr == progress.end() || !needs_snapshot(pr->second)) {
      transfers.erase(transfer);  // it caught up by appends meanwhile, or left the group
      return;
    }
    SnapshotTransfer& t = transfer->second;
    t.acked_offset = m.reject ? 0 : m.snapshot_offset;
    t.idle_heartbeats = 0;
    if (t.acked_offset < t.snapshot.data->size() || m.reject) send_snapshot_chunk(m.from);
  }

  // Follower: one chunk of a snapshot from this term's leader.
  Status handle_snapshot(const Message& m) {
    Message response;
    response.type = MessageType::snapshot_response;
    response.to = m.from;
    response.log_index = m.log_index;
    if (m.log_index <= commit ||
        (log.has_term(m.log_index) && log.term_at(m.log_index) == m.log_term)) {
      // Everything up to it is committed here already, hence the same as the leader's; or
      // our log holds the snapshot's last entry, hence (Log Matching) all before it: nothing
      // to replace. (Replacing it could drop entries we acknowledged beyond it.)
      Message done;
      done.type = MessageType::append_response;
      done.to = m.from;
      done.log_index = m.log_index;
      send(std::move(done));
      return Status();
    }
    const bool same = incoming && incoming->from == m.from && incoming->term == term &&
                      incoming->start.index == m.log_index &&
                      incoming->start.term == m.log_term;
    if (!same) {
      incoming.reset();
      if (m.snapshot_offset != 0) {
        response.reject = true;  // start again from the beginning
        send(std::move(response));
        return Status();
      }
      incoming = IncomingSnapshot{m.from, term,
                                  LogStart{m.log_index, m.log_term, m.snapshot_membership}, ""};
    }
    if (m.snapshot_offset != incoming->data.size()) {
      response.snapshot_offset = incoming->data.size();  // resend from what we hold
      send(std::move(response));
      return Status();
    }
    if (incoming->data.size() + m.snapshot_data.size() > config.max_snapshot_bytes) {
      incoming.reset();
      ++counters.snapshots_refused;
      return invalid("snapshot from node " + std::to_string(m.from) + " is over " +
                     std::to_string(config.max_snapshot_bytes) +
                     " bytes (max_snapshot_bytes); raise it on this server");
    }
    incoming->data += m.snapshot_data;
    if (!m.snapshot_done) {
      response.snapshot_offset = incoming->data.size();
      send(std::move(response));
      return Status();
    }
    install(std::move(*incoming));
    incoming.reset();
    return Status();
  }

  // Replaces log and state by the snapshot; the caller persists it (Ready::snapshot) before
  // the acknowledgement below leaves.
  void install(IncomingSnapshot received) {
    const LogStart start = received.start;
    log.restore(start.index, start.term);
    initial_membership = start.membership;
    recompute_membership();
    commit = start.index;
    applied = start.index;
    committed_handed_out_through = start.index;
    restored_at = start.index;
    installing_through = start.index;
    installed = Snapshot{start, std::make_shared<const std::string>(std::move(received.data))};
    ++counters.snapshots_installed;
    Message done;
    done.type = MessageType::append_response;
    done.to = received.from;
    done.log_index = start.index;
    send(std::move(done));
  }

  void become_follower(Term new_term, NodeId new_leader) {
    if (new_term > term) {
      // Figure 2: a higher term clears the vote.
      term = new_term;
      vote = kNoNode;
    }
    role = Role::follower;
    leader = new_leader;
    progress.clear();
    votes.clear();
    transfers.clear();
    transfer_target = kNoNode;
    drop_reads();
    heartbeat_elapsed_ticks = 0;
    reset_election_timer();
  }

  // Pre-vote (thesis §9.6): ask whether a quorum would vote for us in term + 1 before
  // disturbing anyone. Changes nothing durable, so a pre-candidate that loses loses nothing.
  void pre_campaign() {
    if (role == Role::leader || !is_voter(config.id)) return;
    role = Role::pre_candidate;
    leader = kNoNode;
    votes.clear();
    votes[config.id] = true;
    reset_election_timer();
    if (votes.size() >= quorum()) {
      campaign(/*leader_transfer=*/false);
      return;
    }
    ask_every_voter(MessageType::pre_vote_request, term + 1, /*leader_transfer=*/false);
  }

  // A (pre-)vote request carrying our last entry to every other voter.
  void ask_every_voter(MessageType type, Term election_term, bool leader_transfer) {
    for (NodeId peer : membership.voters) {
      if (peer == config.id) continue;
      Message request;
      request.type = type;
      request.to = peer;
      request.log_index = log.last_index();
      request.log_term = log.last_term();
      request.leader_transfer = leader_transfer;
      send_in_term(std::move(request), election_term);
    }
  }

  void campaign(bool leader_transfer) {
    if (role == Role::leader) return;  // already leads this term: nothing to win
    if (!is_voter(config.id)) return;  // learners and removed servers never campaign
    // §5.2: increment the term, vote for self, ask everyone else.
    term += 1;
    vote = config.id;
    role = Role::candidate;
    leader = kNoNode;
    progress.clear();
    votes.clear();
    drop_reads();
    votes[config.id] = true;
    reset_election_timer();
    if (votes.size() >= quorum()) {
      become_leader();  // a single-voter group wins at once
      return;
    }
    ask_every_voter(MessageType::vote_request, term, leader_transfer);
  }

  void drop_reads() {
    counters.reads_dropped += reads.size() + reads_before_commit.size();
    reads.reset();
    reads_before_commit.clear();
    remote_reads.clear();
    round_start_tick.clear();
    no_lease_reads_until_tick = 0;
  }

  // §6.4: the leader answers reads only once it has committed an entry of its own term.
  bool committed_in_term() const { return log.term_at(commit) == term; }

  // Reads followers asked this leader to confirm, by the context the leader gave them.
  static constexpr uint64_t kRemoteReadBit = uint64_t{1} << 63;
  struct RemoteRead {
    NodeId from = kNoNode;
    uint64_t context = 0;
  };
  std::map<uint64_t, RemoteRead> remote_reads;
  uint64_t next_remote_read = 0;

  void collect_confirmed_reads() {
    for (ReadState& read : reads.take_confirmed(membership.voters, config.id)) confirmed(read);
  }

  // A read confirmed at read.index: the caller's (read_states), or a follower's (answered).
  void confirmed(const ReadState& read) {
    auto remote = remote_reads.find(read.context);
    if (remote == remote_reads.end()) {
      read_states.push_back(read);
      return;
    }
    Message answer;
    answer.type = MessageType::read_index_response;
    answer.to = remote->second.from;
    answer.read_context = remote->second.context;
    answer.log_index = read.index;
    remote_reads.erase(remote);
    send(std::move(answer));
  }

  Status read_index_from_leader(uint64_t context) {
    CONCLAVE_CHECK((context & kRemoteReadBit) == 0, "read contexts must be below 2^63");
    if (role == Role::leader) {
      return make_error(ErrorCode::not_leader, "raft: this node leads; use read_index");
    }
    if (leader == kNoNode) {
      return make_error(ErrorCode::no_leader, "raft: no leader is known to confirm the read");
    }
    Message request;
    request.type = MessageType::read_index_request;
    request.to = leader;
    request.read_context = context;
    send(std::move(request));
    return Status();
  }

  void handle_read_index_request(const Message& m) {
    if (role != Role::leader) return;  // the follower times out and asks again
    const uint64_t context = kRemoteReadBit | next_remote_read++;
    remote_reads[context] = RemoteRead{m.from, m.read_context};
    // (A group of one confirms at once, inside read_index.)
    if (!read_index(context).ok()) remote_reads.erase(context);  // over max_pending_reads
  }

  Status read_index(uint64_t context) {
    if (role != Role::leader) {
      return make_error(leader == kNoNode ? ErrorCode::no_leader : ErrorCode::not_leader,
                        "raft: this node is not the leader; reads are confirmed by the leader");
    }
    if (reads.size() + reads_before_commit.size() >= config.max_pending_reads) {
      return make_error(ErrorCode::unavailable,
                        "raft: " + std::to_string(config.max_pending_reads) +
                            " reads are already waiting for confirmation "
                            "(max_pending_reads); retry shortly");
    }
    if (!committed_in_term()) {
      reads_before_commit.push_back(context);
      return Status();
    }
    if (config.lease_reads && in_read_lease()) {
      ++counters.lease_reads;
      confirmed(ReadState{context, commit});
      return Status();
    }
    reads.add(context, commit);
    if (sole_voter()) {
      reads.start_round();  // a group of one is its own quorum
      collect_confirmed_reads();
    }
    return Status();
  }

  // Lease reads: the start tick of each round still of interest.
  std::map<uint64_t, uint64_t> round_start_tick;

  uint64_t no_lease_reads_until_tick = 0;

  bool in_read_lease() const {
    if (sole_voter()) return true;
    if (transfer_target != kNoNode || leader_ticks < no_lease_reads_until_tick) return false;
    const uint64_t acked = reads.quorum_acked_round(membership.voters, config.id);
    auto started = round_start_tick.find(acked);
    if (acked == 0 || started == round_start_tick.end()) return false;
    const uint64_t lease_ticks =
        static_cast<uint64_t>(std::max(0, config.election_ticks - config.lease_drift_margin_ticks));
    return leader_ticks < started->second + lease_ticks;
  }

  void start_read_round() {
    const uint64_t round = reads.start_round();
    if (config.lease_reads) {
      round_start_tick[round] = leader_ticks;
      // Keep only rounds that can still be the quorum's latest.
      const uint64_t acked = reads.quorum_acked_round(membership.voters, config.id);
      round_start_tick.erase(round_start_tick.begin(), round_start_tick.lower_bound(acked));
    }
  }


  void broadcast_read_round() {
    start_read_round();
    for (NodeId peer : membership.voters) {
      if (peer != config.id) send_heartbeat(peer);
    }
  }

  void become_leader() {
    CONCLAVE_CHECK(role == Role::candidate, "only a candidate becomes leader");
    role = Role::leader;
    leader = config.id;
    votes.clear();
    heartbeat_elapsed_ticks = 0;
    reset_election_timer();
    leader_ticks = 0;  // every peer counts as just heard from: a grace period to answer
    progress.clear();
    for (NodeId peer : membership.voters) progress.emplace(peer, Progress(log.last_index() + 1));
    for (NodeId peer : membership.learners) {
      progress.emplace(peer, Progress(log.last_index() + 1));
    }
    progress[config.id].set_self_match(log.stable_index());
    // §5.4.2 / §8: entries of earlier terms are committed only indirectly, by committing an
    // entry of the current term; the no-op gives the new leader one at once.
    append_local(std::string());
    broadcast_append(/*send_empty=*/false);
  }

  Index append_local(std::string data) {
    const Index index = log.last_index() + 1;
    append_to_log(Entry{term, index, std::move(data)});
    return index;
  }

  // Sends `peer` the next entries it needs if its replication state allows; otherwise, if
  // `send_empty`, an append without entries (heartbeat: keeps the leader's authority, carries
  // the commit index and detects followers that lost messages).
  void send_append(NodeId peer, bool send_empty) {
    Progress& pr = progress.at(peer);
    if (needs_snapshot(pr)) {
      // Chunks go one at a time, each sent on the answer to the one before (or resent after
      // snapshot_resend_heartbeats): only start a transfer here.
      if (transfers.count(peer) == 0) send_snapshot_chunk(peer);
      return;
    }
    transfers.erase(peer);  // caught up by other means (it was elected, or it answered)
    if (pr.can_send_entries() && pr.next_index() <= log.last_index()) {
      const Index prev_index = pr.next_index() - 1;
      Message append;
      append.type = MessageType::append_request;
      append.to = peer;
      append.log_index = prev_index;
      append.log_term = log.term_at(prev_index);
      append.entries = log.slice(pr.next_index(), log.last_index(),
                                 config.max_entries_per_append, config.max_bytes_per_append);
      // The follower caps the commit at the last entry this message covers (§5.3).
      append.commit = commit;
      append.acknowledged_index = pr.match_index();
      append.read_round = reads.current_round();
      pr.on_entries_sent(append.entries.back().index, data_bytes(append.entries));
      pr.on_commit_sent(std::min(commit, append.entries.back().index));
      send(std::move(append));
      return;
    }
    if (!send_empty) return;
    Index prev_index = 0;
    if (pr.state() == ReplicationState::probe) {
      if (!pr.can_send_entries()) return;  // a probe is already outstanding
      prev_index = pr.next_index() - 1;    // does the follower hold this one?
      pr.on_probe_sent();
    } else {
      // In replicate state the follower is known to match through match_index; pointing the
      // heartbeat there can never be rejected because of appends still in flight. (Not before
      // the log start, whose term is the first one known.)
      prev_index = std::max(pr.match_index(), log.start_index());
    }
    Message heartbeat;
    heartbeat.type = MessageType::append_request;
    heartbeat.to = peer;
    heartbeat.log_index = prev_index;
    heartbeat.log_term = log.term_at(prev_index);
    // Only what the follower is known to hold may be declared committed to it.
    heartbeat.commit = std::min(commit, prev_index);
    heartbeat.acknowledged_index = pr.match_index();
    heartbeat.read_round = reads.current_round();
    pr.on_commit_sent(heartbeat.commit);
    send(std::move(heartbeat));
  }

  // An append without entries sent whatever the replication state, for a ReadIndex round:
  // any answer of this term, accept or reject, proves the follower still follows us.
  void send_heartbeat(NodeId peer) {
    Progress& pr = progress.at(peer);
    if (needs_snapshot(pr)) return;  // cannot confirm a read until it has installed one
    const Index prev_index =
        std::max(log.start_index(), pr.state() == ReplicationState::replicate
                                        ? pr.match_index()
                                        : pr.next_index() - 1);
    Message heartbeat;
    heartbeat.type = MessageType::append_request;
    heartbeat.to = peer;
    heartbeat.log_index = prev_index;
    heartbeat.log_term = log.term_at(prev_index);
    heartbeat.commit = std::min(commit, pr.match_index());
    heartbeat.acknowledged_index = pr.match_index();
    heartbeat.read_round = reads.current_round();
    pr.on_commit_sent(heartbeat.commit);
    send(std::move(heartbeat));
  }

  // Voters and learners alike receive the log.
  void broadcast_append(bool send_empty) {
    for (const auto& [peer, pr] : progress) {
      if (peer != config.id) send_append(peer, send_empty);
    }
  }

  // The commit index moved: tell the followers that hold the newly committed entries.
  void broadcast_commit() {
    for (const auto& [peer, pr] : progress) {
      if (peer != config.id) send_append_or_commit(peer);
    }
    step_down_if_removed();
  }

  // A leader that removed itself leads until that change is committed (it must, to commit
  // it), then steps down (thesis §4.2.2), handing over to the most caught-up voter at once
  // instead of leaving the others to wait out an election timeout.
  void step_down_if_removed() {
    if (role != Role::leader || is_voter(config.id) || commit < membership_index) return;
    NodeId successor = kNoNode;
    Index best = 0;
    for (NodeId voter : membership.voters) {
      const Index match = progress.at(voter).match_index();
      if (successor == kNoNode || match > best) {
        successor = voter;
        best = match;
      }
    }
    if (successor != kNoNode && best == log.last_index()) {
      Message message;
      message.type = MessageType::timeout_now;
      message.to = successor;
      send(std::move(message));
    }
    become_follower(term, kNoNode);
  }

  // Sends `peer` what it lacks: entries if any can go, else an empty append if it cannot yet
  // know the commit index for entries it holds (so that followers apply promptly instead of
  // waiting for the next heartbeat).
  void send_append_or_commit(NodeId peer) {
    const Progress& pr = progress.at(peer);
    send_append(peer, /*send_empty=*/pr.commit_sent() < std::min(commit, pr.match_index()));
  }

  void broadcast_heartbeat() {
    // With lease reads, every heartbeat is a numbered round, so the lease keeps renewing.
    if (config.lease_reads) start_read_round();
    for (auto& [peer, pr] : progress) {
      if (peer == config.id) continue;
      if (auto transfer = transfers.find(peer); transfer != transfers.end()) {
        // A snapshot chunk (or its answer) may have been lost: resend from what the follower
        // last acknowledged. The chunks themselves keep the follower from campaigning.
        if (++transfer->second.idle_heartbeats >= config.snapshot_resend_heartbeats) {
          send_snapshot_chunk(peer);
        }
        continue;
      }
      pr.on_heartbeat();  // may fall back to probing if appends were lost
      send_append(peer, /*send_empty=*/true);
    }
  }

  // §5.3 / §5.4.2: commit the highest index held by a quorum, but only if its entry is of the
  // current term (Figure 8: counting replicas of an older term's entry is not enough).
  bool maybe_commit() {
    if (role != Role::leader) return false;
    // Only voters count; a leader that is removing itself does not count its own copy (§4.2.2).
    std::vector<Index> matches;
    for (NodeId voter : membership.voters) matches.push_back(progress.at(voter).match_index());
    const Index candidate_commit = quorum_match_index(std::move(matches));
    if (candidate_commit <= commit || log.term_at(candidate_commit) != term) return false;
    commit = candidate_commit;
    if (!reads_before_commit.empty()) {
      for (uint64_t context : reads_before_commit) reads.add(context, commit);
      reads_before_commit.clear();
      if (sole_voter()) {
        reads.start_round();
        collect_confirmed_reads();
      }
    }
    return true;
  }

  // Check-quorum: a leader that has not heard from a quorum (itself included) within the last
  // election_ticks may be on the minority side of a partition; stepping down makes clients see
  // no_leader instead of a leader that can no longer commit. Followers elect a new leader after
  // at least election_ticks, so by then the old one has stopped claiming leadership.
  void check_quorum() {
    size_t active = 0;
    for (NodeId voter : membership.voters) {
      if (voter == config.id || leader_ticks - progress.at(voter).last_heard_tick() <
                                    static_cast<uint64_t>(config.election_ticks)) {
        ++active;
      }
    }
    if (active < quorum()) become_follower(term, kNoNode);
  }

  void tick() {
    if (role == Role::leader) {
      ++heartbeat_elapsed_ticks;
      ++leader_ticks;
      check_quorum();
      if (role != Role::leader) return;
      if (transfer_target != kNoNode && ++transfer_elapsed_ticks >= config.election_ticks) {
        transfer_target = kNoNode;  // the target did not take over in time: lead on
        ++counters.transfers_abandoned;
      }
      if (heartbeat_elapsed_ticks >= config.heartbeat_ticks) {
        heartbeat_elapsed_ticks = 0;
        broadcast_heartbeat();
      }
      return;
    }
    if (!is_voter(config.id)) {
      // A learner (or a removed server) never campaigns; the count only feeds its lease.
      election_elapsed_ticks = std::min(election_elapsed_ticks + 1, config.election_ticks);
      return;
    }
    ++election_elapsed_ticks;
    if (election_elapsed_ticks >= randomized_election_ticks) {
      if (config.pre_vote) {
        pre_campaign();
      } else {
        campaign(/*leader_transfer=*/false);
      }
    }
  }

  // ---- validation ---------------------------------------------------------------------------

  Status validate_entries(const Message& m) const {
    if (m.entries.size() > config.max_entries_per_append) {
      return invalid(std::string(message_type_name(m.type)) + " from node " +
                     std::to_string(m.from) + " carries " + std::to_string(m.entries.size()) +
                     " entries, over max_entries_per_append " +
                     std::to_string(config.max_entries_per_append) +
                     "; the peers' configs must agree");
    }
    // A single entry may exceed the byte limit (it must still be able to move); more may not.
    if (m.entries.size() > 1 && data_bytes(m.entries) > config.max_bytes_per_append) {
      return invalid(std::string(message_type_name(m.type)) + " from node " +
                     std::to_string(m.from) + " carries more than max_bytes_per_append " +
                     std::to_string(config.max_bytes_per_append) +
                     " data bytes; the peers' configs must agree");
    }
    return Status();
  }

  Status validate_membership_entry(const Message& m, const Entry& entry) const {
    if (entry.type == EntryType::normal) {
      if (entry.membership == Membership{}) return Status();
    } else if (entry.type == EntryType::membership) {
      const Membership& members = entry.membership;
      std::vector<NodeId> all = members.voters;
      all.insert(all.end(), members.learners.begin(), members.learners.end());
      std::sort(all.begin(), all.end());
      if (entry.data.empty() && !members.voters.empty() &&
          std::is_sorted(members.voters.begin(), members.voters.end()) &&
          std::is_sorted(members.learners.begin(), members.learners.end()) &&
          std::adjacent_find(all.begin(), all.end()) == all.end() && all.front() != kNoNode) {
        return Status();
      }
    }
    return invalid("append_request from node " + std::to_string(m.from) + " has entry " +
                   std::to_string(entry.index) +
                   " with a malformed membership (a membership entry needs sorted, distinct, "
                   "non-zero voters and learners, at least one voter, and no data)");
  }

  Status validate(const Message& m) const {
    if (static_cast<uint8_t>(m.type) > static_cast<uint8_t>(MessageType::read_index_response)) {
      return invalid("unknown message type " + std::to_string(static_cast<int>(m.type)) +
                     "; the decoder must reject it");
    }
    if (m.to != config.id) {
      return invalid("message for node " + std::to_string(m.to) + " delivered to node " +
                     std::to_string(config.id) + "; the transport routed it wrongly");
    }
    // Not required to be a member we know: a new learner knows no membership until the
    // leader's log tells it, and a server may see a newer membership than ours (§4.1).
    if (m.from == config.id || m.from == kNoNode) {
      return invalid("message from node " + std::to_string(m.from) + " delivered to node " +
                     std::to_string(config.id) + "; a peer claims this node's id");
    }
    if (m.term == 0) {
      return invalid(std::string(message_type_name(m.type)) + " from node " +
                     std::to_string(m.from) + " has term 0; every Raft message has a term >= 1");
    }
    switch (m.type) {
      case MessageType::append_request: {
        if (Status status = validate_entries(m); !status.ok()) return status;
        if (m.log_term > m.term || (m.log_index == 0 && m.log_term != 0)) {
          return invalid("append_request from node " + std::to_string(m.from) +
                         " has an impossible previous entry (index " +
                         std::to_string(m.log_index) + ", term " + std::to_string(m.log_term) +
                         ") for message term " + std::to_string(m.term));
        }
        Term previous_term = m.log_term;
        for (size_t i = 0; i < m.entries.size(); ++i) {
          const Entry& entry = m.entries[i];
          if (entry.index != m.log_index + 1 + i || entry.term < previous_term ||
              entry.term > m.term) {
            return invalid("append_request from node " + std::to_string(m.from) +
                           " has entry (index " + std::to_string(entry.index) + ", term " +
                           std::to_string(entry.term) +
                           ") out of order: entries must follow log_index consecutively with "
                           "non-decreasing terms no higher than the message term");
          }
          previous_term = entry.term;
          if (Status status = validate_membership_entry(m, entry); !status.ok()) return status;
        }
        return Status();
      }
      case MessageType::propose: {
        if (m.entries.empty()) {
          return invalid("propose from node " + std::to_string(m.from) + " carries no entries");
        }
        for (const Entry& entry : m.entries) {
          if (entry.data.empty()) {
            return invalid("propose from node " + std::to_string(m.from) +
                           " carries an entry with empty data, which is reserved for no-ops");
          }
        }
        return validate_entries(m);
      }
      case MessageType::vote_request:
      case MessageType::vote_response:
      case MessageType::append_response:
      case MessageType::pre_vote_request:
      case MessageType::pre_vote_response:
      case MessageType::timeout_now:
      case MessageType::snapshot_response:
      case MessageType::read_index_request:
      case MessageType::read_index_response:
        if (!m.entries.empty()) {
          return invalid(std::string(message_type_name(m.type)) + " from node " +
                         std::to_string(m.from) + " must not carry entries");
        }
        return Status();
      case MessageType::snapshot: {
        Entry as_entry;
        as_entry.index = m.log_index;
        as_entry.type = EntryType::membership;
        as_entry.membership = m.snapshot_membership;
        if (!m.entries.empty() || m.log_index == 0 || m.log_term == 0 || m.log_term > m.term) {
          return invalid("snapshot from node " + std::to_string(m.from) +
                         " has an impossible position (index " + std::to_string(m.log_index) +
                         ", term " + std::to_string(m.log_term) + ") or carries entries");
        }
        return validate_membership_entry(m, as_entry);
      }
    }
    return Status();
  }

  // ---- message handlers (m.term == term here) -----------------------------------------------

  void handle_vote_request(const Message& m) {
    // §5.2: at most one vote per term (a vote already given to this candidate may be repeated:
    // the request may have been duplicated). Not while a leader of this term is known: it
    // already holds a quorum, so no other candidate can win this term.
    const bool can_vote = vote == m.from || (vote == kNoNode && leader == kNoNode);
    // §5.4.1: only for a candidate whose log is at least as up-to-date as ours.
    const bool up_to_date = m.log_term > log.last_term() ||
                            (m.log_term == log.last_term() && m.log_index >= log.last_index());
    Message response;
    response.type = MessageType::vote_response;
    response.to = m.from;
    if (can_vote && up_to_date) {
      vote = m.from;
      reset_election_timer();  // give the candidate time to win before we campaign
      response.reject = false;
    } else {
      response.reject = true;
    }
    // Sent in the Ready whose hard_state records the vote: persisted before it leaves.
    send(std::move(response));
  }

  void handle_vote_response(const Message& m) {
    if (role != Role::candidate) return;  // late answer for an election already decided
    if (!is_voter(m.from)) return;        // only voters' answers count
    votes.emplace(m.from, !m.reject);     // the first answer from a voter counts
    size_t granted = 0;
    size_t rejected = 0;
    for (const auto& [voter, was_granted] : votes) (was_granted ? granted : rejected) += 1;
    if (granted >= quorum()) {
      become_leader();
    } else if (rejected >= quorum()) {
      become_follower(term, kNoNode);  // lost this term; wait for a leader or time out again
    }
  }

  // m.term is the term the sender would campaign in (ours + 1 or more); ours is unchanged.
  void handle_pre_vote_request(const Message& m) {
    const bool up_to_date = m.log_term > log.last_term() ||
                            (m.log_term == log.last_term() && m.log_index >= log.last_index());
    const bool grant = m.term > term && up_to_date && !in_leader_lease();
    Message response;
    response.type = MessageType::pre_vote_response;
    response.to = m.from;
    response.reject = !grant;
    // Granted: in the asked term, so the pre-candidate counts it; refused: in ours, so a
    // pre-candidate behind us learns our term.
    send_in_term(std::move(response), grant ? m.term : term);
  }

  void handle_pre_vote_response(const Message& m) {
    if (role != Role::pre_candidate || m.term != term + 1) return;  // stale or not ours
    if (!is_voter(m.from)) return;
    votes.emplace(m.from, !m.reject);
    size_t granted = 0;
    size_t rejected = 0;
    for (const auto& [voter, was_granted] : votes) (was_granted ? granted : rejected) += 1;
    if (granted >= quorum()) {
      campaign(/*leader_transfer=*/false);
    } else if (rejected >= quorum()) {
      become_follower(term, kNoNode);
    }
  }

  Status handle_append_request(const Message& m_in) {
    // Entries up to our log start are committed here, hence the same as the leader's: skip
    // them and check the rest against the start.
    Message trimmed;
    const Message* in = &m_in;
    if (m_in.log_index < log.start_index()) {
      trimmed = m_in;
      trimmed.entries.clear();
      for (const Entry& entry : m_in.entries) {
        if (entry.index > log.start_index()) trimmed.entries.push_back(entry);
      }
      trimmed.log_index = log.start_index();
      trimmed.log_term = log.term_at(log.start_index());
      in = &trimmed;
    }
    const Message& m = *in;
    // The leader says we acknowledged entries through m.acknowledged_index in this term; a log
    // that ends before it lost them (a damaged, rolled-back or replaced disk). Answering on it
    // could help elect a leader without a committed entry: stop instead (the caller stops
    // this node's Raft).
    if (m.acknowledged_index > log.last_index()) {
      return make_error(ErrorCode::storage,
                        "raft: leader " + std::to_string(m.from) + " of term " +
                            std::to_string(term) + " says this server acknowledged entries "
                            "through index " + std::to_string(m.acknowledged_index) +
                            ", but its log ends at " + std::to_string(log.last_index()) +
                            ": the log was corrupted, truncated or lost");
    }
    Message response;
    response.type = MessageType::append_response;
    response.to = m.from;
    response.read_round = m.read_round;  // the leader's ReadIndex round (read_index.h)
    // §5.3: reject unless we hold the entry before the new ones, with the same term.
    if (m.log_index > log.last_index() || log.term_at(m.log_index) != m.log_term) {
      // The hint lets the leader skip a whole conflicting term in one round trip (thesis
      // §5.3 optimisation): the last index that could still match, i.e. the last one whose
      // term is not above the leader's term at log_index, and its term.
      response.reject = true;
      response.log_index = m.log_index;
      response.reject_hint = log.last_index_with_term_at_most(m.log_index, m.log_term);
      if (response.reject_hint < log.start_index()) {
        // Our compacted (committed) start has a higher term than the leader's entry after
        // it: only a damaged log explains that.
        return make_error(ErrorCode::storage,
                          "raft: leader " + std::to_string(m.from) + " has term " +
                              std::to_string(m.log_term) + " at index " +
                              std::to_string(m.log_index) + ", below this server's committed "
                              "log start term " + std::to_string(log.term_at(log.start_index())) +
                              ": one of the two logs is damaged");
      }
      response.log_term = log.term_at(response.reject_hint);
      send(std::move(response));
      return Status();
    }
    for (const Entry& entry : m.entries) {
      if (entry.index <= log.last_index()) {
        if (log.term_at(entry.index) == entry.term) continue;  // already have it (Log Matching)
        // §5.3: a conflicting entry and all that follow it are deleted. A committed entry can
        // never conflict with a legitimate leader's log (Leader Completeness, §5.4): if one
        // does, this log or the leader's is damaged. Stop rather than overwrite it.
        if (entry.index <= commit) {
          return make_error(ErrorCode::storage,
                            "raft: leader " + std::to_string(m.from) + " of term " +
                                std::to_string(term) + " sent entry " +
                                std::to_string(entry.index) + " of term " +
                                std::to_string(entry.term) + ", which conflicts with this "
                                "server's committed entry of term " +
                                std::to_string(log.term_at(entry.index)) +
                                ": one of the two logs is damaged");
        }
        truncate_log_from(entry.index);
      }
      append_to_log(entry);
    }
    const Index last_covered = m.log_index + m.entries.size();
    // Only entries this message proved to match the leader's log may be marked committed; a
    // stale suffix beyond them may still differ from the leader's.
    commit = std::max(commit, std::min(m.commit, last_covered));
    response.reject = false;
    response.log_index = last_covered;
    send(std::move(response));
    return Status();
  }

  Status handle_append_response(const Message& m) {
    auto found = progress.find(m.from);
    if (found == progress.end()) return Status();  // from a server removed since
    Progress& pr = found->second;
    reads.on_ack(m.from, m.read_round);
    collect_confirmed_reads();
    if (m.reject) {
      // A follower that rejects the heartbeat pointing at its own match index, with a log
      // shorter than that, lost entries it acknowledged. It stops itself on the next append
      // (acknowledged_index); counted here so the leader's status shows it too.
      if (m.log_index == pr.match_index() && m.reject_hint < pr.match_index()) {
        ++counters.lost_log_reports;
      }
      // Skip, in our own log, every entry whose term is above the follower's at its hint: none
      // of them can match.
      Index hint = m.reject_hint;
      if (m.log_term != 0 && hint <= log.last_index() && log.has_term(hint)) {
        hint = log.last_index_with_term_at_most(hint, m.log_term);
      }
      if (pr.on_reject(m.log_index, hint)) send_append(m.from, /*send_empty=*/true);
      return Status();
    }
    if (auto transfer = transfers.find(m.from);
        transfer != transfers.end() && m.log_index >= transfer->second.snapshot.start.index) {
      transfers.erase(transfer);  // installed
    }
    const bool news = pr.on_success(m.log_index);
    if (m.from == transfer_target && pr.match_index() == log.last_index()) send_timeout_now();
    if (news && maybe_commit()) {
      broadcast_commit();
      return Status();
    }
    send_append_or_commit(m.from);  // keep streaming what the follower lacks
    return Status();
  }

  void send_timeout_now() {
    // The target's election ignores the voters' leases: no lease reads until it has surely
    // either won (and we heard of it) or failed.
    no_lease_reads_until_tick = leader_ticks + 2 * static_cast<uint64_t>(config.election_ticks);
    Message message;
    message.type = MessageType::timeout_now;
    message.to = transfer_target;
    send(std::move(message));
  }

  // Leadership transfer (thesis §3.10): stop taking proposals, bring the target up to date,
  // then tell it to campaign at once. kNoNode picks the voter with the highest match index.
  Status transfer_leadership(NodeId target) {
    if (role != Role::leader) {
      return make_error(ErrorCode::not_leader, "raft: only the leader can transfer leadership");
    }
    if (target == kNoNode) {
      Index best = 0;
      for (const auto& [peer, pr] : progress) {
        if (peer != config.id && is_voter(peer) && (target == kNoNode || pr.match_index() > best)) {
          target = peer;
          best = pr.match_index();
        }
      }
      if (target == kNoNode) {
        return make_error(ErrorCode::unavailable,
                          "raft: no other voter to transfer leadership to");
      }
    }
    if (target == config.id || !is_voter(target)) {
      return invalid("cannot transfer leadership to node " + std::to_string(target) +
                     ": not another voter of this group");
    }
    transfer_target = target;
    transfer_elapsed_ticks = 0;
    if (progress.at(target).match_index() == log.last_index()) {
      send_timeout_now();
    } else {
      send_append(target, /*send_empty=*/true);
    }
    return Status();
  }

  void handle_propose(const Message& m) {
    if (role != Role::leader) return;  // forwarded to a former leader: dropped, caller retries
    bool appended = false;
    for (const Entry& entry : m.entries) {
      if (log.last_index() - commit >= config.max_uncommitted_entries) break;  // over the limit
      append_local(entry.data);
      appended = true;
    }
    if (appended) broadcast_append(/*send_empty=*/false);
  }

  Status step(const Message& m) {
    if (Status status = validate(m); !status.ok()) return status;
    if (m.term < term) {
      // Stale (§5.1). Answer what needs an answer to make progress: an old leader learns our
      // term from an append response and steps down (without it, a leader cut off from a
      // quorum that never noticed would keep sending); a pre-candidate learns it from the
      // refusal. Everything else is dropped.
      if (m.type == MessageType::append_request) {
        Message response;
        response.type = MessageType::append_response;
        response.to = m.from;
        response.reject = true;
        response.log_index = m.log_index;
        response.reject_hint = log.last_index();
        send(std::move(response));
      } else if (m.type == MessageType::pre_vote_request) {
        Message response;
        response.type = MessageType::pre_vote_response;
        response.to = m.from;
        response.reject = true;
        send(std::move(response));
      }
      return Status();
    }
    // Semantic checks that depend on our log, before anything changes.
    if (m.term == term && role == Role::leader) {
      if (m.type == MessageType::append_request) {
        return invalid("append_request from node " + std::to_string(m.from) + " in term " +
                       std::to_string(term) +
                       ", in which this node is the leader; two leaders in one term means a "
                       "peer is faulty");
      }
      if (m.type == MessageType::append_response && m.log_index > log.last_index()) {
        return invalid("append_response from node " + std::to_string(m.from) +
                       " refers to index " + std::to_string(m.log_index) +
                       " past the leader's last index " + std::to_string(log.last_index()));
      }
    }
    if (m.term > term) {
      if (m.type == MessageType::pre_vote_request) {
        handle_pre_vote_request(m);  // a question about a future term: ours stays
        return Status();
      }
      if (m.type == MessageType::pre_vote_response && !m.reject) {
        handle_pre_vote_response(m);  // a grant in the term we would campaign in
        return Status();
      }
      if (m.type == MessageType::vote_request && !m.leader_transfer && in_leader_lease()) {
        // A server that campaigned without our leader's consent (e.g. it came back from a
        // partition): while we hear from a leader, its term must not depose it (§4.2.3).
        ++counters.votes_refused_in_lease;
        return Status();
      }
      // Figure 2 "all servers": a higher term makes us a follower of it. An append comes from
      // that term's leader; anything else does not tell us who leads.
      become_follower(m.term, m.type == MessageType::append_request ||
                                      m.type == MessageType::snapshot
                                  ? m.from
                                  : kNoNode);
    }
    if (role == Role::leader) {
      if (auto found = progress.find(m.from); found != progress.end()) {
        found->second.set_last_heard_tick(leader_ticks);
      }
    }

    switch (m.type) {
      case MessageType::vote_request:
        handle_vote_request(m);
        break;
      case MessageType::vote_response:
        handle_vote_response(m);
        break;
      case MessageType::pre_vote_request:
        handle_pre_vote_request(m);  // same term: refused (we are in it already)
        break;
      case MessageType::pre_vote_response:
        handle_pre_vote_response(m);  // a refusal in our own term
        break;
      case MessageType::timeout_now:
        // Our leader asks us to take over (thesis §3.10): campaign at once, past the lease.
        if (role == Role::follower && leader == m.from) {
          campaign(/*leader_transfer=*/true);
        }
        break;
      case MessageType::append_request:
        // A candidate that hears from this term's leader lost the election (§5.2).
        if (role == Role::candidate || role == Role::pre_candidate || leader != m.from) {
          become_follower(term, m.from);
        }
        reset_election_timer();
        return handle_append_request(m);
      case MessageType::append_response:
        if (role == Role::leader) return handle_append_response(m);
        break;
      case MessageType::snapshot:
        if (role == Role::candidate || role == Role::pre_candidate || leader != m.from) {
          become_follower(term, m.from);
        }
        reset_election_timer();  // chunks come from the leader: no election meanwhile
        return handle_snapshot(m);
      case MessageType::snapshot_response:
        if (role == Role::leader) handle_snapshot_response(m);
        break;
      case MessageType::read_index_request:
        handle_read_index_request(m);
        break;
      case MessageType::read_index_response:
        // From this term's leader: confirmed at its commit index.
        if (role == Role::follower && leader == m.from) {
          read_states.push_back(ReadState{m.read_context, m.log_index});
        }
        break;
      case MessageType::propose:
        handle_propose(m);
        break;
    }
    return Status();
  }

  Result<Index> propose(std::string data) {
    if (data.empty()) {
      return make_error(ErrorCode::invalid_argument,
                        "raft: empty proposal data is reserved for the leader's no-op entry; "
                        "encode a command");
    }
    if (data.size() > config.max_bytes_per_append) {
      return make_error(ErrorCode::too_large,
                        "raft: proposal of " + std::to_string(data.size()) +
                            " bytes is over max_bytes_per_append " +
                            std::to_string(config.max_bytes_per_append) + "; split it");
    }
    if (role == Role::leader) {
      if (transfer_target != kNoNode) {
        return make_error(ErrorCode::unavailable,
                          "raft: this leader is handing leadership to node " +
                              std::to_string(transfer_target) + "; retry with the new leader");
      }
      if (log.last_index() - commit >= config.max_uncommitted_entries) {
        return make_error(ErrorCode::unavailable,
                          "raft: the leader has " + std::to_string(log.last_index() - commit) +
                              " uncommitted entries (max_uncommitted_entries " +
                              std::to_string(config.max_uncommitted_entries) +
                              "); followers are slow or unreachable, retry later");
      }
      const Index index = append_local(std::move(data));
      broadcast_append(/*send_empty=*/false);
      return index;
    }
    if (role == Role::follower && leader != kNoNode) {
      Message forward;
      forward.type = MessageType::propose;
      forward.to = leader;
      forward.entries.push_back(Entry{0, 0, std::move(data)});  // the leader assigns term/index
      send(std::move(forward));
      return Index{0};
    }
    return make_error(ErrorCode::no_leader,
                      "raft: no leader is known in term " + std::to_string(term) +
                          " (an election is in progress, or a quorum of servers is unreachable); "
                          "retry after a leader is elected");
  }

  HardState hard_state() const { return HardState{term, vote, commit}; }
  SoftState soft_state() const { return SoftState{leader, role}; }
};

RawNode::RawNode(const Config& config, const Recovered& recovered)
    : state_(std::make_unique<State>(config, recovered)) {
  CONCLAVE_CHECK(config.id != kNoNode, "Config::id must be set");
  std::vector<NodeId> members = config.voters;
  members.insert(members.end(), config.learners.begin(), config.learners.end());
  std::sort(members.begin(), members.end());
  CONCLAVE_CHECK(std::adjacent_find(members.begin(), members.end()) == members.end(),
                 "Config::voters and Config::learners must hold each node once");
  CONCLAVE_CHECK(members.empty() || members.front() != kNoNode, "node id 0 is reserved");
  CONCLAVE_CHECK(config.heartbeat_ticks >= 1, "heartbeat_ticks must be >= 1");
  CONCLAVE_CHECK(config.election_ticks > config.heartbeat_ticks,
                 "election_ticks must exceed heartbeat_ticks (Raft §5.6 timing)");
  CONCLAVE_CHECK(config.max_entries_per_append >= 1, "max_entries_per_append must be >= 1");
  CONCLAVE_CHECK(recovered.applied <= recovered.hard_state.commit &&
                     recovered.hard_state.commit <= state_->log.last_index(),
                 "recovered state needs applied <= commit <= last entry index");
  CONCLAVE_CHECK(recovered.applied >= recovered.start.index,
                 "recovered state needs applied >= the log start (compacted entries are applied)");
  CONCLAVE_CHECK(state_->log.last_term() <= recovered.hard_state.term,
                 "a recovered entry has a term above the recovered current term");

  State& s = *state_;
  s.term = recovered.hard_state.term;
  s.vote = recovered.hard_state.vote;
  s.commit = recovered.hard_state.commit;
  s.applied = recovered.applied;
  s.committed_handed_out_through = recovered.applied;
  s.last_hard_state = recovered.hard_state;
  s.last_soft_state = s.soft_state();
  s.reset_election_timer();
}

RawNode::~RawNode() = default;

void RawNode::tick() { state_->tick(); }

Status RawNode::step(const Message& message) { return state_->step(message); }

Result<Index> RawNode::propose(std::string data) { return state_->propose(std::move(data)); }

void RawNode::campaign() { state_->campaign(/*leader_transfer=*/true); }

void RawNode::clock_jumped() { state_->round_start_tick.clear(); }

void RawNode::leader_failed(NodeId failed) {
  State& s = *state_;
  if (s.role != Role::follower || failed == kNoNode || s.leader != failed) return;
  // The lease would make us refuse others' pre-votes for up to an election timeout after the
  // last heartbeat; the leader is known dead, so drop it and ask at once. Still only a
  // quorum's yes starts an election.
  s.leader = kNoNode;
  s.election_elapsed_ticks = s.config.election_ticks;
  ++s.counters.gossip_triggered_elections;
  if (s.config.pre_vote) {
    s.pre_campaign();
  } else {
    s.campaign(/*leader_transfer=*/false);
  }
}
Status RawNode::transfer_leadership(NodeId target) { return state_->transfer_leadership(target); }
NodeId RawNode::transfer_target() const { return state_->transfer_target; }

Status RawNode::read_index(uint64_t context) { return state_->read_index(context); }
Status RawNode::read_index_from_leader(uint64_t context) {
  return state_->read_index_from_leader(context);
}

std::vector<Message> RawNode::take_messages_without_persist() {
  state_->note_handed_out(state_->early_messages);
  return std::exchange(state_->early_messages, {});
}

LogStart RawNode::compact(Index through) { return state_->compact(through); }
void RawNode::set_snapshot(Index index, std::shared_ptr<const std::string> data) {
  state_->set_snapshot(index, std::move(data));
}
Index RawNode::log_start() const { return state_->log.start_index(); }

Result<Index> RawNode::change_membership(const MembershipChange& change) {
  return state_->change_membership(change);
}
const Membership& RawNode::membership() const { return state_->membership; }
Index RawNode::membership_index() const { return state_->membership_index; }
std::vector<PeerProgress> RawNode::peer_progress() const {
  if (state_->role != Role::leader) return {};
  return state_->peer_progress();
}

bool RawNode::has_ready() const {
  const State& s = *state_;
  return s.installed.has_value() || s.hard_state() != s.last_hard_state ||
         s.log.has_unstable() || !s.messages.empty() || !s.early_messages.empty() ||
         s.commit > s.committed_handed_out_through || s.soft_state() != s.last_soft_state ||
         !s.read_states.empty() || (s.role == Role::leader && s.reads.needs_round());
}

Ready RawNode::ready() {
  State& s = *state_;
  CONCLAVE_CHECK(!s.ready_in_flight, "ready() called before the previous Ready was advanced");
  Ready ready;
  // Reads asked since the last Ready share one heartbeat round (read_index.h).
  if (s.role == Role::leader && s.reads.needs_round()) s.broadcast_read_round();
  ready.snapshot = std::move(s.installed);
  s.installed.reset();
  ready.read_states = std::move(s.read_states);
  s.read_states.clear();
  if (s.hard_state() != s.last_hard_state) {
    ready.hard_state = s.hard_state();
    s.last_hard_state = s.hard_state();
  }
  ready.entries = s.log.take_unstable();
  s.note_handed_out(s.early_messages);
  s.note_handed_out(s.messages);
  ready.messages = std::move(s.early_messages);
  s.early_messages.clear();
  ready.messages.insert(ready.messages.end(), std::make_move_iterator(s.messages.begin()),
                        std::make_move_iterator(s.messages.end()));
  s.messages.clear();
  size_t bytes = 0;
  for (Index index = s.applied + 1; index <= s.commit; ++index) {
    const Entry& entry = s.log.at(index);
    if (!ready.committed_entries.empty() &&
        bytes + entry.data.size() > kMaxCommittedBytesPerReady) {
      break;  // the rest come in later Readys
    }
    bytes += entry.data.size();
    ready.committed_entries.push_back(entry);
  }
  if (!ready.committed_entries.empty()) {
    s.committed_handed_out_through = ready.committed_entries.back().index;
  }
  if (s.soft_state() != s.last_soft_state) {
    ready.soft_state = s.soft_state();
    s.last_soft_state = s.soft_state();
  }
  s.ready_in_flight = true;
  return ready;
}

void RawNode::advance(const Ready& ready) {
  State& s = *state_;
  CONCLAVE_CHECK(s.ready_in_flight, "advance() called without a Ready in flight");
  s.ready_in_flight = false;
  if (!ready.entries.empty()) s.log.stable_to(ready.entries.back().index);
  if (ready.snapshot && s.installing_through == ready.snapshot->start.index) {
    s.installing_through = 0;  // persisted: acknowledgements may leave early again
  }
  if (!ready.committed_entries.empty()) {
    const Index last_applied = ready.committed_entries.back().index;
    if (last_applied <= s.restored_at && s.applied == s.restored_at) {
      // A snapshot installed since this Ready was handed out supersedes these entries.
    } else {
      CONCLAVE_CHECK(last_applied > s.applied && last_applied <= s.commit,
                     "advance() got committed entries that do not follow the applied index");
      s.applied = last_applied;
    }
  }
  if (s.role == Role::leader) {
    // The leader's own copy counts towards a quorum only once persisted.
    s.progress[s.config.id].set_self_match(s.log.stable_index());
    if (s.maybe_commit()) s.broadcast_commit();
  }
}

NodeId RawNode::id() const { return state_->config.id; }
NodeId RawNode::leader() const { return state_->leader; }
Role RawNode::role() const { return state_->role; }
Term RawNode::term() const { return state_->term; }
Index RawNode::commit_index() const { return state_->commit; }
Index RawNode::applied_index() const { return state_->applied; }
Index RawNode::last_index() const { return state_->log.last_index(); }
const Entry& RawNode::entry_at(Index index) const { return state_->log.at(index); }
const RawNodeCounters& RawNode::counters() const { return state_->counters; }

}  // namespace conclave::raft
