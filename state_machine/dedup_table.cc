#include "state_machine/dedup_table.h"

#include <algorithm>
#include <tuple>

#include "common/hash.h"
#include "state_machine/rows.h"
#include "wire/codec.h"

namespace conclave::state {

DedupTable::Lookup DedupTable::check(uint64_t client_id, uint64_t sequence, uint64_t ack_below,
                                     int64_t now_ms) {
  auto found = clients_.find(client_id);
  if (found == clients_.end()) {
    if (clients_.size() >= kMaxDedupClients) {
      // Evict the least recently active client (ties: the smallest id). Deterministic: it
      // depends only on the stamps of applied commands.
      auto oldest = std::min_element(clients_.begin(), clients_.end(), [](const auto& a,
                                                                          const auto& b) {
        return std::tie(a.second.last_active_ms, a.first) <
               std::tie(b.second.last_active_ms, b.first);
      });
      touch(oldest->first);
      bytes_.erase(oldest->first);
      clients_.erase(oldest);
    }
    wire::DedupClient client;
    client.client_id = client_id;
    found = clients_.emplace(client_id, std::move(client)).first;
  }
  wire::DedupClient& client = found->second;
  touch(client_id);
  client.last_active_ms = std::max(client.last_active_ms, now_ms);
  if (ack_below > client.floor) {
    client.floor = ack_below;
    const auto end = client.answers.lower_bound(client.floor);
    for (auto it = client.answers.begin(); it != end; ++it) {
      bytes_[client_id] -= answer_bytes(it->second);
    }
    client.answers.erase(client.answers.begin(), end);
  }
  if (sequence < client.floor) return Lookup{Check::forgotten, std::nullopt};
  if (auto answer = client.answers.find(sequence); answer != client.answers.end()) {
    return Lookup{Check::duplicate, answer->second};
  }
  if (client.answers.size() >= kMaxAnswersPerClient ||
      bytes_[client_id] >= kMaxAnswerBytesPerClient) {
    return Lookup{Check::full, std::nullopt};
  }
  return Lookup{Check::new_request, std::nullopt};
}

void DedupTable::record(uint64_t client_id, uint64_t sequence, wire::CachedAnswer answer) {
  auto found = clients_.find(client_id);
  if (found == clients_.end() || sequence < found->second.floor) return;
  auto [slot, inserted] = found->second.answers.try_emplace(sequence);
  size_t& bytes = bytes_[client_id];
  if (!inserted) bytes -= answer_bytes(slot->second);
  bytes += answer_bytes(answer);
  slot->second = std::move(answer);
  touch(client_id);
}

void DedupTable::update(uint64_t client_id, uint64_t sequence, wire::CachedAnswer answer) {
  auto found = clients_.find(client_id);
  if (found == clients_.end()) return;
  auto existing = found->second.answers.find(sequence);
  if (existing == found->second.answers.end()) return;
  size_t& bytes = bytes_[client_id];
  bytes -= answer_bytes(existing->second);
  bytes += answer_bytes(answer);
  existing->second = std::move(answer);
  touch(client_id);
}

void DedupTable::expire(int64_t now_ms) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (it->second.last_active_ms + kDedupClientIdleMs <= now_ms) {
      touch(it->first);
      bytes_.erase(it->first);
      it = clients_.erase(it);
    } else {
      ++it;
    }
  }
}

Status DedupTable::restore(const store::StateRow& row) {
  auto client = wire::decode_dedup_client(row.value);
  if (!client.ok()) return client.error();
  size_t& bytes = bytes_[client.value().client_id];
  bytes = 0;
  for (const auto& [sequence, answer] : client.value().answers) bytes += answer_bytes(answer);
  clients_[client.value().client_id] = std::move(client).value();
  return Status();
}

void DedupTable::collect_changes(store::StateChanges& changes) {
  for (uint64_t client_id : dirty_) {
    const std::string key = number_key(client_id);
    auto found = clients_.find(client_id);
    if (found == clients_.end()) {
      changes.deletes.push_back(store::StateRowKey{static_cast<uint32_t>(RowSpace::dedup), key});
    } else {
      changes.upserts.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::dedup), key,
                                                wire::encode_dedup_client(found->second)});
    }
  }
  dirty_.clear();
}

void DedupTable::collect_all(std::vector<store::StateRow>& rows) const {
  for (const auto& [id, value] : clients_) {
    rows.push_back(store::StateRow{static_cast<uint32_t>(RowSpace::dedup), number_key(id), wire::encode_dedup_client(value)});
  }
}

void DedupTable::hash_into(uint64_t& hash) const {
  for (const auto& [id, client] : clients_) hash = fnv1a64(wire::encode_dedup_client(client), hash);
}

}  // namespace conclave::state
