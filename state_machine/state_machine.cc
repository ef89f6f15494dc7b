#include "state_machine/state_machine.h"

#include <algorithm>
#include <set>
#include <type_traits>

#include "common/check.h"
#include "common/hash.h"
#include "state_machine/rows.h"
#include "wire/codec.h"

namespace conclave::state {
namespace {

// Idle dedup clients are swept when the state machine clock crosses a multiple of this: a
// point that depends only on the applied stamps, so every server sweeps at the same entry.
constexpr int64_t kDedupSweepIntervalMs = 60 * 1000;

Outcome granted_outcome(const std::string& lock, uint64_t session, uint64_t token) {
  wire::LockEvent event;
  event.name = lock;
  event.session = session;
  event.token = token;
  event.kind = wire::LockEventKind::granted;
  return Outcome{ErrorCode::ok, "", event};
}

}  // namespace

wire::CachedAnswer cached_answer(const Outcome& outcome, bool waiting) {
  wire::CachedAnswer answer;
  answer.code = outcome.code;
  answer.message = outcome.message;
  answer.waiting = waiting;
  if (!std::holds_alternative<std::monostate>(outcome.body)) {
    wire::ClientResponse response;
    response.body = outcome.body;
    answer.body = wire::encode_client_response(response);
  }
  return answer;
}

Outcome outcome_of(const wire::CachedAnswer& answer) {
  Outcome outcome{answer.code, answer.message, std::monostate{}};
  if (!answer.body.empty()) {
    auto decoded = wire::decode_client_response(answer.body);
    // Written by this code from a well-formed answer; a failure means the state is damaged.
    CONCLAVE_CHECK(decoded.ok(), "a cached answer in the dedup table does not decode");
    outcome.body = std::move(decoded).value().body;
  }
  return outcome;
}

Status StateMachine::restore(const std::vector<store::StateRow>& rows, raft::Index applied_index) {
  bool meta_seen = false;
  for (const store::StateRow& row : rows) {
    Status status;
    switch (static_cast<RowSpace>(row.space)) {
      case RowSpace::meta: {
        auto meta = wire::decode_state_meta(row.value);
        if (!meta.ok()) {
          status = meta.error();
          break;
        }
        meta_seen = true;
        if (meta.value().applied_index != applied_index) {
          return make_error(ErrorCode::storage,
                            "the state rows are at applied index " +
                                std::to_string(meta.value().applied_index) +
                                " but the store's position is " + std::to_string(applied_index));
        }
        kv_.set_revision(meta.value().kv_revision);
        time_ms_ = meta.value().time_ms;
        tokens_.set_last(meta.value().last_fencing_token);
        break;
      }
      case RowSpace::kv: status = kv_.restore(row); break;
      case RowSpace::sessions: status = sessions_.restore(row); break;
      case RowSpace::locks: status = locks_.restore(row); break;
      case RowSpace::dedup: status = dedup_.restore(row); break;
      default:
        return make_error(ErrorCode::storage,
                          "a state row has unknown space " + std::to_string(row.space));
    }
    if (!status.ok()) {
      return make_error(ErrorCode::storage, "a state row does not decode (" +
                                                status.error().message + ")");
    }
  }
  if (!meta_seen && applied_index != 0) {
    return make_error(ErrorCode::storage, "the state rows have no position row but the store "
                                          "says " + std::to_string(applied_index) +
                                          " entries were applied");
  }
  applied_index_ = applied_index;
  return Status();
}

Applied StateMachine::apply(const raft::Entry& entry) {
  CONCLAVE_CHECK(entry.index == applied_index_ + 1, "entries must be applied in order");
  applied_index_ = entry.index;
  applied_since_take_ = true;
  Applied applied;
  applied.index = entry.index;
  if (entry.data.empty()) return applied;  // a leader's no-op (Raft §8): time does not move

  auto decoded = wire::decode_command(entry.data);
  if (!decoded.ok()) {
    // Only a misbehaving peer can put such bytes in the log (proposals are encoded by agents).
    // Every server skips the entry the same way, so the state stays identical everywhere.
    ++undecodable_entries_;
    applied.outcome = Outcome::error(ErrorCode::malformed, decoded.error().message);
    return applied;
  }
  applied.command = std::move(decoded).value();
  const wire::Command& command = *applied.command;

  const int64_t previous_time_ms = time_ms_;
  time_ms_ = std::max(time_ms_, command.stamp_ms);
  if (time_ms_ / kDedupSweepIntervalMs != previous_time_ms / kDedupSweepIntervalMs) {
    dedup_.expire(time_ms_);
  }
  advance_time(entry.index, applied);

  // Reads through the log (protocol version 1) change nothing: no need to remember them.
  const bool deduplicated = command.client_id != 0 && !faults_.skip_dedup &&
                            !std::holds_alternative<wire::GetCommand>(command.op);
  if (deduplicated) {
    DedupTable::Lookup lookup =
        dedup_.check(command.client_id, command.sequence, command.ack_below, time_ms_);
    switch (lookup.check) {
      case DedupTable::Check::duplicate:
        // The same request reached the log again (the agent re-sent it to a new leader). It
        // took effect the first time; this copy only answers.
        ++duplicate_commands_;
        applied.duplicate = true;
        applied.waiting = lookup.answer->waiting;
        applied.outcome = outcome_of(*lookup.answer);
        stale_grant_check(command, applied.outcome);
        return applied;
      case DedupTable::Check::forgotten:
        ++duplicate_commands_;
        applied.duplicate = true;
        applied.outcome = Outcome::error(ErrorCode::invalid_argument,
                                         "this request was answered and acknowledged already");
        return applied;
      case DedupTable::Check::full:
        applied.outcome =
            Outcome::error(ErrorCode::unavailable,
                           "this agent has too many requests whose answers it has not "
                           "acknowledged (" + std::to_string(kMaxAnswersPerClient) +
                               " answers or " + std::to_string(kMaxAnswerBytesPerClient) +
                               " bytes); retry later");
        return applied;
      case DedupTable::Check::new_request:
        break;
    }
  }
  applied.outcome = execute(command, entry.index, applied);
  if (deduplicated) {
    dedup_.record(command.client_id, command.sequence,
                  cached_answer(applied.outcome, applied.waiting));
  }
  return applied;
}

Outcome StateMachine::execute(const wire::Command& command, raft::Index index, Applied& applied) {
  return std::visit(
      [&](const auto& op) -> Outcome {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, wire::PutCommand>) {
          if (!op.guard_lock.empty() && !locks_.holds_token(op.guard_lock, op.guard_token)) {
            const wire::LockRecord* lock = locks_.find(op.guard_lock);
            return Outcome::error(
                ErrorCode::conflict,
                "fencing token " + std::to_string(op.guard_token) + " no longer holds lock '" +
                    op.guard_lock + "'" +
                    (lock == nullptr ? " (nobody holds it)" : describe_holders(*lock)) +
                    "; the write was not applied");
          }
          return kv_.put(op.key, op.value,
                         op.cas ? std::optional<uint64_t>(op.cas_revision) : std::nullopt);
        } else if constexpr (std::is_same_v<T, wire::DeleteCommand>) {
          return kv_.remove(op.key, op.prefix);
        } else if constexpr (std::is_same_v<T, wire::TxnCommand>) {
          return kv_.txn(op.txn);
        } else if constexpr (std::is_same_v<T, wire::GetCommand>) {
          return Outcome{ErrorCode::ok, "", get_response(op.key)};
        } else if constexpr (std::is_same_v<T, wire::SessionCreateCommand>) {
          return sessions_.create(op, index, time_ms_);
        } else if constexpr (std::is_same_v<T, wire::SessionDestroyCommand>) {
          if (sessions_.find(op.session) == nullptr) {
            return Outcome::error(ErrorCode::not_found,
                                  "session " + std::to_string(op.session) + " does not exist");
          }
          end_session(op.session, /*with_delay=*/false, index, applied);
          return Outcome{};
        } else if constexpr (std::is_same_v<T, wire::SessionRenewCommand>) {
          return sessions_.renew(op.session, time_ms_);
        } else if constexpr (std::is_same_v<T, wire::InvalidateNodeCommand>) {
          const std::vector<uint64_t> ending = sessions_.owned_by(op.node, op.boot_id);
          // Their waits end first, so that a slot freed by one of them is never granted to
          // another that ends in this same entry.
          for (uint64_t id : ending) end_waits(id, applied);
          for (uint64_t id : ending) end_session(id, /*with_delay=*/true, index, applied);
          return Outcome{};
        } else if constexpr (std::is_same_v<T, wire::LockAcquireCommand>) {
          return acquire(command, op, index, applied);
        } else if constexpr (std::is_same_v<T, wire::LockReleaseCommand>) {
          wire::SessionRecord* session = sessions_.find(op.session);
          if (session == nullptr) {
            return Outcome::error(ErrorCode::not_found,
                                  "session " + std::to_string(op.session) + " does not exist");
          }
          const size_t first = applied.grants.size();
          if (!locks_.release(op.name, op.session, op.token, index, time_ms_, tokens_,
                              applied.grants)) {
            return Outcome::error(
                ErrorCode::not_found,
                "session " + std::to_string(op.session) + " holds no slot of lock '" + op.name +
                    "'" +
                    (op.token != 0 ? " granted with token " + std::to_string(op.token) : ""));
          }
          session->held.erase(op.name);
          sessions_.touch(op.session);
          note_grants(applied, first);
          return Outcome{};
        } else if constexpr (std::is_same_v<T, wire::LockCancelCommand>) {
          CancelResult cancel = locks_.cancel(op.name, op.session);
          if (wire::SessionRecord* session = sessions_.find(op.session)) {
            session->waiting.erase(op.name);
            sessions_.touch(op.session);
          }
          if (cancel.was_waiting) {
            const Outcome stopped = Outcome::error(
                ErrorCode::timed_out, "stopped waiting for lock '" + op.name + "'");
            dedup_.update(cancel.waiter.client_id, cancel.waiter.sequence,
                          cached_answer(stopped, false));
            applied.deferred_answers.push_back(
                DeferredAnswer{cancel.waiter.client_id, cancel.waiter.sequence, stopped});
          }
          return Outcome{ErrorCode::ok, "", wire::LockCancelResponse{cancel.holds, cancel.token}};
        } else {
          static_assert(std::is_same_v<T, wire::TickCommand>);
          return Outcome{};  // time moved; the timers ran before the command
        }
      },
      command.op);
}

