#include "agent/node.h"

#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "common/check.h"
#include "common/hash.h"
#include "wire/codec.h"
#include "wire/snapshot_codec.h"

namespace conclave::agent {
namespace {

// Remembered members (store::KnownMember): at most this many, rewritten at most this often.
constexpr size_t kMaxKnownMembers = 32;
constexpr int64_t kKnownMembersSaveMs = 5000;

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

// Ticks missed at once that count as an event-loop stall (100 ms with 10 ms ticks).
constexpr int64_t kStallTicks = 10;

RequesterOptions requester_options(const NodeOptions& options) {
  RequesterOptions result;
  result.client_id = options.boot_id;
  result.resend_after_ms = options.resend_after_ms;
  result.max_outstanding = options.max_pending_requests;
  return result;
}

}  // namespace

Node::Node(NodeOptions options, const store::RecoveredState& recovered, int64_t now_ms)
    : options_(std::move(options)),
      identity_(recovered.identity.value_or(store::Identity{})),
      gossip_(std::make_unique<gossip::Gossip>(gossip_options_for(options_),
                                               mix_seed(options_.random_seed, options_.name, 1),
                                               now_ms)),
      state_machine_(options_.state_machine_faults),
      bootstrap_(options_.bootstrap_settle_ms),
      promise_(recovered.promise),
      autopilot_(options_.autopilot),
      requester_(requester_options(options_)),
      leader_(options_.name),
      now_ms_(now_ms),
      last_raft_tick_ms_(now_ms),
      next_join_ms_(now_ms),
      known_members_saved_(recovered.known_members) {
  CONCLAVE_CHECK(!options_.name.empty(), "a node needs a name");
  join_targets_ = options_.join_addresses;
  for (const store::KnownMember& known : recovered.known_members) {
    if (known.address != options_.gossip_address && known.name != options_.name &&
        std::find(join_targets_.begin(), join_targets_.end(), known.address) ==
            join_targets_.end()) {
      join_targets_.push_back(known.address);
    }
  }
  CONCLAVE_CHECK(recovered.identity && recovered.identity->node_name == options_.name &&
                     recovered.identity->server_id != raft::kNoNode,
                 "Node needs the identity of its own data folder (the runtime creates it)");
  CONCLAVE_CHECK(options_.bootstrap_expect >= 0, "bootstrap_expect must not be negative");
  CONCLAVE_CHECK(options_.boot_id != 0, "boot_id must not be 0");
  if (!recovered.damage.empty()) {
    stop_raft_for_damage(recovered.damage);
  } else if (Status restored =
                 state_machine_.restore(recovered.state_rows, recovered.applied_index);
             !restored.ok()) {
    stop_raft_for_damage("the replicated state in the data folder is damaged: " +
                         restored.error().message);
  } else if (options_.server && (!recovered.voters.empty() ||
                                 (identity_.cluster_id != 0 && !recovered.promise))) {
    // Bootstrapped here (recorded voters), or joined a cluster (its id recorded): the log
    // holds the rest of the membership.
    voters_ = recovered.voters;
    start_raft(recovered);
  }
  refresh_members(now_ms);
  update_metadata(now_ms);
}

Node::~Node() = default;

// ---- bootstrap, identity and membership ------------------------------------------------------

void Node::start_raft(const store::RecoveredState& recovered) {
  raft::Config config;
  config.id = identity_.server_id;
  config.heartbeat_ticks = options_.heartbeat_ticks;
  config.election_ticks = options_.election_ticks;
  config.pre_vote = options_.pre_vote;
  config.lease_reads = options_.lease_reads;
  config.random_seed = mix_seed(options_.random_seed, options_.name, 2);
  for (const store::ServerRecord& voter : voters_) {
    voter_names_[voter.server_id] = voter.name;
    config.voters.push_back(voter.server_id);
  }
  if (!voters_.empty() && voter_names_.count(identity_.server_id) == 0) {
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
  raft_state.start = recovered.log_start;
  raft_ = std::make_unique<raft::RawNode>(config, raft_state);
  // A compacted log can only catch followers up with a snapshot.
  if (recovered.log_start.index > 0) offer_snapshot();
  raft_report_.clear();
  // A group of one needs no votes from anyone: take leadership now rather than after an
  // election timeout, so a dev agent is ready at once.
  // (Only while it is still the only voter: a seed server restarted after the cluster grew
  // must not force an election past the others' lease.)
  if (raft_->membership().voters == std::vector<raft::NodeId>{identity_.server_id}) {
    raft_->campaign();
  }
}

void Node::stop_raft_for_damage(std::string reason) {
  damage_ = std::move(reason);
  raft_report_ = "raft stopped: " + damage_;
  raft_.reset();
  outstanding_ready_from_raft_ = false;  // a Ready in flight is advanced without it
  leader_.on_deposed("");
}

void Node::refresh_members(int64_t now_ms) {
  bool servers_changed = servers_dirty_;
  servers_dirty_ = false;
  for (gossip::Event& event : gossip_->take_events()) {
    const gossip::Member& member = event.member;
    if (event.type == gossip::EventType::reaped) member_meta_.erase(member.name);
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
    if (raft_ && (event.type == gossip::EventType::failed ||
                  event.type == gossip::EventType::left)) {
      // Gossip saw our leader die: ask for votes now rather than after the election timeout.
      auto meta = member_meta_.find(member.name);
      if (meta != member_meta_.end() && meta->second.server_id == raft_->leader()) {
        raft_->leader_failed(meta->second.server_id);
      }
    }
    servers_changed = true;
    known_members_dirty_ = true;
    if (!member_watchers_.empty()) {
      const char* type = "updated";
      switch (event.type) {
        case gossip::EventType::joined: type = "joined"; break;
        case gossip::EventType::updated: type = "updated"; break;
        case gossip::EventType::suspected: type = "suspect"; break;
        case gossip::EventType::failed: type = "failed"; break;
        case gossip::EventType::left: type = "left"; break;
        case gossip::EventType::reaped: type = "reaped"; break;
      }
      const wire::MemberEvent change{type, member_info(member)};
      for (const auto& [watcher, request_id] : member_watchers_) {
        client_replies_.push_back(ClientReply{
            watcher, wire::ClientResponse{request_id, ErrorCode::ok, "", true, change}});
      }
    }
    membership_events_.push_back(std::move(event));
  }
  if (!servers_changed) return;
  rebuild_server_names();
  adopt_cluster_id(now_ms);
  // The servers of our cluster that gossip sees alive: where requests go without a leader.
  std::vector<std::string> servers;
  for (const gossip::Member& member : gossip_->members()) {
    auto meta = member_meta_.find(member.name);
    if (member.state != gossip::MemberState::alive || meta == member_meta_.end()) continue;
    if (meta->second.role != wire::NodeRole::server || meta->second.cluster_id == 0 ||
        meta->second.cluster_id != identity_.cluster_id) {
      continue;
    }
    servers.push_back(member.name);
  }
  requester_.set_servers(std::move(servers));
}

wire::MemberInfo Node::member_info(const gossip::Member& member) const {
  auto meta = member_meta_.find(member.name);
  const bool known = meta != member_meta_.end();
  return wire::MemberInfo{member.name,
                          member.address,
                          gossip::member_state_name(member.state),
                          known ? wire::node_role_name(meta->second.role) : "unknown",
                          known ? meta->second.rpc_address : "",
                          member.incarnation,
                          known ? meta->second.tags : std::map<std::string, std::string>{}};
}

void Node::adopt_cluster_id(int64_t now_ms) {
  // A client agent (or a server that is no voter) belongs to the cluster its servers announce.
  // It keeps the first one it saw (persisted), so it never sends a host's writes elsewhere.
  if (identity_.cluster_id != 0 || raft_) return;
  for (const auto& [name, meta] : member_meta_) {
    if (name != options_.name && meta.role == wire::NodeRole::server && meta.cluster_id != 0) {
      identity_.cluster_id = meta.cluster_id;
      identity_needs_saving_ = true;
      update_metadata(now_ms);
      return;
    }
  }
}

void Node::update_metadata(int64_t now_ms) {
  wire::NodeMeta meta;
  meta.role = options_.server ? wire::NodeRole::server : wire::NodeRole::client;
  meta.rpc_address = options_.rpc_address;
  meta.boot_id = options_.boot_id;
  meta.tags = options_.tags;
  if (options_.server) {
    meta.server_id = identity_.server_id;
    meta.cluster_id = raft_ ? identity_.cluster_id : 0;
    meta.bootstrap_expect = static_cast<uint8_t>(options_.bootstrap_expect);
    meta.bootstrap_promise = promise_ ? server_set_digest(promise_->servers) : 0;
  } else {
    meta.cluster_id = identity_.cluster_id;
  }
  gossip_->set_metadata(wire::encode_node_meta(meta), now_ms);
  // Gossip keeps to the cluster we announce: from now on it drops other clusters' members.
  if (meta.cluster_id != 0) gossip_->set_cluster_id(meta.cluster_id, now_ms);
  member_meta_[options_.name] = meta;
  servers_dirty_ = true;
  rebuild_server_names();
}

void Node::rebuild_server_names() {
  server_names_.clear();
  for (const auto& [name, meta] : member_meta_) {
    if (meta.role == wire::NodeRole::server && meta.server_id != raft::kNoNode) {
      server_names_.emplace(meta.server_id, name);  // two names, one id: the first by name
    }
  }
}

bool Node::maybe_join_cluster(int64_t now_ms) {
  if (raft_ || !options_.server || !damage_.empty()) return false;
  // A promised server is bound to its promise (bootstrap.h): it starts with that set or not
  // at all, so overlapping sets can never both start.
  if (promise_ || promise_to_save_ || promise_in_flight_) return false;
  uint64_t cluster_id = 0;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.state != gossip::MemberState::alive || member.name == options_.name) continue;
    auto meta = member_meta_.find(member.name);
    if (meta == member_meta_.end() || meta->second.role != wire::NodeRole::server ||
        meta->second.cluster_id == 0) {
      continue;
    }
    // Servers announce a cluster id only while they run its Raft. Prefer the cluster this
    // folder already belongs to (a client agent's folder restarted as a server).
    if (cluster_id == 0 || meta->second.cluster_id == identity_.cluster_id) {
      cluster_id = meta->second.cluster_id;
    }
  }
  if (cluster_id == 0) return false;
  if (identity_.cluster_id != 0 && identity_.cluster_id != cluster_id) return false;
  identity_.cluster_id = cluster_id;
  identity_needs_saving_ = true;
  store::RecoveredState fresh;
  fresh.applied_index = state_machine_.applied_index();
  start_raft(fresh);
  notices_.push_back("joining cluster " + hex(cluster_id) + " as a new server (id " +
                     hex(identity_.server_id) + "); the leader adds it as a learner, then " +
                     "promotes it once it has caught up");
  update_metadata(now_ms);
  refresh_members(now_ms);
  return true;
}

