// Node: one whole agent without I/O. agent/runtime feeds it packets, frames, client requests and
// time, and carries out what it asks (through agent/node_driver.h); the simulator runs the very
// same Node through the same driver.
//
// Identity: every agent has a data folder identity (store::Identity: node name, server id); a
// server's Raft id is that server id, so a server whose folder was wiped is a new server that
// the cluster never heard from. Each process start draws a new boot id. The agent tells the
// others who it is through its gossip metadata (wire::NodeMeta: role, RPC address, boot id,
// server id, cluster id, bootstrap expectation and promise).
//
// Composition (each piece pure, in a file of its own):
//   gossip::Gossip          membership; failure detection
//   BootstrapPlanner        how the first servers agree on a cluster (bootstrap.h)
//   raft::RawNode           servers only, once bootstrapped
//   state::StateMachine     servers only: kv, sessions, locks, exactly-once (state_machine/)
//   Requester               every agent: sends its clients' requests to the leader, re-sends
//                           at failover (requester.h)
//   LocalSessions           every agent: the sessions and locks of its clients (local_sessions.h)
//   LeaderService           the leader only: proposes, confirms reads, answers (leader_service.h)
//
// A client request: members and status are answered here; everything else goes through the
// Requester to the leader (this very node when it leads: no network hop) and back.
//
// Outputs and their order (the durability rule of raft/types.h): gossip packets, peer sends
// (forwarded requests and their answers) and client replies go out at once: none depends on
// this node's unpersisted state (an answer is given only for an entry committed on a quorum, or
// a read confirmed by one). ready() gives the Raft batch, which must be persisted BEFORE its
// `messages` are sent (`messages_before_persist`, the leader's appends, may go at once; see
// raft::may_send_before_persist); then advance(). Only one NodeReady may be outstanding.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/autopilot.h"
#include "agent/bootstrap.h"
#include "agent/follower_reads.h"
#include "agent/leader_service.h"
#include "agent/local_sessions.h"
#include "agent/requester.h"
#include "agent/watch_hub.h"
#include "gossip/gossip.h"
#include "raft/raw_node.h"
#include "state_machine/state_machine.h"
#include "store/records.h"
#include "wire/client_messages.h"
#include "wire/node_meta.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

struct NodeOptions {
  std::string name;             // unique in the cluster
  bool server = true;           // servers run Raft; clients only gossip and forward
  std::string gossip_address;   // host:port of this agent's UDP gossip socket
  std::string rpc_address;      // host:port of this agent's TCP listener
  std::map<std::string, std::string> tags;  // user tags, in our gossip metadata
  // A new cluster starts once exactly this many servers agree on it (agent/bootstrap.h); the
  // voter set is then recorded and never re-derived. 0: never bootstrap; Raft starts only from
  // the voters recorded in the data folder.
  int bootstrap_expect = 1;
  // How long the set of alive servers must stay the same before a server promises it.
  // 0 only makes sense for a lone dev server.
  int64_t bootstrap_settle_ms = 1000;
  std::vector<std::string> join_addresses;  // gossip seeds
  // Re-sends joins until a member at one of the join addresses is seen alive.
  int64_t join_retry_interval_ms = 1000;

  gossip::Options gossip;       // name, address and metadata are filled in by Node

  int64_t raft_tick_ms = 10;
  int heartbeat_ticks = 5;      // 50 ms
  int election_ticks = 40;      // 400-800 ms randomized
  bool pre_vote = true;         // raft::Config::pre_vote
  bool lease_reads = false;     // raft::Config::lease_reads (off: ReadIndex rounds)
  // A planted bug for the checkers' own tests (never set by the agent): every server answers
  // every get from its own state at once, as `-stale` does, so a lagging follower or a deposed
  // leader serves stale reads. The simulator and the nemesis must catch it.
  bool inject_stale_reads = false;
  AutopilotOptions autopilot;   // the leader keeps the membership in step with gossip
  int64_t autopilot_interval_ms = 200;
  // Log compaction (raft/DESIGN.md "Snapshots"): once this many applied entries are in the
  // log, the state is snapshotted and the log truncated, keeping the last snapshot_keep_entries
  // for followers that are only a little behind.
  uint64_t snapshot_threshold_entries = 8192;
  uint64_t snapshot_keep_entries = 2048;

