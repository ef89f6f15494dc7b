#include "store/memory_store.h"

#include <algorithm>

#include "common/check.h"

namespace conclave::store {

void MemoryStore::persist(const Batch& batch) {
  if (batch.empty()) return;
  if (batch.identity) state_.identity = *batch.identity;
  if (batch.promise) state_.promise = *batch.promise;
  if (batch.hard_state) state_.hard_state = *batch.hard_state;
  if (!batch.entries.empty()) {
    const raft::Index first = batch.entries.front().index;
    CONCLAVE_CHECK(first >= 1 && first <= state_.entries.size() + 1,
                   "a batch may not leave a gap in the log");
    state_.entries.resize(first - 1);
    state_.entries.insert(state_.entries.end(), batch.entries.begin(), batch.entries.end());
  }
  if (!batch.voters.empty()) {
    state_.voters = batch.voters;
    std::sort(state_.voters.begin(), state_.voters.end(),
              [](const ServerRecord& a, const ServerRecord& b) { return a.server_id < b.server_id; });
  }
  if (batch.state.applied_index != 0) {
    for (const KvRecord& record : batch.state.upserts) {
      auto position = std::lower_bound(
          state_.kv.begin(), state_.kv.end(), record.key,
          [](const KvRecord& existing, const std::string& key) { return existing.key < key; });
      if (position != state_.kv.end() && position->key == record.key) {
        *position = record;
      } else {
        state_.kv.insert(position, record);
      }
    }
    state_.applied_index = batch.state.applied_index;
    state_.revision = batch.state.revision;
  }
  state_.persisted_batches += 1;
  watermark_ = Watermark{state_.persisted_batches, state_.hard_state.term,
                         state_.hard_state.commit};
}

RecoveredState MemoryStore::load() const {
  RecoveredState loaded = state_;
  loaded.damage = describe_rollback(watermark_, loaded);
  return loaded;
}

}  // namespace conclave::store