void Node::run_autopilot(int64_t now_ms) {
  if (!leads() || now_ms < next_autopilot_ms_) return;
  next_autopilot_ms_ = now_ms + options_.autopilot_interval_ms;
  AutopilotInput input;
  input.self = identity_.server_id;
  input.membership = raft_->membership();
  input.change_pending = raft_->membership_index() > raft_->commit_index();
  input.commit_index = raft_->commit_index();
  input.progress = raft_->peer_progress();
  input.max_ticks_since_heard = static_cast<uint64_t>(options_.election_ticks);
  input.now_ms = now_ms;
  for (const gossip::Member& member : gossip_->members()) {
    auto meta = member_meta_.find(member.name);
    if (meta == member_meta_.end() || meta->second.role != wire::NodeRole::server ||
        meta->second.server_id == raft::kNoNode) {
      continue;
    }
    // A member that left or died no longer announces a cluster id it runs: judge it by
    // its server id alone. A live one counts only once it runs this cluster's Raft.
    ServerHealth health = ServerHealth::alive;
    if (member.state == gossip::MemberState::left) {
      health = ServerHealth::left;
    } else if (member.state == gossip::MemberState::dead) {
      health = ServerHealth::failed;
    } else if (meta->second.cluster_id != identity_.cluster_id) {
      continue;
    }
    input.servers.push_back(AutopilotServer{meta->second.server_id, member.name, health});
  }
  AutopilotDecision decision = autopilot_.decide(input);
  if (!decision.change) return;
  auto proposed = raft_->change_membership(*decision.change);
  if (proposed.ok()) {
    ++counters_.membership_changes_proposed;
    notices_.push_back(decision.reason);
  }
}

void Node::offer_snapshot() {
  auto data = std::make_shared<const std::string>(
      wire::encode_state_snapshot(state_machine_.snapshot_rows()));
  raft_->set_snapshot(state_machine_.applied_index(), std::move(data));
}

