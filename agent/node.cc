#include "agent/node.h"

#include <algorithm>
#include <type_traits>

#include "common/check.h"
#include "wire/codec.h"

namespace conclave::agent {
namespace {

constexpr const char* kServerRole = "server";
constexpr const char* kClientRole = "client";

gossip::Options gossip_options_for(const NodeOptions& options) {
  gossip::Options result = options.gossip;
  result.name = options.name;
  result.address = options.gossip_address;
  result.tags.role = options.server ? kServerRole : kClientRole;
  result.tags.rpc_address = options.rpc_address;
  return result;
}

// Mixes the node name into the seed so that nodes given one seed still draw different numbers.
uint64_t mix_seed(uint64_t seed, const std::string& name, uint64_t salt) {
  return fnv1a64(name, seed ^ (salt * 0x9e3779b97f4a7c15ULL));
}

}  // namespace

raft::NodeId Node::raft_id_for(const std::string& name) {
  const raft::NodeId id = fnv1a64(name);
  return id == raft::kNoNode ? 1 : id;
}

Node::Node(NodeOptions options, const store::RecoveredState& recovered, int64_t now_ms)
    : options_(std::move(options)),
      gossip_(std::make_unique<gossip::Gossip>(gossip_options_for(options_),
                                               mix_seed(options_.random_seed, options_.name, 1),
                                               now_ms)),
      state_machine_(recovered),
      raft_id_(raft_id_for(options_.name)),
      last_raft_tick_ms_(now_ms),
      next_join_ms_(now_ms),
      next_request_id_(options_.request_id_base) {
  CONCLAVE_CHECK(!options_.name.empty(), "a node needs a name");
  CONCLAVE_CHECK(options_.bootstrap_expect >= 0, "bootstrap_expect must not be negative");
  if (options_.server && !recovered.voters.empty()) {
    voters_ = recovered.voters;
    start_raft(recovered);
  }
}

Node::~Node() = default;

void Node::start_raft(const store::RecoveredState& recovered) {
  raft::Config config;
  config.id = raft_id_;
  config.heartbeat_ticks = options_.heartbeat_ticks;
  config.election_ticks = options_.election_ticks;
  config.random_seed = mix_seed(options_.random_seed, options_.name, 2);
  for (const std::string& name : voters_) {
    const raft::NodeId id = raft_id_for(name);
    CONCLAVE_CHECK(voter_names_.count(id) == 0, "two voter names hash to one raft id");
    voter_names_[id] = name;
    config.voters.push_back(id);
  }
  raft::Recovered raft_state;
  raft_state.hard_state = recovered.hard_state;
  raft_state.entries = recovered.entries;
  raft_state.applied = recovered.applied_index;
  raft_ = std::make_unique<raft::RawNode>(config, raft_state);
  // A group of one needs no votes from anyone: take leadership now rather than after an
  // election timeout, so a dev agent is ready at once.
  if (voters_.size() == 1) raft_->campaign();
}

void Node::maybe_bootstrap(int64_t) {
  if (raft_ || !options_.server || options_.bootstrap_expect == 0) return;
  std::vector<std::string> servers;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.state == gossip::MemberState::alive && member.tags.role == kServerRole) {
      servers.push_back(member.name);
    }
  }
  const size_t expected = static_cast<size_t>(options_.bootstrap_expect);
  if (servers.size() < expected) return;
  std::sort(servers.begin(), servers.end());
  if (servers.size() > expected) {
    // Another server may have bootstrapped with a different subset: two groups could each
    // elect a leader. Refuse, and say so to every client and in the counters.
    std::string names;
    for (const std::string& name : servers) names += (names.empty() ? "" : ", ") + name;
    const std::string refusal =
        "refusing to bootstrap: " + std::to_string(servers.size()) + " servers are alive (" +
        names + ") but -bootstrap-expect is " + std::to_string(expected) +
        "; start every server of a new cluster with the same -bootstrap-expect equal to their "
        "number";
    if (refusal != bootstrap_refusal_) ++counters_.bootstrap_refusals;
    bootstrap_refusal_ = refusal;
    return;
  }
  bootstrap_refusal_.clear();
  voters_ = servers;
  voters_need_saving_ = true;
  store::RecoveredState fresh;
  fresh.applied_index = state_machine_.applied_index();
  start_raft(fresh);
}

