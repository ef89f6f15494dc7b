#include "state_machine/lock_service.h"

#include <algorithm>

#include "common/hash.h"
#include "state_machine/rows.h"
#include "wire/codec.h"

namespace conclave::state {

size_t LockService::free_slots(const wire::LockRecord& lock) const {
  const size_t used = lock.holders.size() + lock.blocked_until.size();
  return used >= lock.limit ? 0 : lock.limit - used;
}

void LockService::grant_waiters(wire::LockRecord& lock, raft::Index index, int64_t now_ms,
                                FencingTokens& tokens, std::vector<LockGrant>& grants) {
  // FIFO: the first in line gets the first free slot; one waiter per free slot.
  while (free_slots(lock) > 0 && !lock.waiters.empty()) {
    const wire::LockWaiter waiter = lock.waiters.front();
    lock.waiters.erase(lock.waiters.begin());
    const uint64_t token = tokens.next(index);
    lock.holders.push_back(wire::LockHolder{waiter.session, token, now_ms, waiter.lock_delay_ms});
    grants.push_back(LockGrant{lock.name, waiter.session, token, waiter.client_id,
                               waiter.sequence});
    touch(lock.name);
  }
}

void LockService::forget_if_idle(const std::string& name) {
  auto found = locks_.find(name);
  if (found == locks_.end()) return;
  const wire::LockRecord& lock = found->second;
  if (lock.holders.empty() && lock.waiters.empty() && lock.blocked_until.empty()) {
    locks_.erase(found);
    touch(name);
  }
}

AcquireResult LockService::acquire(const wire::LockAcquireCommand& command,
                                   const WaiterId& waiter, raft::Index index, int64_t now_ms,
                                   FencingTokens& tokens, std::vector<LockGrant>& grants) {
  AcquireResult result;
  if (command.name.empty()) {
    result.refusal = Outcome::error(ErrorCode::invalid_argument, "a lock needs a name");
    return result;
  }
  if (command.limit < 1 || command.limit > kMaxLockLimit) {
    result.refusal = Outcome::error(ErrorCode::invalid_argument,
                                    "a lock has 1 to " + std::to_string(kMaxLockLimit) +
                                        " slots; asked for " + std::to_string(command.limit));
    return result;
  }
  if (command.lock_delay_ms > kMaxLockDelayMs) {
    result.refusal = Outcome::error(ErrorCode::invalid_argument,
                                    "a lock-delay is at most " + std::to_string(kMaxLockDelayMs) +
                                        " ms; asked for " + std::to_string(command.lock_delay_ms));
    return result;
  }
  auto found = locks_.find(command.name);
  if (found == locks_.end()) {
    if (locks_.size() >= kMaxLocks) {
      result.refusal = Outcome::error(ErrorCode::too_large,
                                      "the cluster holds its limit of " +
                                          std::to_string(kMaxLocks) + " locks in use");
      return result;
    }
    wire::LockRecord lock;
    lock.name = command.name;
    lock.limit = command.limit;
    found = locks_.emplace(command.name, std::move(lock)).first;
  }
  wire::LockRecord& lock = found->second;
  if (lock.limit != command.limit) {
    result.refusal = Outcome::error(
        ErrorCode::invalid_argument,
        "lock '" + lock.name + "' is in use with " + std::to_string(lock.limit) +
            (lock.limit == 1 ? " slot" : " slots") + "; asked for " +
            std::to_string(command.limit) + " (every holder must agree on -n)");
    return result;
  }
  for (const wire::LockHolder& holder : lock.holders) {
    if (holder.session == command.session) {  // already held: the same grant again
      result.kind = AcquireResult::Kind::granted;
      result.token = holder.token;
      return result;
    }
  }
  for (wire::LockWaiter& queued : lock.waiters) {
    if (queued.session != command.session) continue;
    if (!command.wait) {
      // Try once: the slot is not free (the session waits for it), and its place in line stays.
      result.refusal = Outcome::error(ErrorCode::conflict, "lock '" + lock.name + "' is held");
      return result;
    }
    // Already in line: the newer request is the one to answer; the older one ends here.
    if (queued.client_id != waiter.client_id || queued.sequence != waiter.sequence) {
      result.superseded = WaiterId{queued.session, queued.client_id, queued.sequence};
    }
    queued.client_id = waiter.client_id;
    queued.sequence = waiter.sequence;
    touch(lock.name);
    result.kind = AcquireResult::Kind::waiting;
    return result;
  }
  // Free slots go to those already waiting first (FIFO), so a newcomer never jumps the line.
  if (lock.waiters.empty() && free_slots(lock) > 0) {
    result.kind = AcquireResult::Kind::granted;
    result.token = tokens.next(index);
    lock.holders.push_back(
        wire::LockHolder{command.session, result.token, now_ms, command.lock_delay_ms});
    touch(lock.name);
    return result;
  }
  if (!command.wait) {
    result.refusal = Outcome::error(ErrorCode::conflict, "lock '" + lock.name + "' is held");
    forget_if_idle(command.name);
    return result;
  }
  if (lock.waiters.size() >= kMaxWaitersPerLock) {
    result.refusal = Outcome::error(ErrorCode::too_large,
                                    "lock '" + lock.name + "' already has " +
                                        std::to_string(kMaxWaitersPerLock) + " waiters");
    return result;
  }
  lock.waiters.push_back(wire::LockWaiter{command.session, now_ms, command.lock_delay_ms,
                                          waiter.client_id, waiter.sequence});
  touch(lock.name);
  result.kind = AcquireResult::Kind::waiting;
  (void)grants;
  return result;
}

bool LockService::release(const std::string& name, uint64_t session, uint64_t token,
                          raft::Index index, int64_t now_ms, FencingTokens& tokens,
                          std::vector<LockGrant>& grants) {
  auto found = locks_.find(name);
  if (found == locks_.end()) return false;
  wire::LockRecord& lock = found->second;
  auto holder = std::find_if(lock.holders.begin(), lock.holders.end(),
                             [&](const wire::LockHolder& h) { return h.session == session; });
  if (holder == lock.holders.end()) return false;
  if (token != 0 && holder->token != token) return false;
  lock.holders.erase(holder);
  touch(name);
  grant_waiters(lock, index, now_ms, tokens, grants);
  forget_if_idle(name);
  return true;
}

CancelResult LockService::cancel(const std::string& name, uint64_t session) {
  CancelResult result;
  auto found = locks_.find(name);
  if (found == locks_.end()) return result;
  wire::LockRecord& lock = found->second;
  for (const wire::LockHolder& holder : lock.holders) {
    if (holder.session == session) {
      result.holds = true;
      result.token = holder.token;
    }
  }
  auto waiter = std::find_if(lock.waiters.begin(), lock.waiters.end(),
                             [&](const wire::LockWaiter& w) { return w.session == session; });
  if (waiter != lock.waiters.end()) {
    result.waiter = WaiterId{waiter->session, waiter->client_id, waiter->sequence};
    lock.waiters.erase(waiter);
    result.was_waiting = true;
    touch(name);
    forget_if_idle(name);
  }
  return result;
}

void LockService::session_ended(const wire::SessionRecord& session, bool with_delay,
                                raft::Index index, int64_t now_ms, FencingTokens& tokens,
                                std::vector<LockGrant>& grants) {
  for (const std::string& name : session.waiting) {
    auto found = locks_.find(name);
    if (found == locks_.end()) continue;
    auto& waiters = found->second.waiters;
    waiters.erase(std::remove_if(waiters.begin(), waiters.end(),
                                 [&](const wire::LockWaiter& w) { return w.session == session.id; }),
                  waiters.end());
    touch(name);
  }
  for (const std::string& name : session.held) {
    auto found = locks_.find(name);
    if (found == locks_.end()) continue;
    wire::LockRecord& lock = found->second;
    auto holder = std::find_if(lock.holders.begin(), lock.holders.end(),
                               [&](const wire::LockHolder& h) { return h.session == session.id; });
    if (holder == lock.holders.end()) continue;
    if (with_delay && holder->lock_delay_ms > 0) {
      // Chubby's lock-delay: the holder may still be running, cut off; it was told "lost"
      // before this moment plus the delay (agent/local_sessions.h).
      const int64_t until = now_ms + holder->lock_delay_ms;
      lock.blocked_until.push_back(until);
      unblock_times_.emplace(until, name);
    }
    lock.holders.erase(holder);
    touch(name);
  }
  for (const std::string& name : session.waiting) {
    if (auto found = locks_.find(name); found != locks_.end()) {
      grant_waiters(found->second, index, now_ms, tokens, grants);
      forget_if_idle(name);
    }
  }
  for (const std::string& name : session.held) {
    if (auto found = locks_.find(name); found != locks_.end()) {
      grant_waiters(found->second, index, now_ms, tokens, grants);
      forget_if_idle(name);
    }
  }
}

void LockService::advance_time(raft::Index index, int64_t now_ms, FencingTokens& tokens,
                               std::vector<LockGrant>& grants) {
  while (!unblock_times_.empty() && unblock_times_.begin()->first <= now_ms) {
    const auto [until, name] = *unblock_times_.begin();
    unblock_times_.erase(unblock_times_.begin());
    auto found = locks_.find(name);
    if (found == locks_.end()) continue;
    auto& blocked = found->second.blocked_until;
    auto slot = std::find(blocked.begin(), blocked.end(), until);
    if (slot == blocked.end()) continue;
    blocked.erase(slot);
    touch(name);
    grant_waiters(found->second, index, now_ms, tokens, grants);
    forget_if_idle(name);
  }
}

std::optional<int64_t> LockService::next_deadline_ms() const {
  if (unblock_times_.empty()) return std::nullopt;
  return unblock_times_.begin()->first;
}

bool LockService::holds_token(const std::string& name, uint64_t token) const {
  auto found = locks_.find(name);
  if (found == locks_.end()) return false;
  for (const wire::LockHolder& holder : found->second.holders) {
    if (holder.token == token) return true;
  }
  return false;
}

const wire::LockRecord* LockService::find(const std::string& name) const {
  auto found = locks_.find(name);
  return found == locks_.end() ? nullptr : &found->second;
}

Status LockService::restore(const store::StateRow& row) {
  auto lock = wire::decode_lock_record(row.value);
  if (!lock.ok()) return lock.error();
  for (int64_t until : lock.value().blocked_until) unblock_times_.emplace(until, lock.value().name);
  locks_[lock.value().name] = std::move(lock).value();
  return Status();
}

void LockService::collect_changes(store::StateChanges& changes) {
  for (const std::string& name : dirty_) {
    auto found = locks_.find(name);
    if (found == locks_.end()) {
      changes.deletes.push_back(store::StateRowKey{static_cast<uint32_t>(RowSpace::locks), name});
    } else {
      changes.upserts.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::locks), name,
                                                wire::encode_lock_record(found->second)});
    }
  }
  dirty_.clear();
}

void LockService::collect_all(std::vector<store::StateRow>& rows) const {
  for (const auto& [name, value] : locks_) {
    rows.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::locks), name, wire::encode_lock_record(value)});
  }
}

void LockService::hash_into(uint64_t& hash) const {
  for (const auto& [name, lock] : locks_) hash = fnv1a64(wire::encode_lock_record(lock), hash);
}

}  // namespace conclave::state
