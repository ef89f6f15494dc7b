#include "state_machine/session_service.h"

#include "common/hash.h"
#include "state_machine/rows.h"
#include "wire/codec.h"

namespace conclave::state {

Outcome SessionService::create(const wire::SessionCreateCommand& command, raft::Index index,
                               int64_t now_ms) {
  if (command.node.empty()) {
    return Outcome::error(ErrorCode::invalid_argument, "a session needs an owning node");
  }
  if (command.ttl_ms != 0 &&
      (command.ttl_ms < kMinSessionTtlMs || command.ttl_ms > kMaxSessionTtlMs)) {
    return Outcome::error(ErrorCode::invalid_argument,
                          "a session TTL must be 0 (none) or from " +
                              std::to_string(kMinSessionTtlMs) + " ms to " +
                              std::to_string(kMaxSessionTtlMs / 3600000) + " h; got " +
                              std::to_string(command.ttl_ms) + " ms");
  }
  if (sessions_.size() >= kMaxSessions) {
    return Outcome::error(ErrorCode::too_large, "the cluster holds its limit of " +
                                                    std::to_string(kMaxSessions) +
                                                    " sessions; end some first");
  }
  if (per_node_[command.node] >= kMaxSessionsPerNode) {
    return Outcome::error(ErrorCode::too_large,
                          "node " + command.node + " holds its limit of " +
                              std::to_string(kMaxSessionsPerNode) + " sessions");
  }
  wire::SessionRecord session;
  session.id = index;
  session.node = command.node;
  session.boot_id = command.boot_id;
  session.ttl_ms = command.ttl_ms;
  session.created_ms = now_ms;
  session.renewed_ms = now_ms;
  session.description = command.description;
  set_expiry(session);
  per_node_[session.node] += 1;
  sessions_.emplace(session.id, std::move(session));
  dirty_.insert(index);
  return Outcome{ErrorCode::ok, "", wire::SessionCreateResponse{index}};
}

Outcome SessionService::renew(uint64_t id, int64_t now_ms) {
  wire::SessionRecord* session = find(id);
  if (session == nullptr) {
    return Outcome::error(ErrorCode::not_found,
                          "session " + std::to_string(id) + " does not exist (it ended)");
  }
  clear_expiry(*session);
  session->renewed_ms = now_ms;
  set_expiry(*session);
  dirty_.insert(id);
  return Outcome{};
}

wire::SessionRecord* SessionService::find(uint64_t id) {
  auto found = sessions_.find(id);
  return found == sessions_.end() ? nullptr : &found->second;
}

const wire::SessionRecord* SessionService::find(uint64_t id) const {
  auto found = sessions_.find(id);
  return found == sessions_.end() ? nullptr : &found->second;
}

void SessionService::erase(uint64_t id) {
  auto found = sessions_.find(id);
  CONCLAVE_CHECK(found != sessions_.end(), "erasing a session that does not exist");
  clear_expiry(found->second);
  if (--per_node_[found->second.node] == 0) per_node_.erase(found->second.node);
  sessions_.erase(found);
  dirty_.insert(id);
}

std::vector<uint64_t> SessionService::owned_by(const std::string& node, uint64_t boot_id) const {
  std::vector<uint64_t> ids;
  for (const auto& [id, session] : sessions_) {
    if (session.node == node && (boot_id == 0 || session.boot_id == boot_id)) ids.push_back(id);
  }
  return ids;
}

std::vector<uint64_t> SessionService::expired(int64_t now_ms) const {
  std::vector<uint64_t> ids;
  for (const auto& [deadline, id] : expiries_) {
    if (deadline > now_ms) break;  // due at the deadline, as next_expiry_ms() reports
    ids.push_back(id);
  }
  return ids;
}

std::optional<int64_t> SessionService::next_expiry_ms() const {
  if (expiries_.empty()) return std::nullopt;
  return expiries_.begin()->first;
}

void SessionService::set_expiry(const wire::SessionRecord& session) {
  if (session.ttl_ms != 0) {
    expiries_.emplace(session.renewed_ms + static_cast<int64_t>(session.ttl_ms), session.id);
  }
}

void SessionService::clear_expiry(const wire::SessionRecord& session) {
  if (session.ttl_ms != 0) {
    expiries_.erase({session.renewed_ms + static_cast<int64_t>(session.ttl_ms), session.id});
  }
}

Status SessionService::restore(const store::StateRow& row) {
  auto session = wire::decode_session_record(row.value);
  if (!session.ok()) return session.error();
  set_expiry(session.value());
  per_node_[session.value().node] += 1;
  sessions_[session.value().id] = std::move(session).value();
  return Status();
}

void SessionService::collect_changes(store::StateChanges& changes) {
  for (uint64_t id : dirty_) {
    const std::string key = number_key(id);
    auto found = sessions_.find(id);
    if (found == sessions_.end()) {
      changes.deletes.push_back(
          store::StateRowKey{static_cast<uint32_t>(RowSpace::sessions), key});
    } else {
      changes.upserts.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::sessions), key,
                                                wire::encode_session_record(found->second)});
    }
  }
  dirty_.clear();
}

void SessionService::collect_all(std::vector<store::StateRow>& rows) const {
  for (const auto& [id, value] : sessions_) {
    rows.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::sessions), number_key(id), wire::encode_session_record(value)});
  }
}

void SessionService::hash_into(uint64_t& hash) const {
  for (const auto& [id, session] : sessions_) {
    hash = fnv1a64(wire::encode_session_record(session), hash);
  }
}

}  // namespace conclave::state
