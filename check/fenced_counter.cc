#include "check/fenced_counter.h"

#include <algorithm>

namespace conclave::check {

std::optional<int64_t> FencedCounter::read(int /*client*/, uint64_t token) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (token < highest_token_) {
    ++refused_;
    return std::nullopt;
  }
  highest_token_ = token;
  return value_;
}

bool FencedCounter::write(int client, uint64_t token, int64_t value) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (token < highest_token_) {
    ++refused_;
    return false;
  }
  highest_token_ = token;
  value_ = value;
  accepted_.push_back(FencedWrite{client, token, value});
  return true;
}

std::vector<FencedWrite> FencedCounter::accepted_writes() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return accepted_;
}

uint64_t FencedCounter::refused() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return refused_;
}

}  // namespace conclave::check
