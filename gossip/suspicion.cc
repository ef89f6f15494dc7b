#include "gossip/suspicion.h"

#include <algorithm>
#include <cmath>

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

}  // namespace conclave::gossip
