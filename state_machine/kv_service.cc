#include "state_machine/kv_service.h"

#include "common/hash.h"
#include "state_machine/rows.h"
#include "wire/codec.h"

namespace conclave::state {

Outcome KvService::put(const std::string& key, const std::string& value) {
  auto found = entries_.find(key);
  const size_t old_bytes =
      found == entries_.end() ? 0 : found->second.key.size() + found->second.value.size();
  const size_t new_bytes = key.size() + value.size();
  if (found == entries_.end() && entries_.size() >= kMaxKeys) {
    return Outcome::error(ErrorCode::too_large, "the kv store holds its limit of " +
                                                    std::to_string(kMaxKeys) +
                                                    " keys; delete keys first");
  }
  if (total_bytes_ - old_bytes + new_bytes > kMaxTotalKvBytes) {
    return Outcome::error(ErrorCode::too_large, "the kv store would exceed its limit of " +
                                                    std::to_string(kMaxTotalKvBytes) + " bytes");
  }
  ++revision_;
  if (found == entries_.end()) {
    entries_.emplace(key, wire::KvEntry{key, value, revision_, revision_, 1});
  } else {
    found->second.value = value;
    found->second.mod_revision = revision_;
    found->second.version += 1;
  }
  total_bytes_ = total_bytes_ - old_bytes + new_bytes;
  dirty_.insert(key);
  return Outcome{ErrorCode::ok, "", wire::KvPutResponse{revision_}};
}

std::optional<wire::KvEntry> KvService::get(const std::string& key) const {
  auto found = entries_.find(key);
  if (found == entries_.end()) return std::nullopt;
  return found->second;
}

Status KvService::restore(const store::StateRow& row) {
  auto entry = wire::decode_kv_entry(row.value);
  if (!entry.ok()) return entry.error();
  total_bytes_ += entry.value().key.size() + entry.value().value.size();
  entries_[entry.value().key] = std::move(entry).value();
  return Status();
}

void KvService::collect_changes(store::StateChanges& changes) {
  for (const std::string& key : dirty_) {
    auto found = entries_.find(key);
    if (found == entries_.end()) {
      changes.deletes.push_back(store::StateRowKey{static_cast<uint32_t>(RowSpace::kv), key});
    } else {
      changes.upserts.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::kv), key,
                                                wire::encode_kv_entry(found->second)});
    }
  }
  dirty_.clear();
}

void KvService::collect_all(std::vector<store::StateRow>& rows) const {
  for (const auto& [key, value] : entries_) {
    rows.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::kv), key, wire::encode_kv_entry(value)});
  }
}

void KvService::hash_into(uint64_t& hash) const {
  for (const auto& [key, entry] : entries_) hash = fnv1a64(wire::encode_kv_entry(entry), hash);
}

}  // namespace conclave::state
