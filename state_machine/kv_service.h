// KvService: the replicated key/value store. Every change gets the next revision (one counter
// for the whole store, like etcd's); each key keeps its create and mod revisions and version.
//
// Limits, checked at apply time so that every server refuses the same writes: kMaxKeys keys
// and kMaxTotalKvBytes of keys and values in all (key and value sizes are checked by wire/ and
// by the agent before proposing).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "state_machine/kv_history.h"
#include "state_machine/outcome.h"
#include "store/records.h"
#include "wire/client_messages.h"
#include "wire/state_records.h"

namespace conclave::state {

constexpr size_t kMaxKeys = 1'000'000;
constexpr size_t kMaxTotalKvBytes = 256ull * 1024 * 1024;
// Keys one delete may remove (a prefix delete beyond it is refused: delete narrower prefixes),
// so that one log entry's effect, and its batch to SQLite, stay bounded.
constexpr size_t kMaxKeysPerDelete = 100'000;

class KvService {
 public:
  // Writes key = value; answers KvPutResponse{revision}. The caller has checked any fencing
  // guard. With `cas_revision`, only if the key's mod revision is that (0: only if the key
  // does not exist); otherwise ErrorCode::conflict naming the current mod revision, and
  // nothing changes (not even the revision).
  Outcome put(const std::string& key, const std::string& value,
              std::optional<uint64_t> cas_revision = std::nullopt);
  // A transaction (wire::KvTxnRequest): the comparisons decide the branch; its operations run
  // in order (a get sees the puts before it), all at one new revision if any writes, or not
  // at all if one fails (a limit, a key written twice): answers KvTxnResponse.
  Outcome txn(const wire::KvTxnRequest& txn);
  // Deletes `key`, or with `prefix` every key starting with it; answers
  // KvDeleteResponse{revision, deleted}. One revision for the whole delete; none when nothing
  // matched.
  Outcome remove(const std::string& key, bool prefix);
  std::optional<wire::KvEntry> get(const std::string& key) const;
  // One page of the keys starting with request.prefix, after request.after, in key order
  // (wire::KvListRequest has the limits).
  wire::KvListResponse list(const wire::KvListRequest& request) const;

  uint64_t revision() const { return revision_; }
  // On restore: the store is at `revision`, and its change history starts after it.
  void set_revision(uint64_t revision) {
    revision_ = revision;
    history_.reset(revision);
  }
  // The changes since a revision, for a watch (state_machine/kv_history.h).
  Result<wire::KvWatchResponse> watch(const wire::KvWatchRequest& request) const {
    return history_.since(request, revision_);
  }
  size_t key_count() const { return entries_.size(); }

  Status restore(const store::StateRow& row);
  void collect_changes(store::StateChanges& changes);
  // Every row, for a snapshot (raft/DESIGN.md "Snapshots").
  void collect_all(std::vector<store::StateRow>& rows) const;
  void hash_into(uint64_t& hash) const;

 private:
  bool holds(const wire::TxnCompare& compare) const;
  // Keys a delete of `key` (with `prefix`) removes, or an error past kMaxKeysPerDelete.
  Result<std::vector<std::string>> keys_to_delete(const std::string& key, bool prefix) const;
  // Sets or removes one key (std::nullopt), keeping total_bytes_ and dirty_ in step.
  void set_entry(const std::string& key, std::optional<wire::KvEntry> entry);

  KvHistory history_;
  std::map<std::string, wire::KvEntry> entries_;
  size_t total_bytes_ = 0;
  uint64_t revision_ = 0;
  std::set<std::string> dirty_;
};

}  // namespace conclave::state
