#include "agent/duration.h"

#include <cctype>
#include <limits>

namespace conclave::agent {

Result<int64_t> parse_duration_ms(const std::string& text) {
  auto invalid = [&text] {
    return make_error(ErrorCode::invalid_argument,
                      "'" + text + "' is not a duration; write a number and a unit, e.g. "
                      "500ms, 10s, 2m or 1h");
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 12) return invalid();
  const int64_t number = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  int64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60 * 1000;
  else if (unit == "h") scale = 3600 * 1000;
  else return invalid();
  if (number > std::numeric_limits<int64_t>::max() / scale) return invalid();
  return number * scale;
}

}  // namespace conclave::agent
