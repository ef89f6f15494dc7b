#include "gossip/suspicion.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/check.h"

namespace conclave::gossip {

int64_t suspicion_timeout_ms(double suspicion_multiplier, size_t alive_members,
                             int64_t probe_interval_ms) {
  CONCLAVE_CHECK(suspicion_multiplier > 0, "suspicion_multiplier must be positive");
  CONCLAVE_CHECK(probe_interval_ms > 0, "probe_interval_ms must be positive");
  const double members = static_cast<double>(std::max<size_t>(alive_members, 1));
  // max(1, log10 N): a small cluster still gets a whole multiplier of probe intervals, which
  // is the time a refutation needs to be gossiped back (SWIM §4.2).
  const double scale = std::max(1.0, std::log10(members));
  return static_cast<int64_t>(
      std::llround(suspicion_multiplier * scale * static_cast<double>(probe_interval_ms)));
}

Suspicion::Suspicion(uint64_t incarnation, std::string first_accuser, int64_t start_ms,
                     int64_t min_ms, int64_t max_ms, int expected_confirmations)
    : incarnation_(incarnation),
      first_accuser_(std::move(first_accuser)),
      start_ms_(start_ms),
      min_ms_(min_ms),
      max_ms_(max_ms),
      expected_confirmations_(expected_confirmations) {
  CONCLAVE_CHECK(0 < min_ms_ && min_ms_ <= max_ms_, "suspicion needs 0 < min <= max");
  CONCLAVE_CHECK(expected_confirmations_ >= 0, "expected confirmations must be >= 0");
}

bool Suspicion::confirm(const std::string& accuser) {
  if (accuser.empty() || accuser == first_accuser_) return false;
  if (confirmations() >= expected_confirmations_) return false;
  return confirmers_.insert(accuser).second;
}

int64_t Suspicion::deadline_ms() const {
  if (expected_confirmations_ == 0) return start_ms_ + min_ms_;
  const double fraction = std::log(static_cast<double>(confirmations()) + 1.0) /
                          std::log(static_cast<double>(expected_confirmations_) + 1.0);
  const double timeout =
      static_cast<double>(max_ms_) - static_cast<double>(max_ms_ - min_ms_) * fraction;
  return start_ms_ + std::max(min_ms_, static_cast<int64_t>(std::floor(timeout)));
}

}  // namespace conclave::gossip
