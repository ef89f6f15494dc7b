// Node: one whole agent without I/O. It composes the gossip core, the Raft core, the state
// machine and the client-request logic; agent/runtime feeds it packets, frames, client requests
// and time, and carries out what it asks. The simulator runs the very same Node.
//
// Identity: every agent has a data folder identity (store::Identity: node name, server id); a
// server's Raft id is that server id, so a server whose folder was wiped is a new server that
// the cluster never heard from. Each process start draws a new boot id. The agent tells the
// others who it is through its gossip metadata (wire::NodeMeta: role, RPC address, boot id,
// server id, cluster id, bootstrap expectation and promise).
//
// Data flow:
//   gossip packets  -> Gossip -> membership (members, bootstrap, peer addresses by server id)
//   client requests -> members/status answered at once; kv get/put become Raft proposals
//                      (a follower forwards them to the leader inside Raft), answered when the
//                      entry is applied here. Gets go through the log too, so a get never
//                      returns a stale value (linearizable).
//   peer messages   -> RawNode::step
//   committed entries -> StateMachine::apply -> answers to the clients waiting on this node
//
// Outputs and their order (the durability rule of raft/types.h, extended to the state):
//   take_gossip_packets(), take_immediate_replies(): send at once, nothing to persist first.
//   ready(): a NodeReady whose batch must be persisted (one transaction) BEFORE its messages are
//   sent and its replies delivered; then advance(). Only one NodeReady may be outstanding.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/bootstrap.h"
#include "agent/state_machine.h"
#include "gossip/gossip.h"
#include "raft/raw_node.h"
#include "store/records.h"
#include "wire/client_messages.h"
#include "wire/node_meta.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

struct NodeOptions {
  std::string name;             // unique in the cluster
  bool server = true;           // servers run Raft; clients only gossip
  std::string gossip_address;   // host:port of this agent's UDP gossip socket
  std::string rpc_address;      // host:port of this agent's TCP listener
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

  int64_t default_request_timeout_ms = 5000;
  int64_t max_request_timeout_ms = 60000;
  size_t max_pending_requests = 10000;

  uint64_t random_seed = 1;
  // Random per process start (never 0). Announced in gossip metadata: the same name with a new
  // boot id is a restarted agent.
  uint64_t boot_id = 1;
  // Ids of this node's proposals start here. Must differ across restarts of the same node (a
  // random value per boot), so that a re-applied entry from an earlier life is never taken for
  // an answer to a new request.
  uint64_t request_id_base = 0;
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

// One durable step: persist `batch`, then send `messages`, then deliver `replies`, then call
// Node::advance().
struct NodeReady {
  store::Batch batch;
  std::vector<PeerSend> messages;
  std::vector<ClientReply> replies;
};

struct NodeCounters {
  uint64_t client_requests = 0;
  uint64_t client_requests_rejected = 0;   // invalid, over a limit, no leader
  uint64_t client_requests_timed_out = 0;
  uint64_t peer_messages_received = 0;
  uint64_t peer_messages_rejected = 0;     // RawNode::step refused them, or Raft not started
  uint64_t peer_messages_wrong_cluster = 0;  // from an agent of another cluster
  uint64_t proposals = 0;
  uint64_t entries_applied = 0;
  uint64_t bootstrap_refusals = 0;         // distinct refusals to bootstrap (bootstrap.h)
  uint64_t members_with_bad_metadata = 0;  // gossip metadata that did not decode
};

class Node {
 public:
  // `recovered` is what store/ loaded. Precondition: recovered.identity is set and names this
  // node (the runtime creates it for a new data folder and refuses a folder of another name).
  // A server with recorded voters starts Raft at once; a new server bootstraps by promise
  // (bootstrap.h). A server whose state is damaged (recovered.damage) never starts Raft.
  Node(NodeOptions options, const store::RecoveredState& recovered, int64_t now_ms);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void tick(int64_t now_ms);
  void receive_gossip(const std::string& from_address, const gossip::Packet& packet,
                      int64_t now_ms);
  void receive_peer(const wire::PeerMessage& message, int64_t now_ms);
  void receive_client(uint64_t connection_id, const wire::ClientRequest& request,
                      int64_t now_ms);
  // The client went away: its waiting requests are forgotten (their entries may still commit).
  void client_disconnected(uint64_t connection_id);