void Node::maybe_compact() {
  if (!raft_) return;
  const raft::Index applied = raft_->applied_index();
  if (applied < raft_->log_start() + options_.snapshot_threshold_entries) return;
  offer_snapshot();
  const raft::Index through =
      applied > options_.snapshot_keep_entries ? applied - options_.snapshot_keep_entries : 0;
  if (through <= raft_->log_start()) return;
  log_start_to_save_ = raft_->compact(through);
  ++counters_.snapshots_taken;
}

void Node::maybe_bootstrap(int64_t now_ms) {
  if (maybe_join_cluster(now_ms)) return;
  if (raft_ || !options_.server || options_.bootstrap_expect == 0 || !damage_.empty()) return;
  if (promise_to_save_ || promise_in_flight_) return;  // a promise is on its way to the disk
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
      refresh_members(now_ms);
      return;
  }
}

bool Node::joined() {
  if (joined_ || join_targets_.empty()) return true;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.name == options_.name || member.state != gossip::MemberState::alive) continue;
    if (std::find(join_targets_.begin(), join_targets_.end(), member.address) !=
        join_targets_.end()) {
      joined_ = true;
    }
  }
  return joined_;
}

void Node::maybe_save_known_members(int64_t now_ms) {
  if (!known_members_dirty_ || now_ms < next_known_members_save_ms_) return;
  known_members_dirty_ = false;
  next_known_members_save_ms_ = now_ms + kKnownMembersSaveMs;
  // Servers first (they are the ones worth rejoining through), then the others by name.
  std::vector<store::KnownMember> servers;
  std::vector<store::KnownMember> others;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.name == options_.name || (member.state != gossip::MemberState::alive &&
                                         member.state != gossip::MemberState::suspect)) {
      continue;
    }
    auto meta = member_meta_.find(member.name);
    const bool server = meta != member_meta_.end() && meta->second.role == wire::NodeRole::server;
    (server ? servers : others).push_back(store::KnownMember{member.name, member.address});
  }
  servers.insert(servers.end(), others.begin(), others.end());
  if (servers.size() > kMaxKnownMembers) servers.resize(kMaxKnownMembers);
  std::sort(servers.begin(), servers.end(),
            [](const store::KnownMember& a, const store::KnownMember& b) {
              return a.address < b.address;
            });
  // Nobody alive (alone, or cut off): keep what we knew, it is the way back.
  if (servers.empty() || servers == known_members_saved_) return;
  known_members_saved_ = servers;
  known_members_to_save_ = std::move(servers);
}

// ---- inputs -----------------------------------------------------------------------------------

void Node::tick(int64_t now_ms) {
  now_ms_ = now_ms;
  gossip_->tick(now_ms);
  refresh_members(now_ms);
  if (!joined() && now_ms >= next_join_ms_) {
    // Until one of the -join addresses answered, keep asking all of them: knowing some other
    // member is not enough (two agents that only joined each other would form a pool of
    // their own).
    gossip_->join(join_targets_, now_ms);
    next_join_ms_ = now_ms + options_.join_retry_interval_ms;
  }
  maybe_save_known_members(now_ms);
  maybe_bootstrap(now_ms);
  if (raft_) {
    // After an event-loop stall (SIGSTOP, a stalled VM, a slow fsync on the loop) the missed
    // ticks are not replayed: the timer fires before the messages queued on the sockets
    // meanwhile are read, so replaying them would time out a leader whose heartbeats are
    // waiting to be read (or make a leader step down for acks it has not read). The stall
    // counts as one tick; a leader that is really gone is replaced an election timeout later.
    const int64_t behind_ticks = (now_ms - last_raft_tick_ms_) / options_.raft_tick_ms;
    if (behind_ticks > kStallTicks) {
      ++counters_.raft_stalls;
      last_raft_tick_ms_ = now_ms - options_.raft_tick_ms;
      raft_->clock_jumped();  // a lease counted in ticks missed the stall: renew it first
    }
    while (now_ms - last_raft_tick_ms_ >= options_.raft_tick_ms) {
      raft_->tick();
      last_raft_tick_ms_ += options_.raft_tick_ms;
    }
    if (leader_.active()) leader_.tick(now_ms, *raft_, state_machine_, member_views());
    run_autopilot(now_ms);
  } else {
    last_raft_tick_ms_ = now_ms;
  }
  if (follower_reads_.size() > 0) {
    if (!raft_ || raft_->role() != raft::Role::follower) {
      forward_follower_reads(follower_reads_.take_all(), now_ms);
    } else {
      forward_follower_reads(follower_reads_.take_expired(now_ms), now_ms);
    }
  }
  requester_.tick(now_ms);
  local_sessions_.tick(now_ms, requester_);
  watch_hub_.tick(now_ms, requester_);
  route(now_ms);
}

void Node::receive_gossip(const std::string& from_address, const gossip::Packet& packet,
                          int64_t now_ms) {
  now_ms_ = now_ms;
  gossip_->step(from_address, packet, now_ms);
  refresh_members(now_ms);
  maybe_bootstrap(now_ms);
  route(now_ms);
}

void Node::receive_peer(const wire::PeerMessage& message, int64_t now_ms) {
  now_ms_ = now_ms;
  ++counters_.peer_messages_received;
  if (const auto* probe = std::get_if<wire::GossipProbe>(&message.payload)) {
    // Gossip's TCP fallback probe: membership, not Raft, so agents without a cluster yet
    // answer too (never across two known clusters), and only to their own name.
    if (message.cluster_id != 0 && identity_.cluster_id != 0 &&
        message.cluster_id != identity_.cluster_id) {
      ++counters_.peer_messages_wrong_cluster;
      ++counters_.peer_messages_rejected;
    } else if (probe->target == options_.name) {
      send_to_peer(message.from_name, wire::GossipProbeAck{probe->sequence});
    }
    route(now_ms);
    return;
  }
  if (const auto* ack = std::get_if<wire::GossipProbeAck>(&message.payload)) {
    gossip_->tcp_probe_answered(ack->sequence);
    refresh_members(now_ms);
    route(now_ms);
    return;
  }
  if (const auto* sync = std::get_if<wire::GossipSync>(&message.payload)) {
    // Gossip's push-pull over TCP: membership, like the probe above, so agents without a
    // cluster yet take part; the core drops another cluster's members itself.
    if (message.cluster_id != 0 && identity_.cluster_id != 0 &&
        message.cluster_id != identity_.cluster_id) {
      ++counters_.peer_messages_wrong_cluster;
      ++counters_.peer_messages_rejected;
    } else if (sync->packet.from != message.from_name) {
      ++counters_.peer_messages_rejected;  // a Sync must speak for its sender
    } else {
      gossip_->step_tcp(sync->packet, now_ms);
      refresh_members(now_ms);
      maybe_bootstrap(now_ms);
    }
    route(now_ms);
    return;
  }
  if (message.cluster_id != identity_.cluster_id || identity_.cluster_id == 0) {
    // Another cluster's agent (or one from before a rebuild) must never take part in ours.
    ++counters_.peer_messages_wrong_cluster;
    ++counters_.peer_messages_rejected;
    return;
  }
  std::visit(
      [&](const auto& payload) {
        using T = std::decay_t<decltype(payload)>;
        if constexpr (std::is_same_v<T, raft::Message>) {
          if (!raft_) {
            // Not bootstrapped yet (the sender retries), or stopped.
            ++counters_.peer_messages_rejected;
            return;
          }
          Status status = raft_->step(payload);
          if (status.ok()) return;
          ++counters_.peer_messages_rejected;
          if (status.error().code == ErrorCode::storage) {
            stop_raft_for_damage(status.error().message);
          }
        } else if constexpr (std::is_same_v<T, wire::ForwardRequest>) {
          handle_forward(message.from_name, payload, now_ms);
        } else if constexpr (std::is_same_v<T, wire::ForwardResponse>) {
          requester_.on_response(message.from_name, payload, now_ms);
        }  // gossip probes were handled above
      },
      message.payload);
  route(now_ms);
}