void Node::tick(int64_t now_ms) {
  gossip_->tick(now_ms);
  if (!options_.join_addresses.empty() && gossip_->alive_count() <= 1 &&
      now_ms >= next_join_ms_) {
    gossip_->join(options_.join_addresses, now_ms);
    next_join_ms_ = now_ms + options_.join_retry_interval_ms;
  }
  maybe_bootstrap(now_ms);
  if (raft_) {
    // After a long pause (SIGSTOP, a stalled VM) catch up at most one election timeout:
    // replaying every missed tick at once would run several elections back to back.
    const int64_t behind_ticks = (now_ms - last_raft_tick_ms_) / options_.raft_tick_ms;
    if (behind_ticks > options_.election_ticks) {
      last_raft_tick_ms_ = now_ms - options_.election_ticks * options_.raft_tick_ms;
    }
    while (now_ms - last_raft_tick_ms_ >= options_.raft_tick_ms) {
      raft_->tick();
      last_raft_tick_ms_ += options_.raft_tick_ms;
    }
  } else {
    last_raft_tick_ms_ = now_ms;
  }
  expire_pending(now_ms);
}

void Node::receive_gossip(const std::string& from_address, const gossip::Packet& packet,
                          int64_t now_ms) {
  gossip_->step(from_address, packet, now_ms);
  maybe_bootstrap(now_ms);
}

void Node::receive_peer(const wire::PeerMessage& message, int64_t) {
  ++counters_.peer_messages_received;
  if (!raft_) {
    // Not bootstrapped yet: the sender retries (elections and heartbeats repeat).
    ++counters_.peer_messages_rejected;
    return;
  }
  if (!raft_->step(message.raft).ok()) ++counters_.peer_messages_rejected;
}

void Node::receive_client(uint64_t connection_id, const wire::ClientRequest& request,
                          int64_t now_ms) {
  ++counters_.client_requests;
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, wire::MembersRequest>) {
          wire::MembersResponse members;
          for (const gossip::Member& member : gossip_->members()) {
            members.members.push_back(wire::MemberInfo{
                member.name, member.address, gossip::member_state_name(member.state),
                member.tags.role, member.tags.rpc_address, member.incarnation});
          }
          immediate_replies_.push_back(
              ClientReply{connection_id, wire::ClientResponse{request.request_id, ErrorCode::ok,
                                                              "", false, members}});
        } else if constexpr (std::is_same_v<T, wire::StatusRequest>) {
          immediate_replies_.push_back(ClientReply{
              connection_id,
              wire::ClientResponse{request.request_id, ErrorCode::ok, "", false, status()}});
        } else {
          propose(connection_id, request, now_ms);
        }
      },
      request.body);
}

