// StateMachine: the replicated state (key/value store, sessions, locks) and the one entry point
// that applies committed Raft entries to it.
//
// Pure and deterministic: its state depends only on the entries applied, in order. No clocks:
// time is the leader's stamp in each command, and the state machine's clock (time_ms) is the
// highest stamp applied so far, so it never goes back even when a new leader's clock is behind.
// No randomness, no I/O. Every server that applies the same log holds the same state (tested:
// same log, same state_hash, also across a restart from the persisted rows).
//
// Routing: apply() decodes a command, runs the timers that are due (TTL expiry, lock-delays
// ending), checks exactly-once (dedup_table.h) for client writes, and hands the command to the
// service that owns it (kv_service.h, session_service.h, lock_service.h), keeping sessions and
// locks in step. Persistence: take_changes() gives the rows changed since the last call, which
// store/ writes in the same transaction as the Raft batch that applied them.
//
// Not yet: kv delete, list, compare-and-set, transactions, watches (later services).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"
#include "state_machine/dedup_table.h"
#include "state_machine/kv_service.h"
#include "state_machine/lock_service.h"
#include "state_machine/outcome.h"
#include "state_machine/session_service.h"
#include "store/records.h"
#include "wire/client_messages.h"

namespace conclave::state {

// Fault sites, switched on only by the simulator (FoundationDB style) to show that its checkers
// catch what these mechanisms prevent. Never set in the binary.
struct StateMachineFaults {
  bool skip_dedup = false;         // apply a retried request again
  bool ignore_lock_delay = false;  // free a failed holder's slot at once
};

class StateMachine {
 public:
  StateMachine() = default;
  explicit StateMachine(StateMachineFaults faults) : faults_(faults) {}
  // Rebuilds the state from persisted rows (store/). An undecodable row is a storage error:
  // the caller must not run on a state it cannot read.
  Status restore(const std::vector<store::StateRow>& rows, raft::Index applied_index);

  // Applies the next committed entry. Precondition: entry.index == applied_index() + 1.
  Applied apply(const raft::Entry& entry);

  // The rows changed since the last call, and the applied index (0 when nothing was applied).
  store::StateChanges take_changes();

  // Every row of the state as of applied_index() (what restore() takes): a snapshot.
  std::vector<store::StateRow> snapshot_rows() const;

  // Reads (served after a ReadIndex confirmation, once applied far enough).
  std::optional<wire::KvEntry> get(const std::string& key) const;
  // The answer to a `kv get` of `key` from this state.
  wire::KvGetResponse get_response(const std::string& key) const;
  wire::SessionListResponse list_sessions() const;
  wire::LockListResponse list_locks(const std::string& prefix) const;
  wire::KvListResponse list_kv(const wire::KvListRequest& request) const {
    return kv_.list(request);
  }
  Result<wire::KvWatchResponse> watch_kv(const wire::KvWatchRequest& request) const {
    return kv_.watch(request);
  }
  // The ids of the sessions of `node` in boot `boot_id`.
  std::vector<uint64_t> sessions_of(const std::string& node, uint64_t boot_id) const;
  // Every (node, boot id) that owns a session, for the leader's invalidation checks.
  std::vector<std::pair<std::string, uint64_t>> session_owners() const;
  const wire::SessionRecord* session(uint64_t id) const { return sessions_.find(id); }
  const wire::LockRecord* lock(const std::string& name) const { return locks_.find(name); }

  raft::Index applied_index() const { return applied_index_; }
  uint64_t revision() const { return kv_.revision(); }
  int64_t time_ms() const { return time_ms_; }
  uint64_t last_fencing_token() const { return tokens_.last(); }
  size_t key_count() const { return kv_.key_count(); }
  // The earliest time (state machine clock) at which something is due: a TTL expiry or the end
  // of a lock-delay. The leader proposes a TickCommand when its clock reaches it.
  std::optional<int64_t> next_deadline_ms() const;

  uint64_t undecodable_entries() const { return undecodable_entries_; }
  uint64_t duplicate_commands() const { return duplicate_commands_; }

  // A hash of the whole state: equal states, equal hashes.
  uint64_t state_hash() const;

 private:
  Outcome execute(const wire::Command& command, raft::Index index, Applied& applied);
  Outcome acquire(const wire::Command& command, const wire::LockAcquireCommand& acquire,
                  raft::Index index, Applied& applied);
  void end_session(uint64_t id, bool with_delay, raft::Index index, Applied& applied);
  void end_waits(uint64_t id, Applied& applied);
  void stale_grant_check(const wire::Command& command, Outcome& outcome) const;
  void advance_time(raft::Index index, Applied& applied);
  void note_grants(Applied& applied, size_t first);
  std::string describe_holders(const wire::LockRecord& lock) const;

  StateMachineFaults faults_;
  KvService kv_;
  SessionService sessions_;
  LockService locks_;
  DedupTable dedup_;
  FencingTokens tokens_;
  raft::Index applied_index_ = 0;
  int64_t time_ms_ = 0;
  bool applied_since_take_ = false;
  uint64_t undecodable_entries_ = 0;
  uint64_t duplicate_commands_ = 0;
};

// The answer a client gets for `outcome`, encoded for the dedup table.
wire::CachedAnswer cached_answer(const Outcome& outcome, bool waiting);
Outcome outcome_of(const wire::CachedAnswer& answer);

}  // namespace conclave::state
