// The only source of randomness the pure cores may use: a small seeded generator
// (xoshiro256** seeded through splitmix64). Same seed, same sequence, on every machine, so a
// simulation seed replays a whole run.
#pragma once

#include <cstdint>

#include "common/check.h"

namespace conclave {

class Prng {
 public:
  explicit Prng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound). bound must be > 0.
  uint64_t below(uint64_t bound) {
    CONCLAVE_CHECK(bound > 0, "Prng::below needs a positive bound");
    return next() % bound;  // the modulo bias is negligible for the small bounds used here
  }

  // Uniform in [low, high]. Requires low <= high.
  int64_t between(int64_t low, int64_t high) {
    CONCLAVE_CHECK(low <= high, "Prng::between needs low <= high");
    return low + static_cast<int64_t>(below(static_cast<uint64_t>(high - low) + 1));
  }

  // True with the given probability in [0, 1].
  bool chance(double probability) {
    return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0) < probability;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

}  // namespace conclave