void StateMachine::stale_grant_check(const wire::Command& command, Outcome& outcome) const {
  // A grant remembered for a retried acquire is only true while the session still holds that
  // slot: its session may have ended since (its agent was cut off, seen failed, and the slot
  // went to someone else). Answering "granted" then would give the lock to two holders.
  const auto* acquire = std::get_if<wire::LockAcquireCommand>(&command.op);
  const auto* event = std::get_if<wire::LockEvent>(&outcome.body);
  if (acquire == nullptr || event == nullptr || outcome.code != ErrorCode::ok) return;
  if (const wire::LockRecord* lock = locks_.find(acquire->name)) {
    for (const wire::LockHolder& holder : lock->holders) {
      if (holder.session == acquire->session && holder.token == event->token) return;
    }
  }
  outcome = Outcome::error(ErrorCode::not_found,
                           "lock '" + acquire->name + "' was granted to session " +
                               std::to_string(acquire->session) + " (token " +
                               std::to_string(event->token) +
                               ") but is no longer held by it: the session ended or released it");
}

Outcome StateMachine::acquire(const wire::Command& command, const wire::LockAcquireCommand& op,
                              raft::Index index, Applied& applied) {
  wire::SessionRecord* session = sessions_.find(op.session);
  if (session == nullptr) {
    return Outcome::error(ErrorCode::not_found, "session " + std::to_string(op.session) +
                                                    " does not exist (it ended)");
  }
  if (session->held.count(op.name) == 0 && session->waiting.count(op.name) == 0 &&
      session->held.size() + session->waiting.size() >= kMaxLocksPerSession) {
    return Outcome::error(ErrorCode::too_large,
                          "session " + std::to_string(op.session) + " already holds or waits "
                          "for " + std::to_string(kMaxLocksPerSession) +
                              " locks (its limit); release some first");
  }
  const WaiterId waiter{op.session, command.client_id, command.sequence};
  AcquireResult result = locks_.acquire(op, waiter, index, time_ms_, tokens_, applied.grants);
  switch (result.kind) {
    case AcquireResult::Kind::granted:
      session->held.insert(op.name);
      sessions_.touch(op.session);
      return granted_outcome(op.name, op.session, result.token);
    case AcquireResult::Kind::waiting:
      session->waiting.insert(op.name);
      sessions_.touch(op.session);
      applied.waiting = true;
      if (result.superseded) {
        const Outcome replaced = Outcome::error(
            ErrorCode::invalid_argument,
            "a newer acquire of lock '" + op.name + "' by the same session replaced this one");
        dedup_.update(result.superseded->client_id, result.superseded->sequence,
                      cached_answer(replaced, false));
        applied.deferred_answers.push_back(
            DeferredAnswer{result.superseded->client_id, result.superseded->sequence, replaced});
      }
      return Outcome{};
    case AcquireResult::Kind::refused:
      break;
  }
  if (result.refusal.code == ErrorCode::conflict) {
    if (const wire::LockRecord* lock = locks_.find(op.name)) {
      result.refusal.message += describe_holders(*lock);
    }
  }
  return result.refusal;
}

