// The probe schedule: the order in which this node probes the other members (SWIM §4.3
// round-robin probe target selection: a shuffled list walked in order and reshuffled after
// each full pass, so every member is probed within a bounded time, unlike uniform random
// choice).
//
// With a ring (our own name given), every other probe goes to our ring successor instead:
// the next eligible member after us in the order of fnv1a64(name). Random probes from N
// members arrive at a member like a Poisson process, so the wait from a crash to the first
// probe has an exponential tail (p99 = 4.6 probe intervals); with the ring, the crashed
// member's predecessor probes it every two intervals, which bounds that wait, at the same
// number of probes in all. Views that differ for a while only make a member probed by two
// predecessors, or by none but the random half, for that while.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/prng.h"

namespace conclave::gossip {

class ProbeSchedule {
 public:
  // `own_name` empty: round robin only. Otherwise alternate with our ring successor (above).
  explicit ProbeSchedule(std::string own_name = {});

  // Inserts `name` at a random position (SWIM §4.3), so a newcomer does not wait for the end
  // of the pass nor always go first. No-op if already present.
  void add(const std::string& name, Prng& prng);
  void remove(const std::string& name);

  // Makes `name` the next probe, out of turn and without disturbing the pass (it is probed
  // again at its place in the order). Used to confirm or clear a suspicion heard from
  // others quickly.
  void probe_next(const std::string& name) { urgent_ = name; }

  // The next name to probe among those for which `eligible` is true: the one asked for by
  // probe_next, if still eligible; else, every other call, our ring successor; else the next
  // in the pass (reshuffled when a pass ends). Returns nullopt when no name is eligible.
  // Walks at most two passes and the ring once.
  std::optional<std::string> next(Prng& prng,
                                  const std::function<bool(const std::string&)>& eligible);

  size_t size() const { return order_.size(); }
  const std::vector<std::string>& order() const { return order_; }

 private:
  void shuffle(Prng& prng);
  std::optional<std::string> ring_successor(
      const std::function<bool(const std::string&)>& eligible) const;

  using RingPosition = std::pair<uint64_t, std::string>;  // (fnv1a64(name), name)
  std::optional<RingPosition> own_position_;  // no ring without one
  std::set<RingPosition> ring_;               // every name in order_, by ring position
  bool ring_turn_ = true;                     // whether the next probe is the successor's

  std::vector<std::string> order_;
  size_t position_ = 0;  // index of the next name to consider in the current pass
  std::optional<std::string> urgent_;
};

}  // namespace conclave::gossip
