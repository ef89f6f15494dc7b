#include "agent/leader_service.h"

#include <algorithm>
#include <set>
#include <type_traits>

#include "agent/lock_timing.h"
#include "agent/requester.h"
#include "wire/codec.h"

namespace conclave::agent {
namespace {

// A TickCommand at most this often (a due deadline is met within it).
constexpr int64_t kTickMinIntervalMs = 20;
// An invalidation not yet applied is proposed again after this long.
constexpr int64_t kInvalidationRetryMs = 1000;
// Pending answers are dropped this long after their request's own timeout (the origin re-sends
// if it still waits).
constexpr int64_t kPendingSlackMs = 1000;

std::string key_error(const std::string& key) {
  if (key.empty() || key.size() > wire::kMaxKeyBytes) {
    return "a key must be 1 to " + std::to_string(wire::kMaxKeyBytes) + " bytes long";
  }
  return "";
}

// Why a transaction is refused before it is proposed ("" when it is fine): a key out of
// bounds, or a key written twice in one branch (its outcome would depend on the order).
std::string txn_error(const wire::KvTxnRequest& txn) {
  for (const wire::TxnCompare& compare : txn.compares) {
    if (std::string error = key_error(compare.key); !error.empty()) return error;
  }
  for (const auto* branch : {&txn.success, &txn.failure}) {
    std::set<std::string> written;
    for (const wire::TxnOp& op : *branch) {
      if (std::string error = key_error(op.key); !error.empty()) return error;
      const bool writes_one_key =
          op.type == wire::TxnOpType::put || (op.type == wire::TxnOpType::del && !op.prefix);
      if (writes_one_key && !written.insert(op.key).second) {
        return "the transaction writes '" + op.key + "' twice in one branch";
      }
    }
  }
  return "";
}

}  // namespace

void LeaderService::on_elected(int64_t now_ms, const state::StateMachine& state_machine) {
  active_ = true;
  clock_base_ms_ = state_machine.time_ms();
  elected_at_ms_ = now_ms;
  last_stamp_ms_ = clock_base_ms_;
  // A new leader does not know when the agents were last heard from: it counts them all as
  // heard from now (agent/lock_timing.h).
  last_contact_ms_.clear();
  last_contact_by_boot_ms_.clear();
  invalidation_proposed_ms_.clear();
  last_tick_proposed_ms_ = -1;
}

void LeaderService::on_deposed(const std::string& new_leader) {
  if (!active_) return;
  active_ = false;
  const std::string message =
      "the server asked is no longer the leader" +
      (new_leader.empty() ? std::string("; an election is in progress") : "; ask " + new_leader);
  for (const auto& [key, waiter] : pending_writes_) {
    replies_.push_back(Reply{waiter.origin, wire::ForwardResponse{waiter.forward_id, new_leader,
                                                                  wire::ClientResponse{
                                                                      0, ErrorCode::not_leader,
                                                                      message, false, {}}}});
  }
  auto answer_read = [&](const PendingRead& read) {
    replies_.push_back(Reply{read.waiter.origin,
                             wire::ForwardResponse{read.waiter.forward_id, new_leader,
                                                   wire::ClientResponse{0, ErrorCode::not_leader,
                                                                        message, false, {}}}});
  };
  for (const auto& [context, read] : pending_reads_) answer_read(read);
  for (const PendingRead& read : confirmed_reads_) answer_read(read);
  for (const ParkedWatch& watch : parked_watches_) answer_read(watch.read);
  pending_writes_.clear();
  pending_reads_.clear();
  confirmed_reads_.clear();
  parked_watches_.clear();
}

int64_t LeaderService::stamp_ms(int64_t now_ms, const state::StateMachine& state_machine) {
  last_stamp_ms_ = std::max({last_stamp_ms_, state_machine.time_ms(),
                             clock_base_ms_ + (now_ms - elected_at_ms_)});
  return last_stamp_ms_;
}

void LeaderService::reply(const Waiter& waiter, ErrorCode code, std::string message,
                          wire::ClientResponseBody body) {
  replies_.push_back(Reply{waiter.origin,
                           wire::ForwardResponse{waiter.forward_id, self_name_,
                                                 wire::ClientResponse{0, code, std::move(message),
                                                                      false, std::move(body)}}});
}

bool LeaderService::propose(raft::RawNode& raft, const wire::Command& command,
                            const Waiter* waiter) {
  auto proposed = raft.propose(wire::encode_command(command));
  if (!proposed.ok()) {
    // During a leadership transfer the request belongs to the next leader: answered like an
    // election in progress, so the origin re-sends it shortly (agent/requester.h).
    const ErrorCode code = raft.transfer_target() != raft::kNoNode ? ErrorCode::no_leader
                                                                   : proposed.error().code;
    if (waiter != nullptr) reply(*waiter, code, proposed.error().message);
    return false;
  }
  ++counters_.proposals;
  return true;
}

bool LeaderService::owned_by_origin(uint64_t session, const std::string& origin,
                                    uint64_t client_id, const state::StateMachine& state_machine,
                                    const Waiter& waiter) {
  const wire::SessionRecord* record = state_machine.session(session);
  // A session that does not exist (any more) is left to the state machine, so that a retried
  // request gets the answer of its first try from the dedup table.
  if (record == nullptr || (record->node == origin && record->boot_id == client_id)) return true;
  reply(waiter, ErrorCode::invalid_argument,
        "session " + std::to_string(session) + " belongs to node " + record->node +
            (record->node == origin ? " in an earlier run of its agent" : "") +
            "; a session is used only through the agent that created it");
  return false;
}

void LeaderService::on_forward(const std::string& origin, const wire::ForwardRequest& request,
                               int64_t now_ms, raft::RawNode& raft,
                               const state::StateMachine& state_machine) {
  ++counters_.forwards_received;
  now_ms_ = now_ms;
  last_contact_ms_[origin] = now_ms;
  last_contact_by_boot_ms_[{origin, request.client_id}] = now_ms;
  const Waiter waiter{origin, request.forward_id,
                      now_ms + static_cast<int64_t>(request.timeout_ms) + kPendingSlackMs};
  const wire::ClientRequestBody& body = request.request.body;

  // Reads: confirmed by ReadIndex, no log entry.
  const bool read = std::visit(
      [](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        return std::is_same_v<T, wire::KvGetRequest> || std::is_same_v<T, wire::KvListRequest> ||
               std::is_same_v<T, wire::KvWatchRequest> ||
               std::is_same_v<T, wire::SessionListRequest> ||
               std::is_same_v<T, wire::LockListRequest> ||
               std::is_same_v<T, wire::SessionKeepaliveRequest>;
      },
      body);
  if (read) {
    if (const auto* get = std::get_if<wire::KvGetRequest>(&body)) {
      if (std::string error = key_error(get->key); !error.empty()) {
        return reply(waiter, ErrorCode::invalid_argument, error);
      }
    }
    const uint64_t context = next_read_context_++;
    if (Status status = raft.read_index(context); !status.ok()) {
      return reply(waiter, status.error().code, status.error().message);
    }
    pending_reads_[context] = PendingRead{waiter, request.client_id, body, 0};
    return;
  }
  if (!is_write(body)) {
    return reply(waiter, ErrorCode::invalid_argument,
                 "this request is answered by the agent itself and cannot be forwarded");
  }
  if (request.client_id == 0 || request.sequence == 0) {
    return reply(waiter, ErrorCode::invalid_argument,
                 "a forwarded write needs a client id and a sequence number");
  }
  const RequestKey key{request.client_id, request.sequence};
  if (auto pending = pending_writes_.find(key); pending != pending_writes_.end()) {
    // Re-sent while its entry is on the way (or its lock wait goes on): answer the new attempt
    // when the time comes, without a second entry.
    ++counters_.duplicate_forwards;
    pending->second = waiter;
    return;
  }

  wire::Command command;
  command.stamp_ms = stamp_ms(now_ms, state_machine);
  command.client_id = request.client_id;
  command.sequence = request.sequence;
  command.ack_below = request.ack_below;
  std::string invalid;
  std::visit(
      [&](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, wire::KvPutRequest>) {
          invalid = key_error(value.key);
          if (invalid.empty() && value.value.size() > wire::kMaxValueBytes) {
            invalid = "the value is " + std::to_string(value.value.size()) +
                      " bytes; the limit is " + std::to_string(wire::kMaxValueBytes);
          }
          command.op = wire::PutCommand{value.key,         value.value, value.guard_lock,
                                        value.guard_token, value.cas,   value.cas_revision};
        } else if constexpr (std::is_same_v<T, wire::KvDeleteRequest>) {
          invalid = key_error(value.key);
          command.op = wire::DeleteCommand{value.key, value.prefix};
        } else if constexpr (std::is_same_v<T, wire::KvTxnRequest>) {
          invalid = txn_error(value);
          command.op = wire::TxnCommand{value};
        } else if constexpr (std::is_same_v<T, wire::SessionCreateRequest>) {
          command.op = wire::SessionCreateCommand{origin, request.client_id, value.ttl_ms,
                                                  value.description};
        } else if constexpr (std::is_same_v<T, wire::SessionDestroyRequest>) {
          command.op = wire::SessionDestroyCommand{value.session};
        } else if constexpr (std::is_same_v<T, wire::SessionRenewRequest>) {
          command.op = wire::SessionRenewCommand{value.session};
        } else if constexpr (std::is_same_v<T, wire::LockAcquireRequest>) {
          if (value.name.empty() || value.name.size() > wire::kMaxLockNameBytes) {
            invalid = "a lock name must be 1 to " + std::to_string(wire::kMaxLockNameBytes) +
                      " bytes long";
          }
          const uint32_t delay = value.lock_delay_ms < 0
                                     ? static_cast<uint32_t>(kDefaultLockDelayMs)
                                     : static_cast<uint32_t>(value.lock_delay_ms);
          command.op = wire::LockAcquireCommand{value.name, value.session, value.limit,
                                                value.wait_ms > 0, delay};
        } else if constexpr (std::is_same_v<T, wire::LockReleaseRequest>) {
          command.op = wire::LockReleaseCommand{value.name, value.session, value.token};
        } else if constexpr (std::is_same_v<T, wire::LockCancelRequest>) {
          command.op = wire::LockCancelCommand{value.name, value.session};
        }
      },
      body);
  if (!invalid.empty()) return reply(waiter, ErrorCode::invalid_argument, invalid);
  uint64_t session = 0;
  if (const auto* op = std::get_if<wire::SessionDestroyCommand>(&command.op)) session = op->session;
  if (const auto* op = std::get_if<wire::SessionRenewCommand>(&command.op)) session = op->session;
  if (const auto* op = std::get_if<wire::LockAcquireCommand>(&command.op)) session = op->session;
  if (const auto* op = std::get_if<wire::LockReleaseCommand>(&command.op)) session = op->session;
  if (const auto* op = std::get_if<wire::LockCancelCommand>(&command.op)) session = op->session;
  if (session != 0 &&
      !owned_by_origin(session, origin, request.client_id, state_machine, waiter)) {
    return;
  }
  if (propose(raft, command, &waiter)) pending_writes_[key] = waiter;
}

