// SimNetwork: a simulated network in virtual time. Messages are delayed, lost, duplicated and
// reordered according to the current conditions, and links can be cut (partitions, one-way
// cuts). Every random draw comes from the Prng it is given, so one seed gives one run.
#pragma once

#include <cstdint>
#include <queue>
#include <set>
#include <utility>
#include <vector>

#include "common/prng.h"

namespace conclave::sim {

struct NetworkConditions {
  double loss = 0.0;             // probability a message is dropped
  double duplication = 0.0;      // probability a message is delivered twice
  int64_t min_delay_ms = 1;
  int64_t max_delay_ms = 10;     // delays vary per message, so messages reorder
};

// A message in flight carries its payload as a value of type T.
template <typename T>
class SimNetwork {
 public:
  struct InFlight {
    int64_t deliver_at_ms;
    uint64_t sequence;  // ties broken by send order: deterministic
    int from;
    int to;
    T payload;
    bool operator>(const InFlight& other) const {
      return deliver_at_ms != other.deliver_at_ms ? deliver_at_ms > other.deliver_at_ms
                                                  : sequence > other.sequence;
    }
  };

  explicit SimNetwork(Prng& prng) : prng_(prng) {}

  void set_conditions(const NetworkConditions& conditions) { conditions_ = conditions; }
  const NetworkConditions& conditions() const { return conditions_; }

  // Cuts the link from -> to (one way). Messages already in flight are dropped on delivery.
  void cut(int from, int to) { cuts_.insert({from, to}); }
  void heal_all() { cuts_.clear(); }
  bool is_cut(int from, int to) const { return cuts_.count({from, to}) != 0; }

  void send(int from, int to, T payload, int64_t now_ms) {
    ++sent_;
    if (is_cut(from, to) || prng_.chance(conditions_.loss)) {
      ++dropped_;
      return;
    }
    const int copies = prng_.chance(conditions_.duplication) ? 2 : 1;
    for (int copy = 0; copy < copies; ++copy) {
      const int64_t delay = prng_.between(conditions_.min_delay_ms, conditions_.max_delay_ms);
      queue_.push(InFlight{now_ms + delay, next_sequence_++, from, to, payload});
    }
  }

  // Takes the next message due at or before now_ms, if any. A link cut while the message was
  // in flight drops it.
  bool next_due(int64_t now_ms, InFlight& out) {
    while (!queue_.empty() && queue_.top().deliver_at_ms <= now_ms) {
      out = queue_.top();
      queue_.pop();
      if (is_cut(out.from, out.to)) {
        ++dropped_;
        continue;
      }
      return true;
    }
    return false;
  }

  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }

 private:
  Prng& prng_;
  NetworkConditions conditions_;
  std::set<std::pair<int, int>> cuts_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<InFlight>> queue_;
  uint64_t next_sequence_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace conclave::sim
