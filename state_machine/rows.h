// How the state machine's records map onto store/'s rows: one space per service, keys in an
// order-preserving encoding, values encoded by wire/ (state.fbs).
#pragma once

#include <cstdint>
#include <string>

namespace conclave::state {

enum class RowSpace : uint32_t {
  meta = 1,      // one row: position, kv revision, time, last fencing token
  kv = 2,        // key -> KvEntry
  sessions = 3,  // session id -> SessionRecord
  locks = 4,     // lock name -> LockRecord
  dedup = 5,     // client id -> DedupClient
};

// 8 bytes, big-endian: rows sort by number.
inline std::string number_key(uint64_t value) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return key;
}

inline uint64_t number_from_key(const std::string& key) {
  uint64_t value = 0;
  for (unsigned char byte : key) value = (value << 8) | byte;
  return value;
}

}  // namespace conclave::state