void StateMachine::end_waits(uint64_t id, Applied& applied) {
  wire::SessionRecord* session = sessions_.find(id);
  // Its waits end unanswered by a grant: answer them now.
  for (const std::string& name : session->waiting) {
    CancelResult cancelled = locks_.cancel(name, id);
    if (!cancelled.was_waiting) continue;
    const Outcome ended = Outcome::error(
        ErrorCode::not_found,
        "session " + std::to_string(id) + " ended while waiting for lock '" + name + "'");
    dedup_.update(cancelled.waiter.client_id, cancelled.waiter.sequence,
                  cached_answer(ended, false));
    applied.deferred_answers.push_back(
        DeferredAnswer{cancelled.waiter.client_id, cancelled.waiter.sequence, ended});
  }
  session->waiting.clear();
  sessions_.touch(id);
}

void StateMachine::end_session(uint64_t id, bool with_delay, raft::Index index,
                               Applied& applied) {
  end_waits(id, applied);
  const wire::SessionRecord session = *sessions_.find(id);
  const size_t first = applied.grants.size();
  locks_.session_ended(session, with_delay && !faults_.ignore_lock_delay, index, time_ms_,
                       tokens_, applied.grants);
  sessions_.erase(id);
  applied.ended_sessions.push_back(id);
  note_grants(applied, first);
}

