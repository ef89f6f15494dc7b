// The broadcast queue: member updates waiting to be piggybacked on outgoing packets
// (SWIM §4.1 infection-style dissemination, memberlist's TransmitLimitedQueue).
//
// Owns: at most one update per member name (the latest accepted one) and how many times each
// has been sent; at most `max_entries` entries.
// Ordering: take() prefers the least-transmitted update, the newest among equals, so fresh
// news spreads first and old news stops once it has had its share of transmissions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gossip/types.h"

namespace conclave::gossip {

// retransmit_multiplier * ceil(log10(members + 1)) (SWIM §4.1: λ log N transmissions reach
// every member with high probability). Computed on integers so there is no rounding surprise
// at powers of ten. At least 1.
int retransmit_limit(int retransmit_multiplier, size_t members);

class BroadcastQueue {
 public:
  explicit BroadcastQueue(size_t max_entries);

  // Queues `update`, replacing any queued update about the same member (the newer one carries
  // everything the older one said). Returns true when the queue was full and its oldest entry
  // was dropped to make room; the caller counts that.
  bool enqueue(MemberUpdate update);

  // Picks updates for one packet: least transmitted first (newest among equals), skipping any
  // whose encoded_size_bound does not fit the remaining `budget_bytes`, at most `max_count`.
  // Each picked update counts one transmission and leaves the queue once it has been sent
  // `transmit_limit` times. The update about `skip_name` (the recipient), if any, is left
  // out: a member knows itself better than we do, and the sender tells a suspect or dead
  // recipient its state separately without spending this update's transmissions.
  std::vector<MemberUpdate> take(size_t budget_bytes, size_t max_count, int transmit_limit,
                                 const std::string& skip_name = {});

  // Drops the queued update about `name`, if any (a member forgotten on purpose).
  void forget(const std::string& name) { remove(name); }

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Transmissions so far of the queued update about `name`, or -1 when none is queued.
  int transmits(const std::string& name) const;

 private:
  struct Entry {
    MemberUpdate update;
    size_t size_bytes = 0;
    int transmits = 0;
    uint64_t order = 0;  // enqueue order: higher is newer
  };
  struct Key {
    int transmits;
    uint64_t order;
    bool operator<(const Key& other) const {
      if (transmits != other.transmits) return transmits < other.transmits;
      return order > other.order;  // newest first among equals
    }
  };

  void remove(const std::string& name);

  size_t max_entries_;
  uint64_t next_order_ = 0;
  std::map<std::string, Entry> entries_;
  std::map<Key, std::string> by_priority_;
  std::map<uint64_t, std::string> by_age_;
};

}  // namespace conclave::gossip