void LeaderService::on_applied(const state::Applied& applied) {
  auto answer = [&](uint64_t client_id, uint64_t sequence, const state::Outcome& outcome) {
    auto pending = pending_writes_.find({client_id, sequence});
    if (pending == pending_writes_.end()) return;
    reply(pending->second, outcome.code, outcome.message, outcome.body);
    pending_writes_.erase(pending);
  };
  if (applied.command && applied.command->client_id != 0 && !applied.waiting) {
    answer(applied.command->client_id, applied.command->sequence, applied.outcome);
  }
  for (const state::DeferredAnswer& deferred : applied.deferred_answers) {
    answer(deferred.client_id, deferred.sequence, deferred.outcome);
  }
}

void LeaderService::on_read_states(const std::vector<raft::ReadState>& reads) {
  for (const raft::ReadState& read : reads) {
    auto pending = pending_reads_.find(read.context);
    if (pending == pending_reads_.end()) continue;
    pending->second.index = read.index;
    confirmed_reads_.push_back(std::move(pending->second));
    pending_reads_.erase(pending);
  }
}

void LeaderService::serve(const PendingRead& read, const state::StateMachine& state_machine) {
  ++counters_.reads_served;
  std::visit(
      [&](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, wire::KvGetRequest>) {
          reply(read.waiter, ErrorCode::ok, "", state_machine.get_response(value.key));
        } else if constexpr (std::is_same_v<T, wire::KvListRequest>) {
          reply(read.waiter, ErrorCode::ok, "", state_machine.list_kv(value));
        } else if constexpr (std::is_same_v<T, wire::KvWatchRequest>) {
          serve_watch(read, value, state_machine, true,
                      now_ms_ + std::min<int64_t>(value.wait_ms, wire::kMaxWatchWaitMs));
        } else if constexpr (std::is_same_v<T, wire::SessionListRequest>) {
          reply(read.waiter, ErrorCode::ok, "", state_machine.list_sessions());
        } else if constexpr (std::is_same_v<T, wire::LockListRequest>) {
          reply(read.waiter, ErrorCode::ok, "", state_machine.list_locks(value.prefix));
        } else if constexpr (std::is_same_v<T, wire::SessionKeepaliveRequest>) {
          reply(read.waiter, ErrorCode::ok, "",
                wire::SessionKeepaliveResponse{
                    state_machine.sessions_of(read.waiter.origin, read.client_id)});
        }
      },
      read.body);
}