  int64_t default_request_timeout_ms = 5000;
  int64_t max_request_timeout_ms = 60000;
  size_t max_pending_requests = 10000;
  int64_t resend_after_ms = 1000;  // a forwarded request unanswered this long is re-sent

  // Simulator only: fault sites that must make its checkers object (never set in the binary).
  state::StateMachineFaults state_machine_faults;

  uint64_t random_seed = 1;
  // Random per process start (never 0). Announced in gossip metadata (the same name with a new
  // boot id is a restarted agent) and used as this agent's exactly-once client identity.
  uint64_t boot_id = 1;
};

struct PeerSend {
  std::string to_name;      // the agent's node name (the transport keys connections by it)
  std::string rpc_address;  // from gossip; empty when this node has not learned it yet
  wire::PeerMessage message;
};

struct ClientReply {
  uint64_t connection_id = 0;
  wire::ClientResponse response;
};

// One durable step: persist `batch`, then send `messages`, then call Node::advance().
struct NodeReady {
  store::Batch batch;
  std::vector<PeerSend> messages;  // only once `batch` is durable
  // May leave at once, while `batch` is being persisted (raft::may_send_before_persist).
  std::vector<PeerSend> messages_before_persist;
};

struct NodeCounters {
  uint64_t client_requests = 0;
  uint64_t client_requests_rejected = 0;   // invalid or over a limit, answered at once
  uint64_t peer_messages_received = 0;
  uint64_t peer_messages_rejected = 0;     // RawNode::step refused them, or Raft not started
  uint64_t peer_messages_wrong_cluster = 0;  // from an agent of another cluster
  uint64_t entries_applied = 0;
  uint64_t bootstrap_refusals = 0;         // distinct refusals to bootstrap (bootstrap.h)
  uint64_t members_with_bad_metadata = 0;  // gossip metadata that did not decode
  uint64_t raft_messages_unroutable = 0;   // to a server id gossip does not show (dropped)
  uint64_t raft_stalls = 0;  // event-loop stalls whose missed ticks were not replayed
  uint64_t membership_changes_proposed = 0;  // by autopilot or an operator
  uint64_t snapshots_taken = 0;            // compactions of this server's log
  uint64_t snapshots_installed = 0;        // received from the leader
  uint64_t follower_reads_served = 0;      // linearizable gets served here as a follower
  uint64_t follower_reads_forwarded = 0;   // not confirmed in time: sent to the leader
};

class Node {
 public:
  // `recovered` is what store/ loaded. Precondition: recovered.identity is set and names this
  // node (the runtime creates it for a new data folder and refuses a folder of another name).
  // A server with recorded voters starts Raft at once; a new server bootstraps by promise
  // (bootstrap.h). A server whose state is damaged (recovered.damage, or state rows that do not
  // decode) never starts Raft.
  Node(NodeOptions options, const store::RecoveredState& recovered, int64_t now_ms);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void tick(int64_t now_ms);
  void receive_gossip(const std::string& from_address, const gossip::Packet& packet,
                      int64_t now_ms);
  void receive_peer(const wire::PeerMessage& message, int64_t now_ms);
  // The connection to `name` failed or closed (its forwarded requests go elsewhere now).
  void peer_unreachable(const std::string& name, int64_t now_ms);
  void receive_client(uint64_t connection_id, const wire::ClientRequest& request,
                      int64_t now_ms);
  // The client went away: the sessions bound to its connection end at once.
  void client_disconnected(uint64_t connection_id, int64_t now_ms);

  std::vector<gossip::Outgoing> take_gossip_packets();
  std::vector<PeerSend> take_peer_sends();
  std::vector<ClientReply> take_client_replies();
  std::vector<gossip::Event> take_membership_events();

  bool has_ready() const;
  NodeReady ready();
  void advance();

