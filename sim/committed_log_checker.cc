#include "sim/committed_log_checker.h"

#include <algorithm>
#include <type_traits>

#include "wire/codec.h"

namespace conclave::sim {

void CommittedLogChecker::check_lock(const std::string& name,
                                     std::vector<std::string>& violations) const {
  const wire::LockRecord* lock = machine_.lock(name);
  if (lock == nullptr) return;
  const std::string at = " at index " + std::to_string(machine_.applied_index());
  if (lock->holders.size() > lock->limit) {
    violations.push_back("lock '" + name + "' has " + std::to_string(lock->holders.size()) +
                         " holders for " + std::to_string(lock->limit) + " slots" + at);
  }
  std::set<uint64_t> sessions;
  for (const wire::LockHolder& holder : lock->holders) {
    if (!sessions.insert(holder.session).second) {
      violations.push_back("session " + std::to_string(holder.session) +
                           " holds two slots of lock '" + name + "'" + at);
    }
    if (machine_.session(holder.session) == nullptr) {
      violations.push_back("lock '" + name + "' is held by session " +
                           std::to_string(holder.session) + ", which has ended" + at);
    }
  }
}

std::vector<std::string> CommittedLogChecker::on_committed(const raft::Entry& entry) {
  std::vector<std::string> violations;
  // Whether an acquire's session held the lock already (then a grant answer repeats the token
  // it holds rather than making a new grant).
  bool already_held = false;
  if (!entry.data.empty()) {
    if (auto peek = wire::decode_command(entry.data); peek.ok()) {
      if (const auto* acquire = std::get_if<wire::LockAcquireCommand>(&peek.value().op)) {
        if (const wire::LockRecord* lock = machine_.lock(acquire->name)) {
          for (const wire::LockHolder& holder : lock->holders) {
            already_held |= holder.session == acquire->session;
          }
        }
      }
    }
  }
  state::Applied applied = machine_.apply(entry);
  if (!applied.command) return violations;
  const wire::Command& command = *applied.command;
  std::set<std::string> touched;

  // Exactly-once: a client write takes effect at most once.
  if (command.client_id != 0 && !applied.duplicate) {
    if (!applied_writes_.emplace(command.client_id, command.sequence).second) {
      violations.push_back("client " + std::to_string(command.client_id) + " request " +
                           std::to_string(command.sequence) + " took effect twice (index " +
                           std::to_string(entry.index) + ")");
    }
  }
  if (applied.duplicate) ++duplicates_;

  // The queue as the state machine forms it: an acquire that waits joins the end; a cancel or
  // an ended session leaves it.
  std::visit(
      [&](const auto& op) {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, wire::LockAcquireCommand>) {
          touched.insert(op.name);
          auto& queue = queued_[op.name];
          if (applied.waiting && !applied.duplicate &&
              std::find(queue.begin(), queue.end(), op.session) == queue.end()) {
            queue.push_back(op.session);
          }
        } else if constexpr (std::is_same_v<T, wire::LockCancelCommand>) {
          touched.insert(op.name);
          auto& queue = queued_[op.name];
          queue.erase(std::remove(queue.begin(), queue.end(), op.session), queue.end());
        } else if constexpr (std::is_same_v<T, wire::LockReleaseCommand>) {
          touched.insert(op.name);
        }
      },
      command.op);
  for (uint64_t session : applied.ended_sessions) {
    for (auto& [name, queue] : queued_) {
      queue.erase(std::remove(queue.begin(), queue.end(), session), queue.end());
      touched.insert(name);
    }
  }

  for (const state::LockGrant& grant : applied.grants) {
    ++grants_;
    touched.insert(grant.lock);
    uint64_t& last = last_token_[grant.lock];
    if (grant.token <= last) {
      violations.push_back("lock '" + grant.lock + "' granted token " +
                           std::to_string(grant.token) + " after token " + std::to_string(last) +
                           " (index " + std::to_string(entry.index) + ")");
    }
    last = std::max(last, grant.token);
    auto& queue = queued_[grant.lock];
    auto position = std::find(queue.begin(), queue.end(), grant.session);
    if (position != queue.end()) {
      ++fifo_checked_;
      if (position != queue.begin()) {
        violations.push_back("lock '" + grant.lock + "' granted session " +
                             std::to_string(grant.session) + " before session " +
                             std::to_string(queue.front()) + ", queued earlier (index " +
                             std::to_string(entry.index) + ")");
      }
      queue.erase(position);
    }
  }
  // Grants made by the acquire itself (no wait) also move the token on.
  if (const auto* acquire = std::get_if<wire::LockAcquireCommand>(&command.op);
      acquire && !applied.duplicate && !already_held && applied.outcome.code == ErrorCode::ok) {
    if (const auto* event = std::get_if<wire::LockEvent>(&applied.outcome.body)) {
      ++grants_;
      uint64_t& last = last_token_[acquire->name];
      if (event->token <= last) {
        violations.push_back("lock '" + acquire->name + "' granted token " +
                             std::to_string(event->token) + " after token " +
                             std::to_string(last) + " (index " + std::to_string(entry.index) +
                             ")");
      }
      last = std::max(last, event->token);
    }
  }
  for (const std::string& name : touched) check_lock(name, violations);
  return violations;
}

}  // namespace conclave::sim
