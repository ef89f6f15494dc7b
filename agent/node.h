// Node: one whole agent without I/O. It composes the gossip core, the Raft core, the state
// machine and the client-request logic; agent/runtime feeds it packets, frames, client requests
// and time, and carries out what it asks. The simulator runs the very same Node.
//
// Data flow:
//   gossip packets  -> Gossip -> membership (members, bootstrap, peer addresses)
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

#include "agent/state_machine.h"
#include "gossip/gossip.h"
#include "raft/raw_node.h"
#include "store/records.h"
#include "wire/client_messages.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

struct NodeOptions {
  std::string name;             // unique in the cluster; also the Raft identity
  bool server = true;           // servers run Raft; clients only gossip
  std::string gossip_address;   // host:port of this agent's UDP gossip socket
  std::string rpc_address;      // host:port of this agent's TCP listener
  // A fresh cluster elects its first leader once exactly this many servers (this one included)
  // are alive in gossip; the voter set is then recorded and never re-derived. Seeing more
  // servers than expected refuses to bootstrap (servers that saw different sets would form
  // different groups). 0: never bootstrap; Raft starts only from recorded voters.
  int bootstrap_expect = 1;
  std::vector<std::string> join_addresses;  // gossip seeds
  int64_t join_retry_interval_ms = 1000;    // re-sends joins while no other member is known

  gossip::Options gossip;       // name, address and tags are filled in from the fields above

  int64_t raft_tick_ms = 10;
  int heartbeat_ticks = 5;      // 50 ms
  int election_ticks = 40;      // 400-800 ms randomized

  int64_t default_request_timeout_ms = 5000;
  int64_t max_request_timeout_ms = 60000;
  size_t max_pending_requests = 10000;

  uint64_t random_seed = 1;
  // Ids of this node's proposals start here. Must differ across restarts of the same node (a
  // random value per boot), so that a re-applied entry from an earlier life is never taken for
  // an answer to a new request.
  uint64_t request_id_base = 0;
};

struct PeerSend {
  std::string to_name;
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
  uint64_t proposals = 0;
  uint64_t entries_applied = 0;
  uint64_t bootstrap_refusals = 0;         // more servers seen than bootstrap_expect
};

class Node {
 public:
  // `recovered` is what store/ loaded (empty for a new agent). A server with recorded voters
  // starts Raft at once; a new server waits for bootstrap_expect servers in gossip.
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
  const std::vector<std::string>& voters() const { return voters_; }
  raft::NodeId raft_id() const { return raft_id_; }
  std::string leader_name() const;
  const NodeCounters& counters() const { return counters_; }
  wire::StatusResponse status() const;

  // The Raft id every agent derives from a node name.
  static raft::NodeId raft_id_for(const std::string& name);

 private:
  struct Pending {
    uint64_t connection_id;
    uint64_t client_request_id;
    int64_t deadline_ms;
  };

  void maybe_bootstrap(int64_t now_ms);
  void start_raft(const store::RecoveredState& recovered);
  void propose(uint64_t connection_id, const wire::ClientRequest& request, int64_t now_ms);
  void reply_error(uint64_t connection_id, uint64_t request_id, ErrorCode code,
                   std::string message);
  void expire_pending(int64_t now_ms);
  std::string name_of(raft::NodeId id) const;
  // The TCP address gossip knows for each voter (voters not seen yet are absent).
  std::map<std::string, std::string> voter_rpc_addresses() const;

  NodeOptions options_;
  std::unique_ptr<gossip::Gossip> gossip_;
  std::unique_ptr<raft::RawNode> raft_;
  StateMachine state_machine_;
  raft::NodeId raft_id_;
  std::vector<std::string> voters_;
  std::map<raft::NodeId, std::string> voter_names_;
  bool voters_need_saving_ = false;
  std::string bootstrap_refusal_;  // why bootstrap was refused, for client errors

  int64_t last_raft_tick_ms_;
  int64_t next_join_ms_;
  uint64_t next_request_id_;
  std::map<uint64_t, Pending> pending_;

  std::vector<ClientReply> immediate_replies_;
  std::optional<raft::Ready> outstanding_ready_;
  NodeCounters counters_;
};

}  // namespace conclave::agent