void Node::propose(uint64_t connection_id, const wire::ClientRequest& request, int64_t now_ms) {
  wire::Command command;
  command.origin_node = raft_id_;
  command.stamp_ms = now_ms;
  if (const auto* get = std::get_if<wire::KvGetRequest>(&request.body)) {
    if (get->key.empty() || get->key.size() > wire::kMaxKeyBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument,
                         "a key must be 1 to " + std::to_string(wire::kMaxKeyBytes) +
                             " bytes long");
    }
    command.op = wire::GetCommand{get->key};
  } else {
    const auto& put = std::get<wire::KvPutRequest>(request.body);
    if (put.key.empty() || put.key.size() > wire::kMaxKeyBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument,
                         "a key must be 1 to " + std::to_string(wire::kMaxKeyBytes) +
                             " bytes long");
    }
    if (put.value.size() > wire::kMaxValueBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::too_large,
                         "the value is " + std::to_string(put.value.size()) +
                             " bytes; the limit is " + std::to_string(wire::kMaxValueBytes));
    }
    command.op = wire::PutCommand{put.key, put.value};
  }
  if (!options_.server) {
    return reply_error(connection_id, request.request_id, ErrorCode::unavailable,
                       "this agent runs in client mode and kv requests need a server agent; "
                       "point --socket at a server agent's socket");
  }
  if (!raft_) {
    std::string why;
    if (!bootstrap_refusal_.empty()) {
      why = bootstrap_refusal_;
    } else if (options_.bootstrap_expect == 0) {
      why = "this server has no Raft configuration: start it with -bootstrap-expect N together "
            "with the other N-1 servers of a new cluster (adding a server to a running cluster "
            "is not supported yet)";
    } else {
      why = "the cluster is not bootstrapped yet: waiting for " +
            std::to_string(options_.bootstrap_expect) +
            " servers to join (see `conclave members`; start the others with -join)";
    }
    return reply_error(connection_id, request.request_id, ErrorCode::no_leader, why);
  }
  if (pending_.size() >= options_.max_pending_requests) {
    return reply_error(connection_id, request.request_id, ErrorCode::unavailable,
                       "this agent has " + std::to_string(pending_.size()) +
                           " requests in flight (its limit); retry shortly");
  }
  const uint64_t internal_id = next_request_id_++;
  command.request_id = internal_id;
  auto proposed = raft_->propose(wire::encode_command(command));
  if (!proposed.ok()) {
    return reply_error(connection_id, request.request_id, proposed.error().code,
                       proposed.error().message);
  }
  ++counters_.proposals;
  int64_t timeout_ms =
      request.timeout_ms == 0 ? options_.default_request_timeout_ms : request.timeout_ms;
  timeout_ms = std::min(timeout_ms, options_.max_request_timeout_ms);
  pending_[internal_id] = Pending{connection_id, request.request_id, now_ms + timeout_ms};
}

void Node::reply_error(uint64_t connection_id, uint64_t request_id, ErrorCode code,
                       std::string message) {
  ++counters_.client_requests_rejected;
  immediate_replies_.push_back(ClientReply{
      connection_id,
      wire::ClientResponse{request_id, code, std::move(message), false, std::monostate{}}});
}

void Node::expire_pending(int64_t now_ms) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline_ms > now_ms) {
      ++it;
      continue;
    }
    ++counters_.client_requests_timed_out;
    const std::string leader = leader_name();
    immediate_replies_.push_back(ClientReply{
        it->second.connection_id,
        wire::ClientResponse{
            it->second.client_request_id, ErrorCode::timed_out,
            "no answer before the deadline: the request was not committed in time (" +
                (leader.empty() ? std::string("no leader is known; the cluster may be "
                                              "electing or may have lost its quorum")
                                : "leader is " + leader) +
                "); a put may still be applied later",
            false, std::monostate{}}});
    it = pending_.erase(it);
  }
}

void Node::client_disconnected(uint64_t connection_id) {
  std::erase_if(pending_, [&](const auto& item) {
    return item.second.connection_id == connection_id;
  });
}

std::vector<gossip::Outgoing> Node::take_gossip_packets() { return gossip_->take_outgoing(); }

std::vector<ClientReply> Node::take_immediate_replies() {
  return std::exchange(immediate_replies_, {});
}

std::vector<gossip::Event> Node::take_membership_events() { return gossip_->take_events(); }

bool Node::has_ready() const {
  CONCLAVE_CHECK(!outstanding_ready_, "has_ready() while a NodeReady is outstanding");
  return voters_need_saving_ || (raft_ && raft_->has_ready());
}