void Node::peer_unreachable(const std::string& name, int64_t now_ms) {
  now_ms_ = now_ms;
  requester_.on_unreachable(name, now_ms);
  route(now_ms);
}

void Node::receive_client(uint64_t connection_id, const wire::ClientRequest& request,
                          int64_t now_ms) {
  now_ms_ = now_ms;
  ++counters_.client_requests;
  const wire::ClientRequestBody& body = request.body;
  if (std::holds_alternative<wire::MembersRequest>(body) ||
      std::holds_alternative<wire::MembersWatchRequest>(body)) {
    const bool watch = std::holds_alternative<wire::MembersWatchRequest>(body);
    if (watch && member_watchers_.count(connection_id) == 0 &&
        member_watchers_.size() >= kMaxMemberWatchers) {
      return reply_error(connection_id, request.request_id, ErrorCode::too_large,
                         "this agent already serves " + std::to_string(kMaxMemberWatchers) +
                             " members -watch clients");
    }
    wire::MembersResponse members;
    for (const gossip::Member& member : gossip_->members()) {
      members.members.push_back(member_info(member));
    }
    // A watch starts with the members now; every change after it follows (refresh_members).
    if (watch) member_watchers_[connection_id] = request.request_id;
    client_replies_.push_back(ClientReply{
        connection_id, wire::ClientResponse{request.request_id, ErrorCode::ok, "", watch,
                                            members}});
    return;
  }
  if (std::holds_alternative<wire::KeyringRequest>(body)) {
    // The runtime answers these (agent/keyring_service.h); a Node alone has no keys.
    return reply_error(connection_id, request.request_id, ErrorCode::unavailable,
                       "this agent does not manage a keyring");
  }
  if (std::holds_alternative<wire::LeaveRequest>(body)) {
    leave_requested_ = true;
    client_replies_.push_back(ClientReply{
        connection_id, wire::ClientResponse{request.request_id, ErrorCode::ok, "", false, {}}});
    return;
  }
  if (std::holds_alternative<wire::StatusRequest>(body)) {
    client_replies_.push_back(ClientReply{
        connection_id,
        wire::ClientResponse{request.request_id, ErrorCode::ok, "", false, status()}});
    return;
  }
  if (identity_.cluster_id == 0) {
    // No cluster is known at all: say why instead of waiting out the deadline.
    std::string why = raft_report_;
    if (why.empty()) {
      why = options_.server
                ? "this server has no Raft configuration: start it with -bootstrap-expect N "
                  "together with the other N-1 servers of a new cluster"
                : "this agent has not found a server of any cluster yet (see `conclave "
                  "members`; is -join right?)";
    }
    return reply_error(connection_id, request.request_id,
                       damage_.empty() ? ErrorCode::no_leader : ErrorCode::storage, why);
  }
  if (const auto* get = std::get_if<wire::KvGetRequest>(&body)) {
    if (get->key.empty() || get->key.size() > wire::kMaxKeyBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument,
                         "a key must be 1 to " + std::to_string(wire::kMaxKeyBytes) +
                             " bytes long");
    }
    if ((get->stale || options_.inject_stale_reads) && raft_) {
      // `-stale`: this server's state as applied so far, without asking the leader.
      client_replies_.push_back(
          ClientReply{connection_id, wire::ClientResponse{request.request_id, ErrorCode::ok, "",
                                                          false, state_machine_.get_response(get->key)}});
      return;
    }
  }
  if (const auto* list = std::get_if<wire::KvListRequest>(&body);
      list != nullptr && list->limit > wire::kMaxListLimit) {
    return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument,
                       "a kv list page holds at most " + std::to_string(wire::kMaxListLimit) +
                           " keys (asked for " + std::to_string(list->limit) + ")");
  }
  if (const auto* watch = std::get_if<wire::KvWatchRequest>(&body)) {
    std::string invalid;
    if (!watch->prefix && watch->key.empty()) {
      invalid = "a watch needs a key (or -prefix, where an empty prefix watches every key)";
    } else if (watch->wait_ms > wire::kMaxWatchWaitMs) {
      invalid = "a watch waits at most " + std::to_string(wire::kMaxWatchWaitMs) + " ms";
    } else if (watch->max_events > wire::kMaxWatchEvents) {
      invalid = "a watch answer holds at most " + std::to_string(wire::kMaxWatchEvents) +
                " events";
    } else if (request.timeout_ms != 0 && request.timeout_ms <= watch->wait_ms) {
      invalid = "the request timeout must exceed the watch's wait";
    }
    if (!invalid.empty()) {
      return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument, invalid);
    }
  }
  if (const auto* del = std::get_if<wire::KvDeleteRequest>(&body)) {
    if (del->key.empty() || del->key.size() > wire::kMaxKeyBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument,
                         std::string(del->prefix ? "a prefix" : "a key") + " must be 1 to " +
                             std::to_string(wire::kMaxKeyBytes) + " bytes long");
    }
  }
  if (const auto* put = std::get_if<wire::KvPutRequest>(&body)) {
    if (put->key.empty() || put->key.size() > wire::kMaxKeyBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::invalid_argument,
                         "a key must be 1 to " + std::to_string(wire::kMaxKeyBytes) +
                             " bytes long");
    }
    if (put->value.size() > wire::kMaxValueBytes) {
      return reply_error(connection_id, request.request_id, ErrorCode::too_large,
                         "the value is " + std::to_string(put->value.size()) +
                             " bytes; the limit is " + std::to_string(wire::kMaxValueBytes));
    }
  }
  int64_t timeout_ms =
      request.timeout_ms == 0 ? options_.default_request_timeout_ms : request.timeout_ms;
  timeout_ms = std::min(timeout_ms, options_.max_request_timeout_ms);
  wire::ClientRequest bounded = request;
  bounded.timeout_ms = static_cast<uint32_t>(timeout_ms);
  const auto* get = std::get_if<wire::KvGetRequest>(&body);
  if (get != nullptr && can_serve_follower_read()) {
    // A linearizable read served here: the leader only confirms its commit index.
    confirm_follower_read(
        follower_reads_.add(connection_id, bounded, now_ms + timeout_ms, now_ms), now_ms);
  } else if (LocalSessions::handles(body)) {
    local_sessions_.on_request(connection_id, bounded, now_ms, requester_);
  } else if (std::holds_alternative<wire::KvWatchRequest>(body) &&
             watch_hub_.on_request(connection_id, bounded, now_ms, requester_)) {
    // Served from the stream this agent keeps for the watched key or prefix.
  } else {
    requester_.submit(ReplyTo{connection_id, request.request_id}, bounded, now_ms + timeout_ms,
                      now_ms);
  }
  route(now_ms);
}