void LeaderService::serve_watch(const PendingRead& read, const wire::KvWatchRequest& watch,
                                const state::StateMachine& state_machine, bool may_park,
                                int64_t answer_by_ms) {
  Result<wire::KvWatchResponse> answer = state_machine.watch_kv(watch);
  if (!answer.ok()) {
    return reply(read.waiter, answer.error().code, answer.error().message);
  }
  if (answer.value().events.empty() && may_park && answer_by_ms > now_ms_ &&
      parked_watches_.size() < kMaxParkedWatches) {
    // Parked from where it has looked up to: "from the next change" (0) means the next
    // change after now, not after whenever it is looked at again.
    ParkedWatch parked{read, answer_by_ms};
    std::get<wire::KvWatchRequest>(parked.read.body).from_revision =
        answer.value().watch_revision + 1;
    parked_watches_.push_back(std::move(parked));
    return;
  }
  reply(read.waiter, ErrorCode::ok, "", std::move(answer).value());
}

void LeaderService::serve_reads(const state::StateMachine& state_machine) {
  // Parked watches first: anything applied since may be what they wait for.
  std::vector<ParkedWatch> parked = std::exchange(parked_watches_, {});
  for (ParkedWatch& watch : parked) {
    serve_watch(watch.read, std::get<wire::KvWatchRequest>(watch.read.body), state_machine,
                true, watch.answer_by_ms);
  }
  auto ready = std::partition(confirmed_reads_.begin(), confirmed_reads_.end(),
                              [&](const PendingRead& read) {
                                return read.index > state_machine.applied_index();
                              });
  for (auto it = ready; it != confirmed_reads_.end(); ++it) serve(*it, state_machine);
  confirmed_reads_.erase(ready, confirmed_reads_.end());
}

