// StateMachine: the replicated KV store, applied from committed Raft entries.
//
// Deterministic: its state depends only on the entries applied, in order (no clocks, no
// randomness, no I/O), so every server that applies the same log holds the same state. It lives
// in memory; store/ persists the changes it reports (take_changes) in the same transaction as
// the Raft batch, so a restart resumes from the last persisted applied_index.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <utility>
#include <optional>
#include <string>

#include "raft/types.h"
#include "store/records.h"
#include "wire/client_messages.h"
#include "wire/command.h"

namespace conclave::agent {

// Limits checked at apply time (deterministically, so every server refuses the same puts).
constexpr size_t kMaxKeys = 1'000'000;
constexpr size_t kMaxTotalKvBytes = 256ull * 1024 * 1024;
// A command whose (origin_node, request_id) already appeared in this many preceding log entries
// is a duplicate (a proposal delivered twice) and is skipped. The window is defined by log
// indexes, so every server skips the same entries, and it is rebuilt from the log at restart.
constexpr raft::Index kDuplicateWindowEntries = 10'000;

// The outcome of applying one entry.
struct Applied {
  // The decoded command (absent for the leader's no-op or an undecodable entry).
  std::optional<wire::Command> command;
  bool duplicate = false;  // the same command was applied within the window: no effect
  ErrorCode error_code = ErrorCode::ok;
  std::string error_message;
  wire::ClientResponseBody result;  // KvGetResponse or KvPutResponse when error_code == ok
};

class StateMachine {
 public:
  // Starts from a recovered state (or an empty one). The duplicate window is rebuilt from the
  // recovered log entries up to recovered.applied_index.
  explicit StateMachine(const store::RecoveredState& recovered);

  // Applies the next committed entry. Precondition: entry.index == applied_index() + 1.
  Applied apply(const raft::Entry& entry);

  // The changes since the last call (one upsert per key touched, its latest row), with the
  // current position. Empty (applied_index == 0) when nothing was applied since.
  store::StateChanges take_changes();

  std::optional<store::KvRecord> get(const std::string& key) const;
  raft::Index applied_index() const { return applied_index_; }
  uint64_t revision() const { return revision_; }
  size_t key_count() const { return kv_.size(); }
  uint64_t undecodable_entries() const { return undecodable_entries_; }
  uint64_t duplicate_entries() const { return duplicate_entries_; }

  // A hash of the whole state (kv rows, revision, applied index): equal states, equal hashes.
  uint64_t state_hash() const;

 private:
  std::map<std::string, store::KvRecord> kv_;
  size_t total_bytes_ = 0;
  uint64_t revision_ = 0;
  raft::Index applied_index_ = 0;
  std::map<std::string, bool> touched_keys_;  // keys changed since take_changes()
  bool applied_since_take_ = false;
  uint64_t undecodable_entries_ = 0;
  uint64_t duplicate_entries_ = 0;

  // Records the command applied at `index`; true when it was seen within the window already.
  bool seen_recently(raft::Index index, const wire::Command& command);
  using CommandId = std::pair<uint64_t, uint64_t>;  // (origin_node, request_id)
  std::deque<std::pair<raft::Index, CommandId>> recent_commands_;
  std::set<CommandId> recent_command_ids_;
};

// FNV-1a 64: a stable, dependency-free hash for node ids and state hashes.
uint64_t fnv1a64(const std::string& bytes, uint64_t seed = 0xcbf29ce484222325ULL);

}  // namespace conclave::agent