void Node::client_disconnected(uint64_t connection_id, int64_t now_ms) {
  now_ms_ = now_ms;
  member_watchers_.erase(connection_id);
  watch_hub_.connection_closed(connection_id);
  requester_.abandon_connection(connection_id);
  local_sessions_.connection_closed(connection_id, now_ms, requester_);
  route(now_ms);
}

void Node::reply_error(uint64_t connection_id, uint64_t request_id, ErrorCode code,
                       std::string message) {
  ++counters_.client_requests_rejected;
  client_replies_.push_back(ClientReply{
      connection_id,
      wire::ClientResponse{request_id, code, std::move(message), false, std::monostate{}}});
}

// ---- routing between the pieces ---------------------------------------------------------------

void Node::serve_follower_reads() {
  for (FollowerReads::Read& read : follower_reads_.take_servable(state_machine_.applied_index())) {
    const auto& get = std::get<wire::KvGetRequest>(read.request.body);
    ++counters_.follower_reads_served;
    if (!read.origin.empty()) {
      wire::ForwardResponse response{
          read.forward_id, leader_name(),
          wire::ClientResponse{0, ErrorCode::ok, "", false, state_machine_.get_response(get.key)}};
      answer_forward(read.origin, std::move(response), now_ms_);
      continue;
    }
    client_replies_.push_back(ClientReply{
        read.connection_id, wire::ClientResponse{read.request.request_id, ErrorCode::ok, "",
                                                 false, state_machine_.get_response(get.key)}});
  }
}

void Node::forward_follower_reads(std::vector<FollowerReads::Read> reads, int64_t now_ms) {
  for (FollowerReads::Read& read : reads) {
    ++counters_.follower_reads_forwarded;
    if (!read.origin.empty()) {
      // Another agent's read: send it to the leader (a redirect), as if it had asked there.
      answer_forward(read.origin,
                     redirect(read.forward_id, "this follower could not confirm the read in time"),
                     now_ms);
      continue;
    }
    const uint64_t request_id = read.request.request_id;
    requester_.submit(ReplyTo{read.connection_id, request_id}, std::move(read.request),
                      read.deadline_ms, now_ms);
  }
}

void Node::handle_forward(const std::string& origin, const wire::ForwardRequest& request,
                          int64_t now_ms) {
  const auto* get = std::get_if<wire::KvGetRequest>(&request.request.body);
  if (get != nullptr && (get->stale || options_.inject_stale_reads) && raft_) {
    // A client agent's `-stale` read: any server answers from its own state.
    wire::ForwardResponse response{request.forward_id, leader_name(),
                                   wire::ClientResponse{0, ErrorCode::ok, "", false,
                                                        state_machine_.get_response(get->key)}};
    answer_forward(origin, std::move(response), now_ms);
    return;
  }
  if (get != nullptr && !get->stale && can_serve_follower_read()) {
    // Another agent's linearizable read: served here once the leader confirms it.
    confirm_follower_read(follower_reads_.add_forwarded(origin, request.forward_id,
                                                        request.request,
                                                        now_ms + request.timeout_ms, now_ms),
                          now_ms);
    return;
  }
  const auto* admin = std::get_if<wire::RaftAdminRequest>(&request.request.body);
  if (admin != nullptr && raft_ && leader_.active()) {
    wire::ForwardResponse response{request.forward_id, options_.name, answer_raft_admin(*admin)};
    answer_forward(origin, std::move(response), now_ms);
    return;
  }
  if (raft_ && leader_.active()) {
    leader_.on_forward(origin, request, now_ms, *raft_, state_machine_);
    return;
  }
  // Not the leader: redirect (the Requester re-sends to the leader named here).
  const std::string leader = leader_name();
  answer_forward(origin,
                 redirect(request.forward_id,
                          leader.empty() ? "no leader is known (an election may be in progress)"
                                         : "this server is not the leader; " + leader + " is"),
                 now_ms);
}

wire::ForwardResponse Node::redirect(uint64_t forward_id, std::string why) const {
  wire::ForwardResponse response;
  response.forward_id = forward_id;
  response.leader = leader_name();
  response.response.error_code =
      response.leader.empty() ? ErrorCode::no_leader : ErrorCode::not_leader;
  response.response.error_message = std::move(why);
  return response;
}

bool Node::can_serve_follower_read() const {
  return raft_ && raft_->role() == raft::Role::follower && raft_->leader() != raft::kNoNode &&
         !follower_reads_.full();
}

void Node::confirm_follower_read(uint64_t context, int64_t now_ms) {
  if (!raft_->read_index_from_leader(context).ok()) {
    forward_follower_reads(follower_reads_.take_all(), now_ms);
  }
}

void Node::answer_forward(const std::string& origin, wire::ForwardResponse response,
                          int64_t now_ms) {
  if (origin == options_.name) {
    requester_.on_response(origin, response, now_ms);  // asked by this node itself: no hop
  } else {
    send_to_peer(origin, std::move(response));
  }
}

