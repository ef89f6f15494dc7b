// Suspicion timeout: how long a suspect member has to refute before it is declared dead.
#pragma once

#include <cstddef>
#include <cstdint>

namespace conclave::gossip {

// suspicion_multiplier * max(1, log10(alive_members)) * probe_interval_ms, rounded to the
// nearest millisecond (SWIM §4.2 suspicion, scaled with log N as memberlist does so that the
// suspicion has time to reach every member before the timeout fires in a larger cluster).
// `alive_members` counts members that are not dead or left, this node included; 0 is treated
// as 1. Preconditions: suspicion_multiplier > 0, probe_interval_ms > 0.
int64_t suspicion_timeout_ms(double suspicion_multiplier, size_t alive_members,
                             int64_t probe_interval_ms);

}  // namespace conclave::gossip
