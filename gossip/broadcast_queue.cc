#include "gossip/broadcast_queue.h"

#include <utility>

#include "common/check.h"

namespace conclave::gossip {

int retransmit_limit(int retransmit_multiplier, size_t members) {
  // ceil(log10(members + 1)) = the smallest k with 10^k >= members + 1.
  const uint64_t target = static_cast<uint64_t>(members) + 1;
  int digits = 0;
  for (uint64_t power = 1; power < target; power *= 10) ++digits;
  const int limit = retransmit_multiplier * digits;
  return limit < 1 ? 1 : limit;
}

BroadcastQueue::BroadcastQueue(size_t max_entries) : max_entries_(max_entries) {
  CONCLAVE_CHECK(max_entries_ >= 1, "max_broadcast_queue must be at least 1");
}

bool BroadcastQueue::enqueue(MemberUpdate update) {
  remove(update.name);  // a newer update about a member replaces the queued one
  bool dropped = false;
  if (entries_.size() >= max_entries_) {
    // Over the limit the oldest news goes first: it has had the longest time to spread.
    remove(by_age_.begin()->second);
    dropped = true;
  }
  Entry entry;
  entry.size_bytes = encoded_size_bound(Message{update});
  entry.order = next_order_++;
  const std::string name = update.name;
  entry.update = std::move(update);
  by_priority_.emplace(Key{0, entry.order}, name);
  by_age_.emplace(entry.order, name);
  entries_.emplace(name, std::move(entry));
  return dropped;
}

std::vector<MemberUpdate> BroadcastQueue::take(size_t budget_bytes, size_t max_count,
                                               int transmit_limit,
                                               const std::string& skip_name) {
  // The smallest update there can be: nothing smaller can fit once the budget is below it.
  static const size_t kSmallestUpdateBytes = encoded_size_bound(Message{MemberUpdate{}});
  // An update that does not fit is passed over for a smaller one behind it, but only so many
  // times per packet: the queue may hold thousands after a mass join.
  constexpr int kMaxPassedOver = 16;
  int passed_over = 0;
  std::vector<std::string> picked;
  for (const auto& [key, name] : by_priority_) {
    if (picked.size() >= max_count || budget_bytes < kSmallestUpdateBytes) break;
    if (!skip_name.empty() && name == skip_name) continue;
    const Entry& entry = entries_.at(name);
    if (entry.size_bytes > budget_bytes) {
      if (++passed_over > kMaxPassedOver) break;
      continue;  // a smaller one may still fit
    }
    budget_bytes -= entry.size_bytes;
    picked.push_back(name);
  }
  std::vector<MemberUpdate> updates;
  updates.reserve(picked.size());
  for (const auto& name : picked) {
    Entry& entry = entries_.at(name);
    updates.push_back(entry.update);
    by_priority_.erase(Key{entry.transmits, entry.order});
    ++entry.transmits;
    if (entry.transmits >= transmit_limit) {
      by_age_.erase(entry.order);
      entries_.erase(name);
    } else {
      by_priority_.emplace(Key{entry.transmits, entry.order}, name);
    }
  }
  return updates;
}

int BroadcastQueue::transmits(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? -1 : it->second.transmits;
}

void BroadcastQueue::remove(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  by_priority_.erase(Key{it->second.transmits, it->second.order});
  by_age_.erase(it->second.order);
  entries_.erase(it);
}

}  // namespace conclave::gossip