void Node::send_to_peer(const std::string& name, wire::PeerPayload payload) {
  PeerSend send;
  send.to_name = name;
  send.rpc_address = rpc_address_of_agent(name);
  send.message = wire::PeerMessage{options_.name, identity_.cluster_id, std::move(payload)};
  peer_sends_.push_back(std::move(send));
}

void Node::route(int64_t now_ms) {
  // Gossip's TCP fallback probes go over the agent-to-agent connection to the member's RPC
  // address (from its metadata); one we cannot address yet simply goes unanswered.
  for (gossip::TcpProbe& probe : gossip_->take_tcp_probes()) {
    if (rpc_address_of_agent(probe.target).empty()) continue;
    const std::string target = probe.target;
    send_to_peer(target, wire::GossipProbe{probe.sequence, std::move(probe.target)});
  }
  // Push-pull over the same connections; a member we cannot address yet gets datagrams.
  for (gossip::TcpSync& sync : gossip_->take_tcp_syncs()) {
    if (rpc_address_of_agent(sync.target).empty()) {
      gossip_->tcp_sync_undeliverable(sync);
      continue;
    }
    const std::string target = sync.target;
    send_to_peer(target, wire::GossipSync{std::move(sync.packet)});
  }
  for (int round = 0; round < 64; ++round) {
    bool moved = false;
    for (Requester::Send& send : requester_.take_sends()) {
      moved = true;
      if (send.to == options_.name) {
        handle_forward(options_.name, send.forward, now_ms);  // this node leads: no hop
      } else {
        send_to_peer(send.to, std::move(send.forward));
      }
    }
    for (LeaderService::Reply& reply : leader_.take_replies()) {
      moved = true;
      answer_forward(reply.to, std::move(reply.response), now_ms);
    }
    for (Requester::Answer& answer : requester_.take_answers()) {
      moved = true;
      if (answer.confirmed) local_sessions_.on_contact_confirmed(answer.sent_at_ms);
      if (answer.reply_to.connection_id == 0) {
        local_sessions_.on_answer(answer, now_ms, requester_);
      } else if (answer.reply_to.connection_id == kWatchHubConnection) {
        watch_hub_.on_answer(answer, now_ms, requester_);
      } else {
        client_replies_.push_back(ClientReply{answer.reply_to.connection_id,
                                              std::move(answer.response)});
      }
    }
    for (LocalClientReply& reply : local_sessions_.take_replies()) {
      client_replies_.push_back(ClientReply{reply.connection_id, std::move(reply.response)});
    }
    for (LocalClientReply& reply : watch_hub_.take_replies()) {
      client_replies_.push_back(ClientReply{reply.connection_id, std::move(reply.response)});
    }
    if (!moved) return;
  }
}

void Node::on_leader_change(int64_t now_ms) {
  const std::string leader = leader_name();
  const bool leading = raft_ && raft_->role() == raft::Role::leader;
  if (leading && !leader_.active()) leader_.on_elected(now_ms, state_machine_);
  if (!leading && leader_.active()) leader_.on_deposed(leader);
  if (leader != known_leader_) {
    known_leader_ = leader;
    requester_.set_leader(leader, now_ms);  // re-sends what went to the old one
  }
}

// ---- raft admin (leader only) -----------------------------------------------------------------

raft::NodeId Node::resolve_member(const std::string& target) const {
  const raft::Membership& membership = raft_->membership();
  std::vector<raft::NodeId> members = membership.voters;
  members.insert(members.end(), membership.learners.begin(), membership.learners.end());
  for (raft::NodeId id : members) {
    if (name_of(id) == target || hex(id) == target) return id;
  }
  return raft::kNoNode;
}

wire::ClientResponse Node::answer_raft_admin(const wire::RaftAdminRequest& request) {
  wire::ClientResponse response;
  auto fail = [&](ErrorCode code, std::string message) {
    response.error_code = code;
    response.error_message = std::move(message);
    return response;
  };
  raft::NodeId target = raft::kNoNode;
  if (!request.target.empty()) {
    target = resolve_member(request.target);
    if (target == raft::kNoNode) {
      return fail(ErrorCode::not_found,
                  "'" + request.target + "' is neither the name nor the server id of a voter "
                  "or learner; see `conclave raft peers`");
    }
  }
  switch (request.op) {
    case wire::RaftAdminOp::peers: {
      wire::RaftPeersResponse peers;
      peers.commit_index = raft_->commit_index();
      peers.last_index = raft_->last_index();
      for (const raft::PeerProgress& progress : raft_->peer_progress()) {
        wire::RaftPeer peer;
        peer.name = name_of(progress.id);
        peer.server_id = hex(progress.id);
        peer.voter = progress.voter;
        peer.leader = progress.id == identity_.server_id;
        peer.match_index = progress.match_index;
        peer.last_contact_ms =
            static_cast<int64_t>(progress.ticks_since_heard) * options_.raft_tick_ms;
        peer.health = "unknown";
        for (const gossip::Member& member : gossip_->members()) {
          if (member.name != peer.name) continue;
          auto meta = member_meta_.find(member.name);
          if (meta != member_meta_.end() && meta->second.server_id == progress.id) {
            peer.health = gossip::member_state_name(member.state);
          }
        }
        peers.peers.push_back(std::move(peer));
      }
      response.body = std::move(peers);
      return response;
    }
    case wire::RaftAdminOp::transfer_leader: {
      if (Status status = raft_->transfer_leadership(target); !status.ok()) {
        return fail(status.error().code, status.error().message);
      }
      return response;
    }
    case wire::RaftAdminOp::remove_peer: {
      if (target == raft::kNoNode) {
        return fail(ErrorCode::invalid_argument, "remove-peer needs a node name or server id");
      }
      auto changed = raft_->change_membership(
          raft::MembershipChange{raft::MembershipChangeType::remove, target});
      if (!changed.ok()) return fail(changed.error().code, changed.error().message);
      ++counters_.membership_changes_proposed;
      notices_.push_back("operator: removing " + name_of(target) + " (server " + hex(target) +
                         ") from the membership (entry " + std::to_string(changed.value()) +
                         ")");
      return response;
    }
  }
  return fail(ErrorCode::invalid_argument, "unknown raft admin operation");
}

// ---- outputs ----------------------------------------------------------------------------------

std::vector<gossip::Outgoing> Node::take_gossip_packets() { return gossip_->take_outgoing(); }