void StateMachine::advance_time(raft::Index index, Applied& applied) {
  for (uint64_t id : sessions_.expired(time_ms_)) {
    end_session(id, /*with_delay=*/true, index, applied);
  }
  const size_t first = applied.grants.size();
  locks_.advance_time(index, time_ms_, tokens_, applied.grants);
  note_grants(applied, first);
}

void StateMachine::note_grants(Applied& applied, size_t first) {
  for (size_t i = first; i < applied.grants.size(); ++i) {
    const LockGrant& grant = applied.grants[i];
    if (wire::SessionRecord* session = sessions_.find(grant.session)) {
      session->waiting.erase(grant.lock);
      session->held.insert(grant.lock);
      sessions_.touch(grant.session);
    }
    const Outcome granted = granted_outcome(grant.lock, grant.session, grant.token);
    dedup_.update(grant.client_id, grant.sequence, cached_answer(granted, false));
    applied.deferred_answers.push_back(DeferredAnswer{grant.client_id, grant.sequence, granted});
  }
}

std::string StateMachine::describe_holders(const wire::LockRecord& lock) const {
  // Bounded: an answer is kept in the dedup table until acknowledged.
  constexpr size_t kHoldersNamed = 8;
  std::string text;
  for (size_t i = 0; i < lock.holders.size() && i < kHoldersNamed; ++i) {
    const wire::LockHolder& holder = lock.holders[i];
    const wire::SessionRecord* session = sessions_.find(holder.session);
    text += (text.empty() ? " (held by " : ", ") + std::string("session ") +
            std::to_string(holder.session) +
            (session != nullptr ? " of node " + session->node : "") + ", token " +
            std::to_string(holder.token);
  }
  if (lock.holders.size() > kHoldersNamed) {
    text += ", and " + std::to_string(lock.holders.size() - kHoldersNamed) + " more";
  }
  return text.empty() ? text : text + ")";
}

