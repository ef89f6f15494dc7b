#include "store/memory_store.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/check.h"

namespace conclave::store {

void MemoryStore::persist(const Batch& batch) {
  if (batch.empty()) return;
  if (batch.snapshot) {
    state_.log_start = batch.snapshot->start;
    state_.entries.clear();
    state_.state_rows = batch.snapshot->rows;
    std::sort(state_.state_rows.begin(), state_.state_rows.end(),
              [](const StateRow& a, const StateRow& b) {
                return std::tie(a.space, a.key) < std::tie(b.space, b.key);
              });
    state_.applied_index = batch.snapshot->start.index;
  }
  if (batch.log_start && batch.log_start->index > state_.log_start.index) {
    const raft::Index drop = std::min<raft::Index>(batch.log_start->index - state_.log_start.index,
                                                   state_.entries.size());
    state_.entries.erase(state_.entries.begin(),
                         state_.entries.begin() + static_cast<std::ptrdiff_t>(drop));
    state_.log_start = *batch.log_start;
  }
  if (batch.identity) state_.identity = *batch.identity;
  if (batch.promise) state_.promise = *batch.promise;
  if (batch.hard_state) state_.hard_state = *batch.hard_state;
  if (!batch.entries.empty()) {
    const raft::Index first = batch.entries.front().index;
    const raft::Index start = state_.log_start.index;
    CONCLAVE_CHECK(first > start && first <= start + state_.entries.size() + 1,
                   "a batch may not leave a gap in the log");
    state_.entries.resize(first - start - 1);
    state_.entries.insert(state_.entries.end(), batch.entries.begin(), batch.entries.end());
  }
  if (batch.known_members) {
    std::map<std::string, KnownMember> by_address;  // as the table's primary key keeps them
    for (const KnownMember& member : *batch.known_members) by_address[member.address] = member;
    state_.known_members.clear();
    for (auto& [address, member] : by_address) state_.known_members.push_back(member);
  }
  if (!batch.voters.empty()) {
    state_.voters = batch.voters;
    std::sort(state_.voters.begin(), state_.voters.end(),
              [](const ServerRecord& a, const ServerRecord& b) { return a.server_id < b.server_id; });
  }
  auto row_before = [](const StateRow& row, const std::pair<uint32_t, std::string>& key) {
    return std::tie(row.space, row.key) < std::tie(key.first, key.second);
  };
  std::vector<StateRow>& rows = state_.state_rows;
  for (const StateRowKey& removed : batch.state.deletes) {
    auto position = std::lower_bound(rows.begin(), rows.end(),
                                     std::make_pair(removed.space, removed.key), row_before);
    if (position != rows.end() && position->space == removed.space &&
        position->key == removed.key) {
      rows.erase(position);
    }
  }
  for (const StateRow& row : batch.state.upserts) {
    auto position = std::lower_bound(rows.begin(), rows.end(),
                                     std::make_pair(row.space, row.key), row_before);
    if (position != rows.end() && position->space == row.space && position->key == row.key) {
      *position = row;
    } else {
      rows.insert(position, row);
    }
  }
  if (batch.state.applied_index != 0) state_.applied_index = batch.state.applied_index;
  CONCLAVE_CHECK(describe_rollback(watermark_, state_).empty(),
                 "persist on a rolled-back store (a damaged node must write nothing)");
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