std::vector<PeerSend> Node::take_peer_sends() {
  if (raft_) {
    // Raft messages that need nothing persisted leave now, even while a batch is being
    // fsynced (heartbeat acknowledgements, refusals, the leader's appends).
    for (raft::Message& message : raft_->take_messages_without_persist()) {
      if (auto send = raft_send(std::move(message))) peer_sends_.push_back(std::move(*send));
    }
  }
  return std::exchange(peer_sends_, {});
}

std::optional<PeerSend> Node::raft_send(raft::Message message) {
  PeerSend send;
  send.to_name = name_of(message.to);
  if (send.to_name.empty()) {
    // A server id gossip has not shown us yet (or no longer): Raft re-sends in time.
    ++counters_.raft_messages_unroutable;
    return std::nullopt;
  }
  send.rpc_address = rpc_address_of(message.to);  // empty: not learned from gossip yet
  send.message = wire::PeerMessage{options_.name, identity_.cluster_id, std::move(message)};
  return send;
}

std::vector<ClientReply> Node::take_client_replies() {
  return std::exchange(client_replies_, {});
}

std::vector<gossip::Event> Node::take_membership_events() {
  refresh_members(now_ms_);
  return std::exchange(membership_events_, {});
}

bool Node::has_ready() const {
  CONCLAVE_CHECK(!outstanding_ready_, "has_ready() while a NodeReady is outstanding");
  // A damaged data folder is written no more (store::Store::persist refuses): more batches
  // would carry its counter past the watermark and hide the rollback at the next restart.
  if (!damage_.empty()) return false;
  return identity_needs_saving_ || promise_to_save_ || log_start_to_save_ ||
         known_members_to_save_ || (raft_ && raft_->has_ready());
}

NodeReady Node::ready() {
  CONCLAVE_CHECK(!outstanding_ready_, "ready() called before advance()");
  NodeReady result;
  if (identity_needs_saving_) {
    result.batch.identity = identity_;
    if (raft_) result.batch.voters = voters_;
    identity_needs_saving_ = false;
  }
  if (promise_to_save_) {
    result.batch.promise = promise_to_save_;
    promise_in_flight_ = std::exchange(promise_to_save_, std::nullopt);
  }
  result.batch.log_start = std::exchange(log_start_to_save_, std::nullopt);
  result.batch.known_members = std::exchange(known_members_to_save_, std::nullopt);
  if (!raft_) {
    outstanding_ready_ = raft::Ready{};
    outstanding_ready_from_raft_ = false;  // Raft may start before advance(): not its Ready
    return result;
  }
  for (raft::Message& message : raft_->take_messages_without_persist()) {
    if (auto send = raft_send(std::move(message))) {
      result.messages_before_persist.push_back(std::move(*send));
    }
  }
  raft::Ready ready = raft_->ready();
  outstanding_ready_from_raft_ = true;
  result.batch.hard_state = ready.hard_state;
  result.batch.entries = ready.entries;
  for (raft::Message& message : ready.messages) {
    const bool early = raft::may_send_before_persist(message);
    if (auto send = raft_send(std::move(message))) {
      (early ? result.messages_before_persist : result.messages).push_back(std::move(*send));
    }
  }
  ready.messages.clear();
  if (ready.snapshot) {
    // The leader's state replaces ours: persisted in this batch, before the acknowledgement
    // (in `messages`) leaves.
    auto rows = wire::decode_state_snapshot(*ready.snapshot->data, wire::kMaxSnapshotRows);
    state::StateMachine restored(options_.state_machine_faults);
    Status status = rows.ok() ? restored.restore(rows.value(), ready.snapshot->start.index)
                              : Status(rows.error());
    if (!status.ok()) {
      stop_raft_for_damage("the snapshot received from the leader does not decode: " +
                           status.error().message);
      outstanding_ready_ = raft::Ready{};
      result.messages.clear();
      result.messages_before_persist.clear();
      result.batch.hard_state.reset();
      result.batch.entries.clear();
      return result;
    }
    state_machine_ = std::move(restored);
    result.batch.snapshot = store::InstalledSnapshot{ready.snapshot->start, std::move(rows).value()};
    ++counters_.snapshots_installed;
    raft_->set_snapshot(ready.snapshot->start.index, ready.snapshot->data);
  }
  if (ready.soft_state) on_leader_change(now_ms_);
  // Committed entries (durable on a quorum) may be applied and answered before this node's own
  // batch is persisted; the state rows they change are persisted in this batch.
  for (const raft::Entry& entry : ready.committed_entries) {
    state::Applied applied = state_machine_.apply(entry);
    ++counters_.entries_applied;
    leader_.on_applied(applied);
    for (state::LockGrant& grant : applied.grants) applied_grants_.push_back(std::move(grant));
  }
  std::vector<raft::ReadState> leader_reads;
  for (const raft::ReadState& read : ready.read_states) {
    if ((read.context & kFollowerReadContextBit) != 0) {
      follower_reads_.confirmed(read.context, read.index);
    } else {
      leader_reads.push_back(read);
    }
  }
  leader_.on_read_states(leader_reads);
  leader_.serve_reads(state_machine_);
  serve_follower_reads();
  result.batch.state = state_machine_.take_changes();
  outstanding_ready_ = std::move(ready);
  route(now_ms_);
  return result;
}

void Node::leave(int64_t now_ms) { gossip_->leave(now_ms); }

bool Node::begin_handover() {
  if (!leads() || raft_->membership().voters.size() < 2) return false;
  return raft_->transfer_leadership(raft::kNoNode).ok();
}

void Node::advance() {
  CONCLAVE_CHECK(outstanding_ready_.has_value(), "advance() without an outstanding ready()");
  if (raft_ && outstanding_ready_from_raft_) raft_->advance(*outstanding_ready_);
  outstanding_ready_.reset();
  maybe_compact();
  if (promise_in_flight_) {
    // Durable now: only from here on may others learn of it (bootstrap.h).
    promise_ = std::exchange(promise_in_flight_, std::nullopt);
    update_metadata(now_ms_);
  }
}

// ---- lookups and status -----------------------------------------------------------------------

std::string Node::name_of(raft::NodeId id) const {
  // Routed by server id, not by name: a server rebuilt under the same name (a wiped data
  // folder) is a different server and must not receive the old one's messages.
  if (auto found = server_names_.find(id); found != server_names_.end()) return found->second;
  // A recorded voter gossip has not shown yet, unless its name now belongs to another server
  // (its data folder was replaced): that one must not get the old server's messages.
  auto found = voter_names_.find(id);
  if (found == voter_names_.end()) return "";
  auto meta = member_meta_.find(found->second);
  if (meta != member_meta_.end() && meta->second.server_id != id) return "";
  return found->second;
}

