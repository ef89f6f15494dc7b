// FNV-1a 64: a stable, dependency-free hash for ids derived from names, state hashes and
// checksums. Same input, same value on every machine and build.
#pragma once

#include <cstdint>
#include <string_view>

namespace conclave {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;

inline uint64_t fnv1a64(std::string_view bytes, uint64_t seed = kFnvOffsetBasis) {
  uint64_t hash = seed;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace conclave
