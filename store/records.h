// Plain records that store/ persists for the state machine. Header-only and free of SQLite so
// that the pure agent/node can produce them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace conclave::store {

struct KvRecord {
  std::string key;
  std::string value;
  uint64_t create_revision = 0;
  uint64_t mod_revision = 0;

  bool operator==(const KvRecord&) const = default;
};

// The state machine's effects since the last persisted batch. `upserts` are whole rows (the
// latest version of each key touched); applied_index and revision are the state machine's
// position after them.
struct StateChanges {
  std::vector<KvRecord> upserts;
  raft::Index applied_index = 0;
  uint64_t revision = 0;

  bool empty() const { return upserts.empty() && applied_index == 0 && revision == 0; }
};

// One durable batch: written in one SQLite transaction with one fsync. Order inside the
// transaction does not matter (it commits atomically); the caller sends messages only after
// persist() returns ok (the durability rule in raft/types.h).
struct Batch {
  std::optional<raft::HardState> hard_state;
  std::vector<raft::Entry> entries;  // replace stored entries with index >= entries.front()
  StateChanges state;                // state.applied_index == 0: no state change in this batch
  std::vector<std::string> voters;   // non-empty: the Raft voter set (node names) to record

  bool empty() const {
    return !hard_state && entries.empty() && state.empty() && voters.empty();
  }
};

// Everything a restarting agent needs, as it was after the last successful persist.
struct RecoveredState {
  raft::HardState hard_state;
  std::vector<raft::Entry> entries;  // contiguous from index 1
  std::vector<std::string> voters;   // empty: the cluster was never bootstrapped here
  raft::Index applied_index = 0;
  uint64_t revision = 0;
  std::vector<KvRecord> kv;          // sorted by key
};

}  // namespace conclave::store