std::vector<std::string> Node::alive_peer_names() const {
  std::vector<std::string> names;
  for (const gossip::Member& member : gossip_->members()) {
    if (member.name != options_.name && (member.state == gossip::MemberState::alive ||
                                          member.state == gossip::MemberState::suspect)) {
      names.push_back(member.name);
    }
  }
  return names;
}

std::string Node::rpc_address_of_agent(const std::string& name) const {
  auto meta = member_meta_.find(name);
  return meta == member_meta_.end() ? "" : meta->second.rpc_address;
}

std::string Node::rpc_address_of(raft::NodeId server_id) const {
  auto meta = member_meta_.find(name_of(server_id));
  if (meta == member_meta_.end() || meta->second.server_id != server_id) return "";
  return meta->second.rpc_address;
}

std::map<std::string, MemberView> Node::member_views() const {
  std::map<std::string, MemberView> views;
  for (const gossip::Member& member : gossip_->members()) {
    auto meta = member_meta_.find(member.name);
    views[member.name] =
        MemberView{member.state, meta == member_meta_.end() ? 0 : meta->second.boot_id};
  }
  return views;
}

std::string Node::leader_name() const {
  if (!raft_ || raft_->leader() == raft::kNoNode) return "";
  return name_of(raft_->leader());
}

wire::StatusResponse Node::status() const {
  wire::StatusResponse status;
  status.node_name = options_.name;
  status.server = options_.server;
  if (raft_) {
    for (raft::NodeId id : raft_->membership().voters) {
      const std::string name = name_of(id);
      status.voters.push_back(name.empty() ? hex(id) : name);
    }
    for (raft::NodeId id : raft_->membership().learners) {
      const std::string name = name_of(id);
      status.learners.push_back(name.empty() ? hex(id) : name);
    }
  }
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
    status.leader_name = requester_.leader();
  }
  const gossip::Counters& gossip_counters = gossip_->counters();
  const LeaderServiceCounters& leader = leader_.counters();
  const LocalSessionsCounters& sessions = local_sessions_.counters();
  status.counters = {
      {"client_requests", counters_.client_requests},
      {"client_requests_rejected", counters_.client_requests_rejected},
      {"requests_in_flight", requester_.outstanding()},
      {"requests_resent", requester_.resends()},
      {"peer_messages_received", counters_.peer_messages_received},
      {"peer_messages_rejected", counters_.peer_messages_rejected},
      {"peer_messages_wrong_cluster", counters_.peer_messages_wrong_cluster},
      {"members_with_bad_metadata", counters_.members_with_bad_metadata},
      {"raft_messages_unroutable", counters_.raft_messages_unroutable},
      {"raft_stalls", counters_.raft_stalls},
      {"raft_gossip_triggered_elections",
       raft_ ? raft_->counters().gossip_triggered_elections : 0},
      {"membership_changes_proposed", counters_.membership_changes_proposed},
      {"raft_lost_log_reports", raft_ ? raft_->counters().lost_log_reports : 0},
      {"raft_reads_dropped", raft_ ? raft_->counters().reads_dropped : 0},
      {"raft_log_start", raft_ ? raft_->log_start() : 0},
      {"raft_snapshot_chunks_sent", raft_ ? raft_->counters().snapshot_chunks_sent : 0},
      {"snapshots_taken", counters_.snapshots_taken},
      {"snapshots_installed", counters_.snapshots_installed},
      {"follower_reads_served", counters_.follower_reads_served},
      {"follower_reads_forwarded", counters_.follower_reads_forwarded},
      {"entries_applied", counters_.entries_applied},
      {"bootstrap_refusals", counters_.bootstrap_refusals},
      {"undecodable_entries", state_machine_.undecodable_entries()},
      {"duplicate_commands", state_machine_.duplicate_commands()},
      {"leader_forwards_received", leader.forwards_received},
      {"leader_proposals", leader.proposals},
      {"leader_reads_served", leader.reads_served},
      {"leader_invalidations_proposed", leader.invalidations_proposed},
      {"local_sessions", local_sessions_.session_count()},
      {"locks_held_here", local_sessions_.hold_count()},
      {"locks_granted", sessions.locks_granted},
      {"locks_lost", sessions.locks_lost},
      {"lock_jeopardy_events", sessions.jeopardy_events},
      {"watch_streams", watch_hub_.stream_count()},
      {"watch_waiters", watch_hub_.waiter_count()},
      {"watch_upstream_polls", watch_hub_.counters().upstream_polls},
      {"watch_answered_locally", watch_hub_.counters().answered_locally},
      {"watch_forwarded_alone", watch_hub_.counters().forwarded_alone},
      {"watch_buffer_revisions_dropped", watch_hub_.counters().buffer_revisions_dropped},
      {"leader_watches_parked", leader_.parked_watch_count()},
      {"gossip_packets_received", gossip_counters.packets_received},
      {"gossip_packets_sent", gossip_counters.packets_sent},
      {"gossip_suspicions_raised", gossip_counters.suspicions_raised},
      {"gossip_members_failed", gossip_counters.members_failed},
      {"gossip_refutations", gossip_counters.refutations},
      {"gossip_updates_dropped", gossip_counters.updates_dropped},
      {"gossip_nacks_sent", gossip_counters.nacks_sent},
      {"gossip_nacks_received", gossip_counters.nacks_received},
      {"gossip_stalls_detected", gossip_counters.stalls_detected},
      {"gossip_suspicion_confirmations", gossip_counters.suspicion_confirmations},
      {"gossip_name_conflicts", gossip_counters.name_conflicts},
      {"gossip_wrong_cluster_dropped", gossip_counters.wrong_cluster_dropped},
      {"gossip_tcp_probes", gossip_counters.tcp_probes},
      {"gossip_tcp_probes_answered", gossip_counters.tcp_probes_answered},
      {"gossip_tcp_syncs_sent", gossip_counters.tcp_syncs_sent},
      {"gossip_tcp_syncs_received", gossip_counters.tcp_syncs_received},
      {"gossip_tcp_syncs_undeliverable", gossip_counters.tcp_syncs_undeliverable},
      {"gossip_local_health", static_cast<uint64_t>(gossip_->local_health())},
  };
  return status;
}

}  // namespace conclave::agent
