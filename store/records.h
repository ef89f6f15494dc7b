// Plain records that store/ persists. Header-only and free of SQLite so that the pure
// agent/node can produce them and the simulator's MemoryStore can hold them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace conclave::store {

// One row of the replicated state machine: `space` says which service owns it
// (state_machine/rows.h), `key` and `value` are that service's encoding. store/ never looks
// inside; a snapshot is a consistent copy of these rows.
struct StateRow {
  uint32_t space = 0;
  std::string key;
  std::string value;

  bool operator==(const StateRow&) const = default;
};

struct StateRowKey {
  uint32_t space = 0;
  std::string key;

  bool operator==(const StateRowKey&) const = default;
};

// One server of a Raft group: its server id (the Raft id, created with its data folder) and the
// node name it had then (for people and logs; messages are routed by server id).
struct ServerRecord {
  raft::NodeId server_id = raft::kNoNode;
  std::string name;

  bool operator==(const ServerRecord&) const = default;
};

// A gossip member this agent knew alive, remembered so that a restart can rejoin through it
// without -join (like Serf's snapshot). Not replicated: each agent keeps its own.
struct KnownMember {
  std::string name;
  std::string address;  // its gossip address, host:port

  bool operator==(const KnownMember&) const = default;
};

// Who this data folder belongs to, written once when the folder is new. A server's identity is
// its data: the same name with a wiped folder is a new server (a new server id) that the
// cluster has never heard from, so it can never vote on the strength of a lost log.
struct Identity {
  std::string node_name;
  raft::NodeId server_id = raft::kNoNode;  // random, never 0
  uint64_t cluster_id = 0;                 // 0 until the node is part of a bootstrapped cluster

  bool operator==(const Identity&) const = default;
};

// The one bootstrap promise a server ever makes (agent/bootstrap.h): "I start a new cluster
// only with exactly these servers". Persisted before it is announced, never changed.
struct BootstrapPromise {
  int expect = 0;
  std::vector<ServerRecord> servers;  // sorted by server id

  bool operator==(const BootstrapPromise&) const = default;
};

// The state machine's effects since the last persisted batch: whole rows written (the latest
// version of each row touched) and rows deleted, and the applied index after them.
struct StateChanges {
  std::vector<StateRow> upserts;
  std::vector<StateRowKey> deletes;
  raft::Index applied_index = 0;  // 0: nothing applied since the last batch

  bool empty() const { return upserts.empty() && deletes.empty() && applied_index == 0; }
};

// A snapshot received from the leader (raft::Ready::snapshot): it replaces the whole log (no
// entry up to start.index is kept) and the whole replicated state (rows at start.index).
struct InstalledSnapshot {
  raft::LogStart start;
  std::vector<StateRow> rows;

  bool operator==(const InstalledSnapshot&) const = default;
};

// One durable batch: written in one SQLite transaction with one fsync. Order inside the
// transaction does not matter (it commits atomically); the caller sends messages only after
// persist() returns ok (the durability rule in raft/types.h).
struct Batch {
  // Applied first: a snapshot install, then a compaction (entries up to log_start.index are
  // dropped; their effect is in the state rows), then everything else.
  std::optional<InstalledSnapshot> snapshot;
  std::optional<raft::LogStart> log_start;
  std::optional<Identity> identity;          // set: replace the identity row
  std::optional<BootstrapPromise> promise;   // set: record the bootstrap promise
  std::optional<raft::HardState> hard_state;
  std::vector<raft::Entry> entries;  // replace stored entries with index >= entries.front()
  StateChanges state;                // state.applied_index == 0: no state change in this batch
  std::vector<ServerRecord> voters;  // non-empty: the Raft voter set to record
  std::optional<std::vector<KnownMember>> known_members;  // set: replace the remembered ones

  bool empty() const {
    return !identity && !promise && !hard_state && entries.empty() && state.empty() &&
           voters.empty() && !snapshot && !log_start && !known_members;
  }
};

// Everything a restarting agent needs, as it was after the last successful persist.
struct RecoveredState {
  std::optional<Identity> identity;  // absent: a new data folder
  std::optional<BootstrapPromise> promise;
  raft::HardState hard_state;
  raft::LogStart log_start;          // entries up to log_start.index were compacted away
  std::vector<raft::Entry> entries;  // contiguous from log_start.index + 1
  std::vector<ServerRecord> voters;  // empty: the cluster was never bootstrapped here
  raft::Index applied_index = 0;
  std::vector<StateRow> state_rows;  // sorted by (space, key)
  std::vector<KnownMember> known_members;  // sorted by address
  uint64_t persisted_batches = 0;    // batches ever persisted (store/rollback.h)
  // Non-empty when the store finds itself older than it once was (store/rollback.h): the
  // server must not vote or acknowledge on this state. Says what was found and the fix.
  std::string damage;
};

}  // namespace conclave::store
