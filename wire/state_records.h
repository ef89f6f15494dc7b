// The replicated state machine's records as plain structs (state_machine/): what store/ keeps
// as rows, and what a snapshot carries. Encoded with FlatBuffers (wire/state.fbs): persisted,
// so the format is append-only like every other.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace conclave::wire {

// The state machine's position and clocks (one row).
struct StateMeta {
  uint64_t applied_index = 0;
  uint64_t kv_revision = 0;
  int64_t time_ms = 0;          // the latest leader stamp applied (never goes back)
  uint64_t last_fencing_token = 0;
  bool operator==(const StateMeta&) const = default;
};

struct KvEntry {
  std::string key;
  std::string value;
  uint64_t create_revision = 0;
  uint64_t mod_revision = 0;
  uint64_t version = 0;         // puts since creation
  bool operator==(const KvEntry&) const = default;
};

struct SessionRecord {
  uint64_t id = 0;              // the Raft index of its creation
  std::string node;
  uint64_t boot_id = 0;
  uint64_t ttl_ms = 0;          // 0: no TTL
  int64_t created_ms = 0;
  int64_t renewed_ms = 0;
  std::string description;
  std::set<std::string> held;     // locks it holds a slot of
  std::set<std::string> waiting;  // locks it waits for
  bool operator==(const SessionRecord&) const = default;
};

struct LockHolder {
  uint64_t session = 0;
  uint64_t token = 0;
  int64_t since_ms = 0;
  uint32_t lock_delay_ms = 0;
  bool operator==(const LockHolder&) const = default;
};

struct LockWaiter {
  uint64_t session = 0;
  int64_t since_ms = 0;
  uint32_t lock_delay_ms = 0;
  uint64_t client_id = 0;       // the acquire request waiting to be answered
  uint64_t sequence = 0;
  bool operator==(const LockWaiter&) const = default;
};

struct LockRecord {
  std::string name;
  uint32_t limit = 1;
  std::vector<LockHolder> holders;     // in grant order
  std::vector<LockWaiter> waiters;     // FIFO
  std::vector<int64_t> blocked_until;  // slots held back by lock-delay, until these times
  bool operator==(const LockRecord&) const = default;
};

// The answer to one request, kept to answer a retry of it the same way.
struct CachedAnswer {
  ErrorCode code = ErrorCode::ok;
  std::string message;
  std::string body;             // an encoded ClientResponse carrying the body (may be empty)
  bool waiting = false;         // a lock acquire still queued (no answer yet)
  bool operator==(const CachedAnswer&) const = default;
};

struct DedupClient {
  uint64_t client_id = 0;
  int64_t last_active_ms = 0;
  uint64_t floor = 0;           // sequences below it were answered: forgotten
  std::map<uint64_t, CachedAnswer> answers;
  bool operator==(const DedupClient&) const = default;
};

}  // namespace conclave::wire
