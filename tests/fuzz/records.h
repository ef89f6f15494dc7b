// Shared by the libFuzzer targets that take a sequence of messages (state_machine_fuzz,
// sealed_datagram_fuzz) and by the seed writer: one input is a sequence of records, each a
// 2-byte little-endian length and that many bytes. A last record longer than what is left takes
// what is left, so every input splits into records and none is wasted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"

namespace conclave::fuzz {

constexpr size_t kMaxRecordBytes = 0xffff;

inline std::vector<std::string_view> split_records(std::string_view input) {
  std::vector<std::string_view> records;
  size_t at = 0;
  while (at + 2 <= input.size()) {
    const size_t length = static_cast<uint8_t>(input[at]) |
                          static_cast<size_t>(static_cast<uint8_t>(input[at + 1])) << 8;
    at += 2;
    const size_t taken = length < input.size() - at ? length : input.size() - at;
    records.push_back(input.substr(at, taken));
    at += taken;
  }
  return records;
}

// The inverse, for seeds.
inline void append_record(std::string& input, std::string_view bytes) {
  CONCLAVE_CHECK(bytes.size() <= kMaxRecordBytes, "a record holds at most 65535 bytes");
  input.push_back(static_cast<char>(bytes.size() & 0xff));
  input.push_back(static_cast<char>(bytes.size() >> 8));
  input.append(bytes);
}

}  // namespace conclave::fuzz
