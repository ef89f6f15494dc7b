#include "agent/node.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "common/check.h"
#include "wire/codec.h"

namespace conclave::agent {
namespace {

gossip::Options gossip_options_for(const NodeOptions& options) {
  gossip::Options result = options.gossip;
  result.name = options.name;
  result.address = options.gossip_address;
  return result;
}

// Mixes the node name into the seed so that nodes given one seed still draw different numbers.
uint64_t mix_seed(uint64_t seed, const std::string& name, uint64_t salt) {
  return fnv1a64(name, seed ^ (salt * 0x9e3779b97f4a7c15ULL));
}

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

Node::Node(NodeOptions options, const store::RecoveredState& recovered, int64_t now_ms)
    : options_(std::move(options)),
      identity_(recovered.identity.value_or(store::Identity{})),
      gossip_(std::make_unique<gossip::Gossip>(gossip_options_for(options_),
                                               mix_seed(options_.random_seed, options_.name, 1),
                                               now_ms)),
      state_machine_(recovered),
      bootstrap_(options_.bootstrap_settle_ms),
      promise_(recovered.promise),
      last_raft_tick_ms_(now_ms),
      next_join_ms_(now_ms),
      next_request_id_(options_.request_id_base) {
  CONCLAVE_CHECK(!options_.name.empty(), "a node needs a name");
  CONCLAVE_CHECK(recovered.identity && recovered.identity->node_name == options_.name &&
                     recovered.identity->server_id != raft::kNoNode,
                 "Node needs the identity of its own data folder (the runtime creates it)");
  CONCLAVE_CHECK(options_.bootstrap_expect >= 0, "bootstrap_expect must not be negative");
  CONCLAVE_CHECK(options_.boot_id != 0, "boot_id must not be 0");
  if (!recovered.damage.empty()) {
    damage_ = recovered.damage;
    raft_report_ = "raft stopped: " + damage_;
  } else if (options_.server && !recovered.voters.empty()) {
    voters_ = recovered.voters;
    start_raft(recovered);
  }
  refresh_members();
  update_metadata(now_ms);
}

Node::~Node() = default;

void Node::start_raft(const store::RecoveredState& recovered) {
  raft::Config config;
  config.id = identity_.server_id;
  config.heartbeat_ticks = options_.heartbeat_ticks;
  config.election_ticks = options_.election_ticks;
  config.random_seed = mix_seed(options_.random_seed, options_.name, 2);
  for (const store::ServerRecord& voter : voters_) {
    voter_names_[voter.server_id] = voter.name;
    config.voters.push_back(voter.server_id);
  }
  if (voter_names_.count(identity_.server_id) == 0) {
    // The data folder records a voter set without this server (it was removed, or the folder
    // was copied from another server): it must not take part.
    stop_raft_for_damage("this server (id " + hex(identity_.server_id) +
                         ") is not in the voter set recorded in its data folder");
    return;
  }
  raft::Recovered raft_state;
  raft_state.hard_state = recovered.hard_state;
  raft_state.entries = recovered.entries;
  raft_state.applied = recovered.applied_index;
  raft_ = std::make_unique<raft::RawNode>(config, raft_state);
  raft_report_.clear();
  // A group of one needs no votes from anyone: take leadership now rather than after an
  // election timeout, so a dev agent is ready at once.
  if (voters_.size() == 1) raft_->campaign();
}

void Node::stop_raft_for_damage(std::string reason) {
  damage_ = std::move(reason);
  raft_report_ = "raft stopped: " + damage_;
  raft_.reset();
  outstanding_ready_.reset();
}

void Node::refresh_members() {
  for (gossip::Event& event : gossip_->take_events()) {
    const gossip::Member& member = event.member;
    if (event.type == gossip::EventType::joined || event.type == gossip::EventType::updated) {
      if (member.metadata.empty()) {
        member_meta_.erase(member.name);
      } else if (auto meta = wire::decode_node_meta(member.metadata); meta.ok()) {
        member_meta_[member.name] = meta.value();
      } else {
        ++counters_.members_with_bad_metadata;
        member_meta_.erase(member.name);
      }
    }
    membership_events_.push_back(std::move(event));
  }
}

void Node::update_metadata(int64_t now_ms) {
  wire::NodeMeta meta;
  meta.role = options_.server ? wire::NodeRole::server : wire::NodeRole::client;
  meta.rpc_address = options_.rpc_address;
  meta.boot_id = options_.boot_id;
  if (options_.server) {
    meta.server_id = identity_.server_id;
    meta.cluster_id = raft_ ? identity_.cluster_id : 0;
    meta.bootstrap_expect = static_cast<uint8_t>(options_.bootstrap_expect);
    meta.bootstrap_promise = promise_ ? server_set_digest(promise_->servers) : 0;
  }
  gossip_->set_metadata(wire::encode_node_meta(meta), now_ms);
  member_meta_[options_.name] = meta;
}

void Node::maybe_bootstrap(int64_t now_ms) {
  if (raft_ || !options_.server || options_.bootstrap_expect == 0 || !damage_.empty()) return;
  if (promise_to_save_ || promise_in_flight_ || identity_needs_saving_) return;  // in progress
  BootstrapInput input;
  input.self_server_id = identity_.server_id;
  input.expect = options_.bootstrap_expect;
  input.waiting_to_join = !joined();
  input.own_promise = promise_;
  input.now_ms = now_ms;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.state != gossip::MemberState::alive) continue;
    auto meta = member_meta_.find(member.name);
    if (meta == member_meta_.end() || meta->second.role != wire::NodeRole::server) continue;
    input.alive_servers.push_back(ServerView{member.name, meta->second.server_id,
                                             meta->second.cluster_id,
                                             meta->second.bootstrap_expect,
                                             meta->second.bootstrap_promise});
  }
  BootstrapDecision decision = bootstrap_.decide(input);
  switch (decision.action) {
    case BootstrapAction::wait:
      if (decision.refusal && decision.report != raft_report_) ++counters_.bootstrap_refusals;
      raft_report_ = decision.report;
      return;
    case BootstrapAction::promise:
      // Persisted in the next batch; announced only after that batch is durable (advance()).
      promise_to_save_ = decision.promise;
      raft_report_ = "promised to bootstrap with this server set; waiting for the others";
      return;
    case BootstrapAction::start:
      voters_ = decision.promise.servers;
      identity_.cluster_id = decision.cluster_id;
      identity_needs_saving_ = true;
      store::RecoveredState fresh;
      fresh.applied_index = state_machine_.applied_index();
      start_raft(fresh);
      update_metadata(now_ms);
      return;
  }
}

