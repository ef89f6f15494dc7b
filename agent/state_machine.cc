#include "agent/state_machine.h"

#include <type_traits>

#include "common/check.h"
#include "wire/codec.h"

namespace conclave::agent {

uint64_t fnv1a64(const std::string& bytes, uint64_t seed) {
  uint64_t hash = seed;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

StateMachine::StateMachine(const store::RecoveredState& recovered)
    : revision_(recovered.revision), applied_index_(recovered.applied_index) {
  for (const store::KvRecord& record : recovered.kv) {
    total_bytes_ += record.key.size() + record.value.size();
    kv_.emplace(record.key, record);
  }
  const raft::Index window_start =
      applied_index_ > kDuplicateWindowEntries ? applied_index_ - kDuplicateWindowEntries : 0;
  for (const raft::Entry& entry : recovered.entries) {
    if (entry.index <= window_start || entry.index > applied_index_ || entry.data.empty()) {
      continue;
    }
    if (auto command = wire::decode_command(entry.data); command.ok()) {
      seen_recently(entry.index, command.value());
    }
  }
}

bool StateMachine::seen_recently(raft::Index index, const wire::Command& command) {
  while (!recent_commands_.empty() &&
         recent_commands_.front().first + kDuplicateWindowEntries < index) {
    recent_command_ids_.erase(recent_commands_.front().second);
    recent_commands_.pop_front();
  }
  const CommandId id{command.origin_node, command.request_id};
  if (recent_command_ids_.count(id) != 0) return true;
  recent_command_ids_.insert(id);
  recent_commands_.emplace_back(index, id);
  return false;
}

Applied StateMachine::apply(const raft::Entry& entry) {
  CONCLAVE_CHECK(entry.index == applied_index_ + 1, "entries must be applied in order");
  applied_index_ = entry.index;
  applied_since_take_ = true;
  Applied applied;
  if (entry.data.empty()) return applied;  // a leader's no-op (Raft §8)

  auto decoded = wire::decode_command(entry.data);
  if (!decoded.ok()) {
    // Only a misbehaving peer can put such bytes in the log (proposals are encoded by agents).
    // Every server skips the entry the same way, so the state stays identical everywhere.
    ++undecodable_entries_;
    applied.error_code = ErrorCode::malformed;
    applied.error_message = decoded.error().message;
    return applied;
  }
  applied.command = std::move(decoded).value();
  if (seen_recently(entry.index, *applied.command)) {
    // The same proposal reached the log twice (a duplicated forward). The first copy took
    // effect and was answered; this one must not write again.
    ++duplicate_entries_;
    applied.duplicate = true;
    return applied;
  }

  std::visit(
      [&](const auto& op) {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, wire::GetCommand>) {
          wire::KvGetResponse response;
          if (auto found = kv_.find(op.key); found != kv_.end()) {
            response.found = true;
            response.value = found->second.value;
            response.create_revision = found->second.create_revision;
            response.mod_revision = found->second.mod_revision;
          }
          applied.result = response;
        } else {
          auto found = kv_.find(op.key);
          const size_t old_bytes =
              found == kv_.end() ? 0 : found->second.key.size() + found->second.value.size();
          const size_t new_bytes = op.key.size() + op.value.size();
          if (found == kv_.end() && kv_.size() >= kMaxKeys) {
            applied.error_code = ErrorCode::too_large;
            applied.error_message = "the kv store holds its limit of " +
                                    std::to_string(kMaxKeys) + " keys; delete keys first";
            return;
          }
          if (total_bytes_ - old_bytes + new_bytes > kMaxTotalKvBytes) {
            applied.error_code = ErrorCode::too_large;
            applied.error_message = "the kv store would exceed its limit of " +
                                    std::to_string(kMaxTotalKvBytes) + " bytes";
            return;
          }
          ++revision_;
          store::KvRecord record{op.key, op.value, revision_, revision_};
          if (found != kv_.end()) {
            record.create_revision = found->second.create_revision;
            found->second = record;
          } else {
            kv_.emplace(op.key, record);
          }
          total_bytes_ = total_bytes_ - old_bytes + new_bytes;
          touched_keys_[op.key] = true;
          applied.result = wire::KvPutResponse{revision_};
        }
      },
      applied.command->op);
  return applied;
}

store::StateChanges StateMachine::take_changes() {
  store::StateChanges changes;
  if (!applied_since_take_) return changes;
  for (const auto& [key, unused] : touched_keys_) changes.upserts.push_back(kv_.at(key));
  changes.applied_index = applied_index_;
  changes.revision = revision_;
  touched_keys_.clear();
  applied_since_take_ = false;
  return changes;
}

std::optional<store::KvRecord> StateMachine::get(const std::string& key) const {
  auto found = kv_.find(key);
  if (found == kv_.end()) return std::nullopt;
  return found->second;
}

uint64_t StateMachine::state_hash() const {
  uint64_t hash = fnv1a64(std::to_string(revision_) + "/" + std::to_string(applied_index_));
  for (const auto& [key, record] : kv_) {
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    hash = fnv1a64(std::to_string(key.size()) + ":" + key, hash);
    hash = fnv1a64(std::to_string(record.value.size()) + ":" + record.value, hash);
    hash = fnv1a64(std::to_string(record.create_revision) + ":" +
                       std::to_string(record.mod_revision),
                   hash);
  }
  return hash;
}

}  // namespace conclave::agent
