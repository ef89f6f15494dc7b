// The probe schedule: the order in which this node probes the other members (SWIM §4.3
// round-robin probe target selection: a shuffled list walked in order and reshuffled after
// each full pass, so every member is probed within a bounded time, unlike uniform random
// choice).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/prng.h"

namespace conclave::gossip {

class ProbeSchedule {
 public:
  // Inserts `name` at a random position (SWIM §4.3), so a newcomer does not wait for the end
  // of the pass nor always go first. No-op if already present.
  void add(const std::string& name, Prng& prng);
  void remove(const std::string& name);

  // Makes `name` the next probe, out of turn and without disturbing the pass (it is probed
  // again at its place in the order). Used to confirm or clear a suspicion heard from
  // others quickly.
  void probe_next(const std::string& name) { urgent_ = name; }

  // The next name in the pass for which `eligible` is true (the one asked for by probe_next
  // first, if still eligible); reshuffles when a pass ends.
  // Returns nullopt when no name is eligible. Walks at most two passes.
  std::optional<std::string> next(Prng& prng,
                                  const std::function<bool(const std::string&)>& eligible);

  size_t size() const { return order_.size(); }
  const std::vector<std::string>& order() const { return order_; }

 private:
  void shuffle(Prng& prng);

  std::vector<std::string> order_;
  size_t position_ = 0;  // index of the next name to consider in the current pass
  std::optional<std::string> urgent_;
};

}  // namespace conclave::gossip