  std::vector<gossip::Outgoing> take_gossip_packets();
  std::vector<ClientReply> take_immediate_replies();
  std::vector<gossip::Event> take_membership_events();

  bool has_ready() const;
  NodeReady ready();
  void advance();

  // Introspection (status output, simulator checkers, tests).
  const NodeOptions& options() const { return options_; }
  const gossip::Gossip& gossip() const { return *gossip_; }
  const raft::RawNode* raft() const { return raft_.get(); }
  const StateMachine& state_machine() const { return state_machine_; }
  const std::vector<store::ServerRecord>& voters() const { return voters_; }
  raft::NodeId server_id() const { return identity_.server_id; }
  uint64_t cluster_id() const { return identity_.cluster_id; }
  std::string leader_name() const;
  const NodeCounters& counters() const { return counters_; }
  wire::StatusResponse status() const;
  // Why this server is not running Raft (bootstrap wait or refusal, damage); empty otherwise.
  // The runtime logs it whenever it changes.
  const std::string& raft_report() const;
  // Set when this server stopped its Raft for good (damaged state): the reason and the fix.
  const std::string& damage() const { return damage_; }

 private:
  struct Pending {
    uint64_t connection_id;
    uint64_t client_request_id;
    int64_t deadline_ms;
  };

  void maybe_bootstrap(int64_t now_ms);
  // True once a member at one of the -join addresses was seen alive (or none was given).
  bool joined();
  void start_raft(const store::RecoveredState& recovered);
  void stop_raft_for_damage(std::string reason);
  void refresh_members();
  void update_metadata(int64_t now_ms);
  void propose(uint64_t connection_id, const wire::ClientRequest& request, int64_t now_ms);
  void reply_error(uint64_t connection_id, uint64_t request_id, ErrorCode code,
                   std::string message);
  void expire_pending(int64_t now_ms);
  std::string name_of(raft::NodeId id) const;
  // The RPC address gossip knows for a server id (empty when not seen yet).
  std::string rpc_address_of(raft::NodeId server_id) const;

  NodeOptions options_;
  store::Identity identity_;
  std::unique_ptr<gossip::Gossip> gossip_;
  std::unique_ptr<raft::RawNode> raft_;
  StateMachine state_machine_;
  std::vector<store::ServerRecord> voters_;
  std::map<raft::NodeId, std::string> voter_names_;
  // Decoded gossip metadata of every member (by name), refreshed from membership events.
  std::map<std::string, wire::NodeMeta> member_meta_;
  std::vector<gossip::Event> membership_events_;  // for take_membership_events()

  BootstrapPlanner bootstrap_;
  std::optional<store::BootstrapPromise> promise_;          // persisted
  std::optional<store::BootstrapPromise> promise_to_save_;  // in the next batch
  std::optional<store::BootstrapPromise> promise_in_flight_;  // in the outstanding batch
  bool identity_needs_saving_ = false;  // voters and cluster id, with the first Raft batch
  std::string raft_report_;  // why Raft is not running (bootstrap wait/refusal, damage)
  std::string damage_;

  int64_t last_raft_tick_ms_;
  int64_t next_join_ms_;
  bool joined_ = false;
  uint64_t next_request_id_;
  std::map<uint64_t, Pending> pending_;

  std::vector<ClientReply> immediate_replies_;
  std::optional<raft::Ready> outstanding_ready_;
  NodeCounters counters_;
};

}  // namespace conclave::agent