NodeReady Node::ready() {
  CONCLAVE_CHECK(!outstanding_ready_, "ready() called before advance()");
  NodeReady result;
  if (voters_need_saving_) {
    result.batch.voters = voters_;
    voters_need_saving_ = false;
  }
  if (!raft_) {
    outstanding_ready_ = raft::Ready{};
    return result;
  }
  raft::Ready ready = raft_->ready();
  result.batch.hard_state = ready.hard_state;
  result.batch.entries = ready.entries;
  const std::map<std::string, std::string> rpc_addresses =
      ready.messages.empty() ? std::map<std::string, std::string>{} : voter_rpc_addresses();
  for (raft::Message& message : ready.messages) {
    PeerSend send;
    send.to_name = name_of(message.to);
    if (auto found = rpc_addresses.find(send.to_name); found != rpc_addresses.end()) {
      send.rpc_address = found->second;  // absent: not learned from gossip yet
    }
    send.message = wire::PeerMessage{options_.name, std::move(message)};
    result.messages.push_back(std::move(send));
  }
  ready.messages.clear();
  for (const raft::Entry& entry : ready.committed_entries) {
    Applied applied = state_machine_.apply(entry);
    ++counters_.entries_applied;
    if (!applied.command || applied.duplicate || applied.command->origin_node != raft_id_) {
      continue;
    }
    auto waiting = pending_.find(applied.command->request_id);
    if (waiting == pending_.end()) continue;  // timed out, disconnected, or an earlier life
    result.replies.push_back(ClientReply{
        waiting->second.connection_id,
        wire::ClientResponse{waiting->second.client_request_id, applied.error_code,
                             applied.error_message, false, applied.result}});
    pending_.erase(waiting);
  }
  result.batch.state = state_machine_.take_changes();
  outstanding_ready_ = std::move(ready);
  return result;
}

void Node::advance() {
  CONCLAVE_CHECK(outstanding_ready_.has_value(), "advance() without an outstanding ready()");
  if (raft_) raft_->advance(*outstanding_ready_);
  outstanding_ready_.reset();
}

std::string Node::name_of(raft::NodeId id) const {
  auto found = voter_names_.find(id);
  CONCLAVE_CHECK(found != voter_names_.end(), "raft addressed a node outside the voter set");
  return found->second;
}

std::map<std::string, std::string> Node::voter_rpc_addresses() const {
  // One pass over the member list per Ready, not one per message (heartbeats are frequent).
  std::map<std::string, std::string> addresses;
  for (const gossip::Member& member : gossip_->members()) {
    if (std::find(voters_.begin(), voters_.end(), member.name) != voters_.end()) {
      addresses[member.name] = member.tags.rpc_address;
    }
  }
  return addresses;
}

std::string Node::leader_name() const {
  if (!raft_ || raft_->leader() == raft::kNoNode) return "";
  auto found = voter_names_.find(raft_->leader());
  return found == voter_names_.end() ? "" : found->second;
}

wire::StatusResponse Node::status() const {
  wire::StatusResponse status;
  status.node_name = options_.name;
  status.server = options_.server;
  status.voters = voters_;
  if (raft_) {
    status.raft_role = raft::role_name(raft_->role());
    status.term = raft_->term();
    status.leader_name = leader_name();
    status.commit_index = raft_->commit_index();
    status.applied_index = state_machine_.applied_index();
    status.last_log_index = raft_->last_index();
  } else {
    status.raft_role = "none";
  }
  const gossip::Counters& gossip_counters = gossip_->counters();
  status.counters = {
      {"client_requests", counters_.client_requests},
      {"client_requests_rejected", counters_.client_requests_rejected},
      {"client_requests_timed_out", counters_.client_requests_timed_out},
      {"peer_messages_received", counters_.peer_messages_received},
      {"peer_messages_rejected", counters_.peer_messages_rejected},
      {"proposals", counters_.proposals},
      {"entries_applied", counters_.entries_applied},
      {"bootstrap_refusals", counters_.bootstrap_refusals},
      {"undecodable_entries", state_machine_.undecodable_entries()},
      {"duplicate_entries", state_machine_.duplicate_entries()},
      {"gossip_packets_received", gossip_counters.packets_received},
      {"gossip_packets_sent", gossip_counters.packets_sent},
      {"gossip_suspicions_raised", gossip_counters.suspicions_raised},
      {"gossip_members_failed", gossip_counters.members_failed},
      {"gossip_refutations", gossip_counters.refutations},
      {"gossip_updates_dropped", gossip_counters.updates_dropped},
  };
  return status;
}

}  // namespace conclave::agent
