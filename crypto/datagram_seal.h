// Sealing one gossip datagram: authenticated encryption under a cluster key (crypto/keyring.h).
//
//   "CNE1" | key id (4 bytes) | nonce (24 random bytes) | XChaCha20-Poly1305(
//       sent_at_ms (8 bytes) | payload )                 with "CNE1" | key id as associated data
//
// 56 bytes more than the payload. The send time lets a receiver refuse old packets, and the
// random nonce lets it refuse a packet it has seen before (crypto/replay_window.h). No
// plaintext gossip packet starts with "CNE1" (as a FlatBuffers root offset it would point far
// past any datagram), so a receiver tells the two apart by the first four bytes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/keyring.h"

namespace conclave::crypto {

constexpr size_t kNonceBytes = 24;
constexpr size_t kDatagramOverheadBytes = 4 + 4 + kNonceBytes + 8 + 16;

using Nonce = std::array<uint8_t, kNonceBytes>;

std::string seal_datagram(const Key& key, std::string_view payload, int64_t sent_at_ms);

// True when `bytes` starts like a sealed datagram (the magic), whether or not it opens.
bool looks_sealed(std::string_view bytes);

enum class OpenFailure : uint8_t {
  not_sealed,   // no magic: a plaintext packet
  malformed,    // too short to be sealed
  unknown_key,  // sealed under a key this keyring does not hold
  forged,       // the authentication tag does not match: tampered, or not from a key holder
};
const char* open_failure_name(OpenFailure failure);

struct OpenedDatagram {
  std::optional<OpenFailure> failure;  // set: nothing else is
  std::string payload;
  int64_t sent_at_ms = 0;
  Nonce nonce{};
};

OpenedDatagram open_datagram(const Keyring& keyring, std::string_view bytes);

}  // namespace conclave::crypto
