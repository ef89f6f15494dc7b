// A fenced resource for the lock workload: a counter, as a storage service outside the cluster
// would keep it, that takes every request with the caller's fencing token and refuses any
// token smaller than the largest it has seen (reads count: a holder that read under token 5
// cannot write after token 6 has been used). A holder increments it by reading v and writing
// v + 1; the log of accepted writes goes to check_lock_history (lock_history.h).
//
// Thread-safe (the workload's clients share one). No I/O, no clock.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "check/lock_history.h"

namespace conclave::check {

class FencedCounter {
 public:
  // The value, or nullopt when `token` is older than one already seen (refused).
  std::optional<int64_t> read(int client, uint64_t token);
  // false when `token` is older than one already seen (refused, nothing written).
  bool write(int client, uint64_t token, int64_t value);

  std::vector<FencedWrite> accepted_writes() const;
  uint64_t refused() const;

 private:
  mutable std::mutex mutex_;
  uint64_t highest_token_ = 0;
  int64_t value_ = 0;
  uint64_t refused_ = 0;
  std::vector<FencedWrite> accepted_;
};

}  // namespace conclave::check