  // Graceful stop: a leader with other voters starts a leadership transfer to the most
  // caught-up one (raft::RawNode::transfer_leadership). Returns whether it did; the caller
  // keeps running until leads() is false (or it gives up), then stops.
  bool begin_handover();
  bool leads() const { return raft_ && raft_->role() == raft::Role::leader; }
  // Graceful leave: gossip tells everyone this node left (not failed). Idempotent.
  void leave(int64_t now_ms);
  // True once the leave has been sent its full share of retransmissions.
  bool leave_spread() const { return gossip_->leave_spread(); }
  // A client asked for `conclave leave` (the runtime then shuts down as on SIGTERM).
  bool leave_requested() const { return leave_requested_; }
  // Name conflicts gossip saw since the last call (gossip::Conflict; `refused` means this
  // agent's name belongs to another live agent: it must stop).
  std::vector<gossip::Conflict> take_name_conflicts() { return gossip_->take_conflicts(); }
  // Members of other clusters that gossip met and kept apart (gossip::ForeignCluster).
  std::vector<gossip::ForeignCluster> take_foreign_clusters() {
    return gossip_->take_foreign_clusters();
  }

  // Introspection (status output, simulator checkers, tests).
  const NodeOptions& options() const { return options_; }
  const gossip::Gossip& gossip() const { return *gossip_; }
  // The other agents gossip shows alive or suspect (for the keyring fan-out).
  std::vector<std::string> alive_peer_names() const;
  // The RPC address an agent announces in gossip ("" when not known).
  std::string rpc_address_of_agent(const std::string& name) const;
  // The RPC address an agent announces in gossip ("" when not known).
  const raft::RawNode* raft() const { return raft_.get(); }
  const state::StateMachine& state_machine() const { return state_machine_; }
  // The voter set this server bootstrapped with (recorded in its data folder); empty for a
  // server that joined an existing cluster. The membership in force is raft()->membership().
  const std::vector<store::ServerRecord>& initial_voters() const { return voters_; }
  // Node name of a server id, from gossip metadata (else the recorded voters); "" if unknown.
  std::string name_of(raft::NodeId id) const;
  // Things worth a line in the log at info level (autopilot decisions); taken by the runtime.
  std::vector<std::string> take_notices() { return std::exchange(notices_, {}); }
  raft::NodeId server_id() const { return identity_.server_id; }
  uint64_t cluster_id() const { return identity_.cluster_id; }
  std::string leader_name() const;
  const NodeCounters& counters() const { return counters_; }
  const Requester& requester() const { return requester_; }
  const LocalSessions& local_sessions() const { return local_sessions_; }
  wire::StatusResponse status() const;
  // Why this server is not running Raft (bootstrap wait or refusal, damage); empty otherwise.
  // The runtime logs it whenever it changes.
  const std::string& raft_report() const { return raft_report_; }
  // Set when this server stopped its Raft for good (damaged state): the reason and the fix.
  const std::string& damage() const { return damage_; }
  // The state machine applied these grants (the simulator's lock checkers read them).
  std::vector<state::LockGrant> take_applied_grants() { return std::exchange(applied_grants_, {}); }

 private:
  void maybe_bootstrap(int64_t now_ms);
  // A server in no cluster, with no bootstrap promise, that sees a running cluster joins it:
  // it starts Raft with no membership and waits for the leader's autopilot to add it as a
  // learner (it never votes before it is promoted).
  bool maybe_join_cluster(int64_t now_ms);
  void run_autopilot(int64_t now_ms);
  // Compacts the log behind a fresh snapshot once it holds snapshot_threshold_entries applied
  // entries (called after a batch is durable, so what was applied is persisted).
  void maybe_compact();
  // Gives Raft the state as of the applied index, to send followers behind the log start.
  void offer_snapshot();
  // True once a member at one of the -join addresses was seen alive (or none was given).
  bool joined();
  void start_raft(const store::RecoveredState& recovered);
  void stop_raft_for_damage(std::string reason);
  void refresh_members(int64_t now_ms);
  void update_metadata(int64_t now_ms);
  void rebuild_server_names();
  void adopt_cluster_id(int64_t now_ms);
  void on_leader_change(int64_t now_ms);
  // Carries messages between the Requester, LeaderService and LocalSessions until quiet.
  void route(int64_t now_ms);
  void handle_forward(const std::string& origin, const wire::ForwardRequest& request,
                      int64_t now_ms);
  // The leader answers `conclave raft peers | transfer-leader | remove-peer`.
  wire::ClientResponse answer_raft_admin(const wire::RaftAdminRequest& request);
  // Follower reads (follower_reads.h): serve those confirmed and applied; forward the rest to
  // the leader when they wait too long or this node stops following.
  void serve_follower_reads();
  // A follower with a known leader (and room) serves linearizable reads itself.
  bool can_serve_follower_read() const;
  // Asks the leader to confirm the read registered as `context` (on failure, forwards all).
  void confirm_follower_read(uint64_t context, int64_t now_ms);
  // "Ask the leader instead": not_leader naming it, or no_leader.
  wire::ForwardResponse redirect(uint64_t forward_id, std::string why) const;
  void forward_follower_reads(std::vector<FollowerReads::Read> reads, int64_t now_ms);
  // A node name or a server id in hex, among the members; kNoNode if neither.
  raft::NodeId resolve_member(const std::string& target) const;
  void send_to_peer(const std::string& name, wire::PeerPayload payload);
  // Sends the answer to a forwarded request back to the agent that forwarded it.
  void answer_forward(const std::string& origin, wire::ForwardResponse response, int64_t now_ms);
  // A Raft message addressed by server id, as a peer send; nullopt (counted) when gossip does
  // not know where that server is.
  std::optional<PeerSend> raft_send(raft::Message message);
  void reply_error(uint64_t connection_id, uint64_t request_id, ErrorCode code,
                   std::string message);
  // The RPC address gossip knows for an agent (empty when not seen yet).
  std::string rpc_address_of(raft::NodeId server_id) const;
  std::map<std::string, MemberView> member_views() const;