store::StateChanges StateMachine::take_changes() {
  store::StateChanges changes;
  kv_.collect_changes(changes);
  sessions_.collect_changes(changes);
  locks_.collect_changes(changes);
  dedup_.collect_changes(changes);
  if (applied_since_take_) {
    changes.applied_index = applied_index_;
    changes.upserts.push_back(store::StateRow{
        static_cast<uint32_t>(RowSpace::meta), "",
        wire::encode_state_meta(
            wire::StateMeta{applied_index_, kv_.revision(), time_ms_, tokens_.last()})});
    applied_since_take_ = false;
  }
  return changes;
}

std::vector<store::StateRow> StateMachine::snapshot_rows() const {
  std::vector<store::StateRow> rows;
  rows.push_back(store::StateRow{
      static_cast<uint32_t>(RowSpace::meta), "",
      wire::encode_state_meta(
          wire::StateMeta{applied_index_, kv_.revision(), time_ms_, tokens_.last()})});
  kv_.collect_all(rows);
  sessions_.collect_all(rows);
  locks_.collect_all(rows);
  dedup_.collect_all(rows);
  return rows;
}

wire::KvGetResponse StateMachine::get_response(const std::string& key) const {
  wire::KvGetResponse response;
  if (auto entry = kv_.get(key)) {
    response.found = true;
    response.value = entry->value;
    response.create_revision = entry->create_revision;
    response.mod_revision = entry->mod_revision;
    response.version = entry->version;
  }
  return response;
}

std::optional<wire::KvEntry> StateMachine::get(const std::string& key) const {
  return kv_.get(key);
}

wire::SessionListResponse StateMachine::list_sessions() const {
  wire::SessionListResponse response;
  for (const auto& [id, session] : sessions_.all()) {
    if (response.sessions.size() >= wire::kMaxListedItems) break;
    wire::SessionInfo info;
    info.id = id;
    info.node = session.node;
    info.ttl_ms = session.ttl_ms;
    info.created_ms = session.created_ms;
    info.renewed_ms = session.renewed_ms;
    info.description = session.description;
    info.locks.assign(session.held.begin(), session.held.end());
    response.sessions.push_back(std::move(info));
  }
  return response;
}

wire::LockListResponse StateMachine::list_locks(const std::string& prefix) const {
  wire::LockListResponse response;
  for (auto it = locks_.all().lower_bound(prefix);
       it != locks_.all().end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (response.locks.size() >= wire::kMaxListedItems) break;
    const wire::LockRecord& lock = it->second;
    wire::LockInfo info;
    info.name = lock.name;
    info.limit = lock.limit;
    for (const wire::LockHolder& holder : lock.holders) {
      const wire::SessionRecord* session = sessions_.find(holder.session);
      info.holders.push_back(wire::LockHolderInfo{holder.session,
                                                  session ? session->node : "", holder.token,
                                                  holder.since_ms});
    }
    for (const wire::LockWaiter& waiter : lock.waiters) {
      const wire::SessionRecord* session = sessions_.find(waiter.session);
      info.waiters.push_back(
          wire::LockWaiterInfo{waiter.session, session ? session->node : "", waiter.since_ms});
    }
    for (int64_t until : lock.blocked_until) {
      info.blocked_until_ms = std::max(info.blocked_until_ms, until);
    }
    response.locks.push_back(std::move(info));
  }
  return response;
}

std::vector<uint64_t> StateMachine::sessions_of(const std::string& node, uint64_t boot_id) const {
  return sessions_.owned_by(node, boot_id);
}

std::vector<std::pair<std::string, uint64_t>> StateMachine::session_owners() const {
  std::set<std::pair<std::string, uint64_t>> owners;
  for (const auto& [id, session] : sessions_.all()) owners.emplace(session.node, session.boot_id);
  return {owners.begin(), owners.end()};
}

std::optional<int64_t> StateMachine::next_deadline_ms() const {
  std::optional<int64_t> sessions = sessions_.next_expiry_ms();
  std::optional<int64_t> locks = locks_.next_deadline_ms();
  if (!sessions) return locks;
  if (!locks) return sessions;
  return std::min(*sessions, *locks);
}

uint64_t StateMachine::state_hash() const {
  uint64_t hash = fnv1a64(std::to_string(applied_index_) + "/" + std::to_string(kv_.revision()) +
                          "/" + std::to_string(time_ms_) + "/" + std::to_string(tokens_.last()));
  kv_.hash_into(hash);
  sessions_.hash_into(hash);
  locks_.hash_into(hash);
  dedup_.hash_into(hash);
  return hash;
}

}  // namespace conclave::state
