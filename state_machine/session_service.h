// SessionService: the sessions of the agents' clients. A session belongs to one agent (its
// node name and boot id); it is created for a client connection that needs one (to hold a
// lock), and ends in one of three ways (state_machine.h coordinates the ends with the locks):
//   - its owner releases it (explicit release, or its client connection closed): no lock-delay;
//   - the leader sees its agent fail, leave or restart (InvalidateNodeCommand), or a TTL
//     session is not renewed in time: its lock slots stay blocked for their lock-delay;
// A server or the leader dying ends nobody's session.
//
// A session's id is the Raft index of the entry that created it: unique, and never reused.
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

constexpr size_t kMaxSessions = 65536;
constexpr size_t kMaxSessionsPerNode = 4096;
constexpr uint64_t kMinSessionTtlMs = 1000;
constexpr uint64_t kMaxSessionTtlMs = 24ULL * 3600 * 1000;

class SessionService {
 public:
  // Answers SessionCreateResponse{id = index}.
  Outcome create(const wire::SessionCreateCommand& command, raft::Index index, int64_t now_ms);
  Outcome renew(uint64_t id, int64_t now_ms);

  wire::SessionRecord* find(uint64_t id);
  const wire::SessionRecord* find(uint64_t id) const;
  // Removes a session (the caller has released what it held). Precondition: it exists.
  void erase(uint64_t id);
  // Marks a session changed (its held or waiting locks), to be persisted.
  void touch(uint64_t id) { dirty_.insert(id); }

  // Sessions of `node` in boot `boot_id` (0: every boot).
  std::vector<uint64_t> owned_by(const std::string& node, uint64_t boot_id) const;
  // TTL sessions whose renewed + ttl is at or before now_ms, oldest deadline first.
  std::vector<uint64_t> expired(int64_t now_ms) const;
  std::optional<int64_t> next_expiry_ms() const;
  const std::map<uint64_t, wire::SessionRecord>& all() const { return sessions_; }

  Status restore(const store::StateRow& row);
  void collect_changes(store::StateChanges& changes);
  // Every row, for a snapshot (raft/DESIGN.md "Snapshots").
  void collect_all(std::vector<store::StateRow>& rows) const;
  void hash_into(uint64_t& hash) const;

 private:
  void set_expiry(const wire::SessionRecord& session);
  void clear_expiry(const wire::SessionRecord& session);

  std::map<uint64_t, wire::SessionRecord> sessions_;
  std::map<std::string, size_t> per_node_;
  std::set<std::pair<int64_t, uint64_t>> expiries_;  // (renewed + ttl, id) of TTL sessions
  std::set<uint64_t> dirty_;
};

}  // namespace conclave::state
