#include "state_machine/kv_service.h"

#include <algorithm>
#include <vector>

#include "common/hash.h"
#include "state_machine/rows.h"
#include "wire/codec.h"

namespace conclave::state {

Outcome KvService::put(const std::string& key, const std::string& value,
                       std::optional<uint64_t> cas_revision) {
  auto found = entries_.find(key);
  if (cas_revision) {
    const uint64_t current = found == entries_.end() ? 0 : found->second.mod_revision;
    if (current != *cas_revision) {
      const std::string now =
          current == 0 ? "'" + key + "' does not exist (mod revision 0)"
                       : "'" + key + "' is at mod revision " + std::to_string(current);
      const std::string asked = *cas_revision == 0
                                    ? "the put asked for a key that does not exist"
                                    : "the put asked for mod revision " +
                                          std::to_string(*cas_revision);
      return Outcome::error(ErrorCode::conflict,
                            "compare failed: " + now + "; " + asked + "; nothing was written");
    }
  }
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

Outcome KvService::remove(const std::string& key, bool prefix) {
  std::vector<std::string> doomed;
  if (prefix) {
    for (auto it = entries_.lower_bound(key);
         it != entries_.end() && it->first.compare(0, key.size(), key) == 0; ++it) {
      if (doomed.size() >= kMaxKeysPerDelete) {
        return Outcome::error(ErrorCode::too_large,
                              "more than " + std::to_string(kMaxKeysPerDelete) +
                                  " keys start with '" + key +
                                  "'; delete narrower prefixes; nothing was deleted");
      }
      doomed.push_back(it->first);
    }
  } else if (entries_.count(key) != 0) {
    doomed.push_back(key);
  }
  if (!doomed.empty()) ++revision_;
  for (const std::string& name : doomed) {
    auto found = entries_.find(name);
    total_bytes_ -= found->second.key.size() + found->second.value.size();
    entries_.erase(found);
    dirty_.insert(name);
  }
  return Outcome{ErrorCode::ok, "", wire::KvDeleteResponse{revision_, doomed.size()}};
}

wire::KvListResponse KvService::list(const wire::KvListRequest& request) const {
  wire::KvListResponse page;
  page.revision = revision_;
  const size_t limit = request.limit == 0
                           ? wire::kDefaultListLimit
                           : std::min<size_t>(request.limit, wire::kMaxListLimit);
  auto it = request.after.empty() || request.after < request.prefix
                ? entries_.lower_bound(request.prefix)
                : entries_.upper_bound(request.after);
  size_t page_bytes = 0;
  for (; it != entries_.end() && it->first.compare(0, request.prefix.size(), request.prefix) == 0;
       ++it) {
    if (page.items.size() >= limit || page_bytes >= wire::kMaxListPageBytes) {
      page.more = true;
      break;
    }
    wire::KvEntry entry = it->second;
    if (request.keys_only) entry.value.clear();
    page_bytes += entry.key.size() + entry.value.size();
    page.items.push_back(std::move(entry));
  }
  return page;
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