void LeaderService::tick(int64_t now_ms, raft::RawNode& raft,
                         const state::StateMachine& state_machine,
                         const std::map<std::string, MemberView>& members) {
  if (!active_) return;
  now_ms_ = now_ms;
  // Watches whose wait is over get what there is (nothing, and how far they looked).
  std::vector<ParkedWatch> parked = std::exchange(parked_watches_, {});
  for (ParkedWatch& watch : parked) {
    serve_watch(watch.read, std::get<wire::KvWatchRequest>(watch.read.body), state_machine,
                watch.answer_by_ms > now_ms, watch.answer_by_ms);
  }
  const int64_t stamp = stamp_ms(now_ms, state_machine);
  if (auto due = state_machine.next_deadline_ms();
      due && *due <= stamp &&
      (last_tick_proposed_ms_ < 0 || now_ms - last_tick_proposed_ms_ >= kTickMinIntervalMs)) {
    wire::Command tick;
    tick.stamp_ms = stamp;
    tick.op = wire::TickCommand{};
    if (propose(raft, tick, nullptr)) {
      ++counters_.ticks_proposed;
      last_tick_proposed_ms_ = now_ms;
    }
  }
  for (const auto& [node, boot_id] : state_machine.session_owners()) {
    auto contact = last_contact_ms_.find(node);
    const int64_t last_heard = contact == last_contact_ms_.end()
                                   ? elected_at_ms_
                                   : std::max(contact->second, elected_at_ms_);
    std::optional<wire::SessionEndReason> reason;
    auto member = members.find(node);
    const MemberView* view = member == members.end() ? nullptr : &member->second;
    if (view == nullptr) {
      // Not in our gossip view at all: give a live agent ample time to show up or to reach us.
      if (now_ms < last_heard + kUnknownOwnerGraceMs) continue;
      reason = wire::SessionEndReason::node_unknown;
    } else if (view->state == gossip::MemberState::alive && view->boot_id != 0 &&
               view->boot_id != boot_id) {
      // Another run of that agent exists. Which one is newer? Gossip can lag behind a restart
      // (seed 100134: the view still showed the old boot while the new one held a lock), so
      // the session's boot must also have gone silent: a live agent with sessions sends
      // keepalives every kKeepaliveIntervalMs.
      auto boot_contact = last_contact_by_boot_ms_.find({node, boot_id});
      const int64_t boot_heard = boot_contact == last_contact_by_boot_ms_.end()
                                     ? elected_at_ms_
                                     : std::max(boot_contact->second, elected_at_ms_);
      if (now_ms < boot_heard + kSessionContactGraceMs) continue;
      reason = wire::SessionEndReason::node_restarted;  // that process is gone
    } else if (view->state == gossip::MemberState::dead ||
               view->state == gossip::MemberState::left) {
      if (now_ms < last_heard + kSessionContactGraceMs) continue;  // agent/lock_timing.h
      reason = view->state == gossip::MemberState::dead ? wire::SessionEndReason::node_failed
                                                        : wire::SessionEndReason::node_left;
    }
    if (!reason) continue;
    auto& proposed = invalidation_proposed_ms_[{node, boot_id}];
    if (proposed != 0 && now_ms - proposed < kInvalidationRetryMs) continue;
    wire::Command invalidate;
    invalidate.stamp_ms = stamp;
    invalidate.op = wire::InvalidateNodeCommand{node, boot_id, *reason};
    if (propose(raft, invalidate, nullptr)) {
      ++counters_.invalidations_proposed;
      proposed = now_ms;
    }
  }
  // Bounded: a run of an agent silent this long has had its sessions ended (or has none).
  std::erase_if(last_contact_by_boot_ms_, [&](const auto& entry) {
    return now_ms - entry.second > 2 * kUnknownOwnerGraceMs;
  });
  std::erase_if(pending_writes_, [&](const auto& entry) { return entry.second.expires_ms <= now_ms; });
  std::erase_if(pending_reads_, [&](const auto& entry) {
    return entry.second.waiter.expires_ms <= now_ms;
  });
}

}  // namespace conclave::agent
