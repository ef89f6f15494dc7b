// Suspicion: how long a suspect member has to refute before it is declared dead, and the
// Lifeguard refinement that starts that time long and shrinks it as other members
// independently confirm the suspicion (Dadgar et al. 2018, "Lifeguard", §IV-B; memberlist's
// suspicion.go).
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

namespace conclave::gossip {

// suspicion_multiplier * max(1, log10(alive_members)) * probe_interval_ms, rounded to the
// nearest millisecond (SWIM §4.2 suspicion, scaled with log N as memberlist does so that the
// suspicion has time to reach every member before the timeout fires in a larger cluster).
// `alive_members` counts members that are not dead or left, this node included; 0 is treated
// as 1. Preconditions: suspicion_multiplier > 0, probe_interval_ms > 0.
int64_t suspicion_timeout_ms(double suspicion_multiplier, size_t alive_members,
                             int64_t probe_interval_ms);

// One member's suspicion as this node holds it. The timeout is
//   max(min_ms, max_ms - (max_ms - min_ms) * log(C + 1) / log(K + 1))
// where C is the number of independent confirmations so far (distinct members other than the
// first accuser saying the same suspicion) and K the number expected. With K = 0 (too few
// members to expect any) it is min_ms at once. A false suspicion raised by one unhealthy
// member therefore waits max_ms, time for the accused to hear of it and refute, while a real
// failure seen by several members is declared after min_ms.
class Suspicion {
 public:
  // Precondition: 0 < min_ms <= max_ms, expected_confirmations >= 0.
  Suspicion(uint64_t incarnation, std::string first_accuser, int64_t start_ms, int64_t min_ms,
            int64_t max_ms, int expected_confirmations);

  // Records that `accuser` also suspects the member. Returns true when it is a new,
  // independent confirmation (not the first accuser, not heard before, and fewer than
  // expected so far); only those are worth passing on.
  bool confirm(const std::string& accuser);

  // The time at which the member is to be declared dead.
  int64_t deadline_ms() const;

  // Moves the start later by `gap_ms` (the stall guard: time this node was not running does
  // not count against the accused).
  void postpone(int64_t gap_ms) { start_ms_ += gap_ms; }

  // This node's own latest probe of the suspect since the suspicion began (see Gossip's
  // last-chance probe): none yet, failed, or answered.
  enum class OwnProbe : uint8_t { none, failed, answered };
  OwnProbe own_probe() const { return own_probe_; }
  void set_own_probe(OwnProbe outcome) { own_probe_ = outcome; }

  uint64_t incarnation() const { return incarnation_; }
  int confirmations() const { return static_cast<int>(confirmers_.size()); }

 private:
  uint64_t incarnation_;
  std::string first_accuser_;
  int64_t start_ms_;
  int64_t min_ms_;
  int64_t max_ms_;
  int expected_confirmations_;
  std::set<std::string> confirmers_;
  OwnProbe own_probe_ = OwnProbe::none;
};

}  // namespace conclave::gossip
