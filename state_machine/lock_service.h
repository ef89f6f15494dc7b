// LockService: named locks with a FIFO queue of waiters. A lock has `limit` slots (1: a
// mutex; N: a semaphore). Every grant carries a fencing token that strictly increases across
// all locks, leaders and restarts (FencingTokens: at least the Raft index of the grant).
//
// When a slot frees (a release, a session's end, the end of a lock-delay) the first waiter in
// line gets it: one waiter woken per freed slot, never a herd, never out of order. When a
// holder's session ends because its agent failed (or a TTL expired), its slot stays blocked
// for the holder's lock-delay, so that a holder that is merely cut off has stopped (it was told
// "lost" in time, agent/local_sessions.h) before anyone else is granted the slot.
//
// Sessions are the caller's (state_machine.h keeps session records in step with the grants
// returned here).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/types.h"
#include "state_machine/outcome.h"
#include "store/records.h"
#include "wire/command.h"
#include "wire/state_records.h"

namespace conclave::state {

constexpr size_t kMaxLocks = 100000;
constexpr uint32_t kMaxLockLimit = 1000;
constexpr size_t kMaxWaitersPerLock = 10000;
// Locks one session holds or waits for (its record lists them; wire::kMaxListedItems bounds a
// decodable list).
constexpr size_t kMaxLocksPerSession = 1000;
constexpr uint32_t kMaxLockDelayMs = 60000;

// Fencing tokens: strictly increasing for every grant, and at least the Raft index of the
// entry that granted it.
class FencingTokens {
 public:
  uint64_t next(raft::Index index) {
    last_ = std::max<uint64_t>(index, last_ + 1);
    return last_;
  }
  uint64_t last() const { return last_; }
  void set_last(uint64_t last) { last_ = last; }

 private:
  uint64_t last_ = 0;
};

// Who is waiting: the session, and the acquire request to answer when it is granted.
struct WaiterId {
  uint64_t session = 0;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
};

struct AcquireResult {
  enum class Kind : uint8_t { granted, waiting, refused };
  Kind kind = Kind::refused;
  uint64_t token = 0;  // granted
  Outcome refusal;     // refused: why (conflict when held and not waiting, or bad arguments)
  // waiting: the session was already in line under an older request, which this one replaces
  // (that older request gets its final answer now).
  std::optional<WaiterId> superseded;
};

struct CancelResult {
  bool was_waiting = false;
  WaiterId waiter;      // was_waiting: the acquire request that was waiting
  bool holds = false;   // the session holds a slot (the wait had ended in a grant)
  uint64_t token = 0;
};

class LockService {
 public:
  AcquireResult acquire(const wire::LockAcquireCommand& command, const WaiterId& waiter,
                        raft::Index index, int64_t now_ms, FencingTokens& tokens,
                        std::vector<LockGrant>& grants);
  // Releases the session's slot and gives freed slots to waiters in order. False when the
  // session held no slot of it, or `token` is not 0 and its slot was granted with another
  // token (a release meant for an earlier hold of the same session, applied late).
  bool release(const std::string& name, uint64_t session, uint64_t token, raft::Index index,
               int64_t now_ms, FencingTokens& tokens, std::vector<LockGrant>& grants);
  CancelResult cancel(const std::string& name, uint64_t session);
  // The session ended: its slots are freed (blocked for their lock-delay when `with_delay`)
  // and its waits dropped.
  void session_ended(const wire::SessionRecord& session, bool with_delay, raft::Index index,
                     int64_t now_ms, FencingTokens& tokens, std::vector<LockGrant>& grants);
  // Lock-delays that ended by now_ms free their slots for waiters.
  void advance_time(raft::Index index, int64_t now_ms, FencingTokens& tokens,
                    std::vector<LockGrant>& grants);
  std::optional<int64_t> next_deadline_ms() const;

  // Fenced writes: is `token` the token of a current holder of `name`?
  bool holds_token(const std::string& name, uint64_t token) const;
  const wire::LockRecord* find(const std::string& name) const;
  const std::map<std::string, wire::LockRecord>& all() const { return locks_; }

  Status restore(const store::StateRow& row);
  void collect_changes(store::StateChanges& changes);
  // Every row, for a snapshot (raft/DESIGN.md "Snapshots").
  void collect_all(std::vector<store::StateRow>& rows) const;
  void hash_into(uint64_t& hash) const;

 private:
  size_t free_slots(const wire::LockRecord& lock) const;
  void grant_waiters(wire::LockRecord& lock, raft::Index index, int64_t now_ms,
                     FencingTokens& tokens, std::vector<LockGrant>& grants);
  void forget_if_idle(const std::string& name);
  void touch(const std::string& name) { dirty_.insert(name); }

  std::map<std::string, wire::LockRecord> locks_;
  // Lock-delays in force (a multiset: two slots of one lock may unblock at the same time).
  std::multiset<std::pair<int64_t, std::string>> unblock_times_;
  std::set<std::string> dirty_;
};

}  // namespace conclave::state
