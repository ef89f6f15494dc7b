// Local health: how much this node should distrust its own view (Lifeguard's "local health
// awareness", Dadgar et al. 2018 §IV-A; memberlist's awareness.go).
//
// A node that is itself slow (starved CPU, overloaded network) sees its probes fail and
// accuses healthy members. The score counts the evidence: failed probes, indirect probes whose
// relays did not even send a nack (so our own packets are not getting through), and having to
// refute a suspicion of ourselves. Probe intervals and timeouts are multiplied by
// (score + 1), so a sick node probes slower and waits longer before it accuses anyone; every
// probe answered in time lowers the score again.
#pragma once

#include <algorithm>
#include <cstdint>

namespace conclave::gossip {

class LocalHealth {
 public:
  // Precondition: max_score >= 0. max_score 0 disables the refinement (multiplier always 1).
  explicit LocalHealth(int max_score) : max_score_(std::max(max_score, 0)) {}

  // Adds `delta` (negative for good news), clamped to [0, max_score].
  void apply(int delta) { score_ = std::clamp(score_ + delta, 0, max_score_); }

  int score() const { return score_; }

  // `base_ms` stretched by the score: base_ms * (score + 1).
  int64_t scale(int64_t base_ms) const { return base_ms * (score_ + 1); }

 private:
  int max_score_;
  int score_ = 0;
};

}  // namespace conclave::gossip
