// LogLimiter: lets at most `per_window` log lines of one kind through per window, so that a
// flood of bad input is counted in full but logged only a little.
#pragma once

#include <cstdint>

namespace conclave::agent {

class LogLimiter {
 public:
  LogLimiter(int64_t window_ms, int per_window) : window_ms_(window_ms), per_window_(per_window) {}

  // True when a line may be logged now; `suppressed()` tells how many were held back since.
  bool allow(int64_t now_ms) {
    if (now_ms - window_start_ms_ >= window_ms_) {
      window_start_ms_ = now_ms;
      used_ = 0;
    }
    if (used_ < per_window_) {
      ++used_;
      return true;
    }
    ++suppressed_;
    return false;
  }
  uint64_t take_suppressed() {
    const uint64_t count = suppressed_;
    suppressed_ = 0;
    return count;
  }

 private:
  int64_t window_ms_;
  int per_window_;
  int64_t window_start_ms_ = INT64_MIN / 2;
  int used_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace conclave::agent
