// Durations on the command line: "500ms", "10s", "2m", "1h" (a number and a unit, as Consul
// and Go write them). A bare number is refused: "10" could mean seconds or milliseconds.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace conclave::agent {

Result<int64_t> parse_duration_ms(const std::string& text);

}  // namespace conclave::agent
