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
  history_.record(wire::KvEvent{wire::KvEventType::put, entries_.at(key)});
  return Outcome{ErrorCode::ok, "", wire::KvPutResponse{revision_}};
}

Result<std::vector<std::string>> KvService::keys_to_delete(const std::string& key,
                                                            bool prefix) const {
  std::vector<std::string> doomed;
  if (!prefix) {
    if (entries_.count(key) != 0) doomed.push_back(key);
    return doomed;
  }
  for (auto it = entries_.lower_bound(key);
       it != entries_.end() && it->first.compare(0, key.size(), key) == 0; ++it) {
    if (doomed.size() >= kMaxKeysPerDelete) {
      return make_error(ErrorCode::too_large,
                        "more than " + std::to_string(kMaxKeysPerDelete) + " keys start with '" +
                            key + "'; delete narrower prefixes; nothing was deleted");
    }
    doomed.push_back(it->first);
  }
  return doomed;
}

void KvService::set_entry(const std::string& key, std::optional<wire::KvEntry> entry) {
  auto found = entries_.find(key);
  if (found != entries_.end()) {
    total_bytes_ -= found->second.key.size() + found->second.value.size();
    entries_.erase(found);
  }
  if (entry) {
    total_bytes_ += entry->key.size() + entry->value.size();
    entries_.emplace(key, std::move(*entry));
  }
  dirty_.insert(key);
}

Outcome KvService::remove(const std::string& key, bool prefix) {
  Result<std::vector<std::string>> doomed = keys_to_delete(key, prefix);
  if (!doomed.ok()) return Outcome::error(doomed.error().code, doomed.error().message);
  if (!doomed.value().empty()) ++revision_;
  for (const std::string& name : doomed.value()) {
    set_entry(name, std::nullopt);
    history_.record(wire::KvEvent{wire::KvEventType::del, wire::KvEntry{name, "", 0, revision_, 0}});
  }
  return Outcome{ErrorCode::ok, "", wire::KvDeleteResponse{revision_, doomed.value().size()}};
}

bool KvService::holds(const wire::TxnCompare& compare) const {
  auto found = entries_.find(compare.key);
  if (compare.target == wire::TxnTarget::value) {
    // A missing key has no value: only "not equal" holds.
    if (found == entries_.end()) return compare.op == wire::TxnCompareOp::not_equal;
    const int order = found->second.value.compare(compare.value);
    switch (compare.op) {
      case wire::TxnCompareOp::equal: return order == 0;
      case wire::TxnCompareOp::not_equal: return order != 0;
      case wire::TxnCompareOp::less: return order < 0;
      case wire::TxnCompareOp::greater: return order > 0;
    }
    return false;
  }
  uint64_t actual = 0;  // a missing key: version and revisions 0
  if (found != entries_.end()) {
    switch (compare.target) {
      case wire::TxnTarget::version: actual = found->second.version; break;
      case wire::TxnTarget::create_revision: actual = found->second.create_revision; break;
      case wire::TxnTarget::mod_revision: actual = found->second.mod_revision; break;
      case wire::TxnTarget::value: break;
    }
  }
  switch (compare.op) {
    case wire::TxnCompareOp::equal: return actual == compare.number;
    case wire::TxnCompareOp::not_equal: return actual != compare.number;
    case wire::TxnCompareOp::less: return actual < compare.number;
    case wire::TxnCompareOp::greater: return actual > compare.number;
  }
  return false;
}

Outcome KvService::txn(const wire::KvTxnRequest& txn) {
  wire::KvTxnResponse response;
  response.succeeded = std::all_of(txn.compares.begin(), txn.compares.end(),
                                   [&](const wire::TxnCompare& compare) { return holds(compare); });
  const std::vector<wire::TxnOp>& ops = response.succeeded ? txn.success : txn.failure;
  std::set<std::string> written;
  for (const wire::TxnOp& op : ops) {
    if (op.type == wire::TxnOpType::get || (op.type == wire::TxnOpType::del && op.prefix)) continue;
    if (!written.insert(op.key).second) {
      return Outcome::error(ErrorCode::invalid_argument,
                            "the transaction writes '" + op.key + "' twice; nothing was written");
    }
  }
  // Apply in order, remembering what each key was, so that a failure part-way (a limit) puts
  // everything back: a transaction applies whole or not at all.
  const uint64_t revision = revision_ + 1;
  std::vector<std::pair<std::string, std::optional<wire::KvEntry>>> undo;
  std::vector<wire::KvEvent> changes;  // for the history, once the whole transaction holds
  auto change = [&](const std::string& key, std::optional<wire::KvEntry> entry) {
    auto found = entries_.find(key);
    undo.emplace_back(key, found == entries_.end() ? std::nullopt
                                                   : std::optional<wire::KvEntry>(found->second));
    changes.push_back(entry ? wire::KvEvent{wire::KvEventType::put, *entry}
                            : wire::KvEvent{wire::KvEventType::del,
                                            wire::KvEntry{key, "", 0, revision, 0}});
    set_entry(key, std::move(entry));
  };
  auto roll_back = [&](ErrorCode code, std::string message) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) set_entry(it->first, it->second);
    return Outcome::error(code, std::move(message) + "; nothing was written");
  };
  for (const wire::TxnOp& op : ops) {
    wire::TxnOpResult result;
    result.type = op.type;
    if (op.type == wire::TxnOpType::get) {
      if (auto found = entries_.find(op.key); found != entries_.end()) {
        result.found = true;
        result.entry = found->second;
      }
    } else if (op.type == wire::TxnOpType::put) {
      auto found = entries_.find(op.key);
      if (found == entries_.end() && entries_.size() >= kMaxKeys) {
        return roll_back(ErrorCode::too_large, "the kv store holds its limit of " +
                                                   std::to_string(kMaxKeys) + " keys");
      }
      wire::KvEntry entry = found == entries_.end()
                                ? wire::KvEntry{op.key, op.value, revision, revision, 1}
                                : wire::KvEntry{op.key, op.value, found->second.create_revision,
                                                revision, found->second.version + 1};
      change(op.key, std::move(entry));
      if (total_bytes_ > kMaxTotalKvBytes) {
        return roll_back(ErrorCode::too_large, "the kv store would exceed its limit of " +
                                                   std::to_string(kMaxTotalKvBytes) + " bytes");
      }
      result.revision = revision;
    } else {
      Result<std::vector<std::string>> doomed = keys_to_delete(op.key, op.prefix);
      if (!doomed.ok()) return roll_back(doomed.error().code, doomed.error().message);
      for (const std::string& name : doomed.value()) change(name, std::nullopt);
      result.deleted = doomed.value().size();
    }
    response.results.push_back(std::move(result));
  }
  if (!undo.empty()) revision_ = revision;
  for (wire::KvEvent& event : changes) history_.record(std::move(event));
  response.revision = revision_;
  return Outcome{ErrorCode::ok, "", std::move(response)};
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