  NodeOptions options_;
  store::Identity identity_;
  std::unique_ptr<gossip::Gossip> gossip_;
  std::unique_ptr<raft::RawNode> raft_;
  state::StateMachine state_machine_;
  std::vector<store::ServerRecord> voters_;
  std::map<raft::NodeId, std::string> voter_names_;  // the recorded (initial) voters
  std::map<raft::NodeId, std::string> server_names_;  // server id -> name, from gossip
  // Decoded gossip metadata of every member (by name), refreshed from membership events.
  std::map<std::string, wire::NodeMeta> member_meta_;
  std::vector<gossip::Event> membership_events_;  // for take_membership_events()
  // A member as `conclave members` shows it (role, RPC address and tags from its metadata).
  wire::MemberInfo member_info(const gossip::Member& member) const;
  bool leave_requested_ = false;
  bool servers_dirty_ = true;  // the servers the Requester may use need recomputing

  BootstrapPlanner bootstrap_;
  std::optional<store::BootstrapPromise> promise_;          // persisted
  std::optional<store::BootstrapPromise> promise_to_save_;  // in the next batch
  std::optional<store::BootstrapPromise> promise_in_flight_;  // in the outstanding batch
  bool identity_needs_saving_ = false;  // voters and/or cluster id
  std::string raft_report_;
  std::string damage_;

  Autopilot autopilot_;
  int64_t next_autopilot_ms_ = 0;
  std::vector<std::string> notices_;

  FollowerReads follower_reads_;
  Requester requester_;
  LocalSessions local_sessions_;
  WatchHub watch_hub_;  // this agent's local watchers, one upstream stream per key or prefix
  LeaderService leader_;
  std::string known_leader_;

  int64_t now_ms_;
  int64_t last_raft_tick_ms_;
  int64_t next_join_ms_;
  bool joined_ = false;
  // Whom join() asks: the -join addresses, then the members remembered in the data folder
  // (so a restarted agent rejoins without -join, like Serf's snapshot).
  std::vector<std::string> join_targets_;
  // Remembering members: the list is rewritten at most every kKnownMembersSaveMs when it
  // changed (store::KnownMember).
  bool known_members_dirty_ = false;
  int64_t next_known_members_save_ms_ = 0;
  std::vector<store::KnownMember> known_members_saved_;
  std::optional<std::vector<store::KnownMember>> known_members_to_save_;
  void maybe_save_known_members(int64_t now_ms);

  std::vector<gossip::Outgoing> gossip_out_;
  std::vector<PeerSend> peer_sends_;
  std::vector<ClientReply> client_replies_;
  // `members -watch` clients: connection id -> the request id their events answer.
  static constexpr size_t kMaxMemberWatchers = 256;
  std::map<uint64_t, uint64_t> member_watchers_;
  std::vector<state::LockGrant> applied_grants_;
  std::optional<raft::LogStart> log_start_to_save_;  // a compaction, for the next batch
  std::optional<raft::Ready> outstanding_ready_;
  bool outstanding_ready_from_raft_ = false;
  NodeCounters counters_;
};

}  // namespace conclave::agent