void Node::tick(int64_t now_ms) {
  gossip_->tick(now_ms);
  refresh_members();
  if (!joined() && now_ms >= next_join_ms_) {
    // Until one of the -join addresses answered, keep asking all of them: knowing some other
    // member is not enough (two agents that only joined each other would form a pool of
    // their own).
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
  refresh_members();
  maybe_bootstrap(now_ms);
}

void Node::receive_peer(const wire::PeerMessage& message, int64_t) {
  ++counters_.peer_messages_received;
  if (!raft_) {
    // Not bootstrapped yet (the sender retries: elections and heartbeats repeat), or stopped.
    ++counters_.peer_messages_rejected;
    return;
  }
  if (message.cluster_id != identity_.cluster_id) {
    // Another cluster's server (or one from before a rebuild) must never take part in ours.
    ++counters_.peer_messages_wrong_cluster;
    ++counters_.peer_messages_rejected;
    return;
  }
  Status status = raft_->step(message.raft);
  if (status.ok()) return;
  ++counters_.peer_messages_rejected;
  if (status.error().code == ErrorCode::storage) stop_raft_for_damage(status.error().message);
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
            auto meta = member_meta_.find(member.name);
            const bool known = meta != member_meta_.end();
            members.members.push_back(wire::MemberInfo{
                member.name, member.address, gossip::member_state_name(member.state),
                known ? wire::node_role_name(meta->second.role) : "unknown",
                known ? meta->second.rpc_address : "", member.incarnation});
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
  command.origin_node = identity_.server_id;
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
    if (!damage_.empty()) {
      return reply_error(connection_id, request.request_id, ErrorCode::storage,
                         "this server stopped its Raft: " + damage_);
    }
    std::string why;
    if (!raft_report_.empty()) {
      why = raft_report_;
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

std::vector<gossip::Event> Node::take_membership_events() {
  refresh_members();
  return std::exchange(membership_events_, {});
}

bool Node::has_ready() const {
  CONCLAVE_CHECK(!outstanding_ready_, "has_ready() while a NodeReady is outstanding");
  return identity_needs_saving_ || promise_to_save_ || (raft_ && raft_->has_ready());
}

NodeReady Node::ready() {
  CONCLAVE_CHECK(!outstanding_ready_, "ready() called before advance()");
  NodeReady result;
  if (identity_needs_saving_) {
    result.batch.identity = identity_;
    result.batch.voters = voters_;
    identity_needs_saving_ = false;
  }
  if (promise_to_save_) {
    result.batch.promise = promise_to_save_;
    promise_in_flight_ = std::exchange(promise_to_save_, std::nullopt);
  }
  if (!raft_) {
    outstanding_ready_ = raft::Ready{};
    return result;
  }
  raft::Ready ready = raft_->ready();
  result.batch.hard_state = ready.hard_state;
  result.batch.entries = ready.entries;
  for (raft::Message& message : ready.messages) {
    PeerSend send;
    send.to_name = name_of(message.to);
    send.rpc_address = rpc_address_of(message.to);  // empty: not learned from gossip yet
    send.message = wire::PeerMessage{options_.name, identity_.cluster_id, std::move(message)};
    result.messages.push_back(std::move(send));
  }
  ready.messages.clear();
  for (const raft::Entry& entry : ready.committed_entries) {
    Applied applied = state_machine_.apply(entry);
    ++counters_.entries_applied;
    if (!applied.command || applied.duplicate ||
        applied.command->origin_node != identity_.server_id) {
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
  if (promise_in_flight_) {
    // Durable now: only from here on may others learn of it (bootstrap.h).
    promise_ = std::exchange(promise_in_flight_, std::nullopt);
    update_metadata(last_raft_tick_ms_);
  }
}

std::string Node::name_of(raft::NodeId id) const {
  auto found = voter_names_.find(id);
  CONCLAVE_CHECK(found != voter_names_.end(), "raft addressed a node outside the voter set");
  return found->second;
}

std::string Node::rpc_address_of(raft::NodeId server_id) const {
  // Routed by server id, not by name: a server rebuilt under the same name (a wiped data
  // folder) is a different server and must not receive the old one's messages.
  auto name = voter_names_.find(server_id);
  if (name == voter_names_.end()) return "";
  auto meta = member_meta_.find(name->second);
  if (meta == member_meta_.end() || meta->second.server_id != server_id) return "";
  return meta->second.rpc_address;
}

const std::string& Node::raft_report() const { return raft_report_; }

bool Node::joined() {
  if (joined_ || options_.join_addresses.empty()) return true;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.name == options_.name || member.state != gossip::MemberState::alive) continue;
    if (std::find(options_.join_addresses.begin(), options_.join_addresses.end(),
                  member.address) != options_.join_addresses.end()) {
      joined_ = true;
    }
  }
  return joined_;
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
  for (const store::ServerRecord& voter : voters_) status.voters.push_back(voter.name);
  status.server_id = options_.server ? hex(identity_.server_id) : "";
  status.cluster_id = identity_.cluster_id != 0 ? hex(identity_.cluster_id) : "";
  status.raft_report = raft_report_;
  if (raft_) {
    status.raft_role = raft::role_name(raft_->role());
    status.term = raft_->term();
    status.leader_name = leader_name();
    status.commit_index = raft_->commit_index();
    status.applied_index = state_machine_.applied_index();
    status.last_log_index = raft_->last_index();
  } else {
    status.raft_role = damage_.empty() ? "none" : "stopped";
  }
  const gossip::Counters& gossip_counters = gossip_->counters();
  status.counters = {
      {"client_requests", counters_.client_requests},
      {"client_requests_rejected", counters_.client_requests_rejected},
      {"client_requests_timed_out", counters_.client_requests_timed_out},
      {"peer_messages_received", counters_.peer_messages_received},
      {"peer_messages_rejected", counters_.peer_messages_rejected},
      {"peer_messages_wrong_cluster", counters_.peer_messages_wrong_cluster},
      {"members_with_bad_metadata", counters_.members_with_bad_metadata},
      {"raft_lost_log_reports", raft_ ? raft_->counters().lost_log_reports : 0},
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
