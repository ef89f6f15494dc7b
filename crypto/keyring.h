// Keyring: the cluster's shared secret keys, which authenticate and encrypt gossip datagrams
// and agent-to-agent TCP (crypto/datagram_seal.h, crypto/stream_seal.h).
//
// Every agent of a cluster holds the same keys; one is primary: everything is sent under it,
// and anything sent under any installed key is accepted. That is what makes rotation possible
// without downtime (as `serf keys`): install a new key everywhere, make it primary everywhere,
// then remove the old one.
//
// A key is 32 random bytes, written in standard base64 (44 characters), as `conclave keygen`
// prints. Its id (4 bytes of a keyed BLAKE2b digest of the key) goes in the clear with each
// sealed message so the receiver picks the key without trying them all; it reveals nothing
// about the key.
//
// The cryptography is libsodium's (XChaCha20-Poly1305, BLAKE2b): nothing here is hand-made.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace conclave::crypto {

constexpr size_t kKeyBytes = 32;
constexpr size_t kMaxKeys = 16;

using KeyId = uint32_t;

struct Key {
  std::array<uint8_t, kKeyBytes> bytes{};
  KeyId id = 0;
  bool operator==(const Key&) const = default;
};

// Parses a base64 key; the error says what a key looks like and how to make one.
Result<Key> parse_key(std::string_view base64);
std::string encode_key(const Key& key);
// 32 bytes from the operating system's random source.
Key generate_key();

class Keyring {
 public:
  // Adds `key` (installing one already there is fine). The first key installed becomes primary.
  Status install(const Key& key);
  // Makes an installed key the primary.
  Status use(const Key& key);
  // Removes an installed key other than the primary.
  Status remove(const Key& key);

  bool empty() const { return keys_.empty(); }
  // Precondition: !empty().
  const Key& primary() const;
  // The installed key with this id, or nullptr.
  const Key* find(KeyId id) const;
  // Every key, primary first (what is persisted and listed).
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;  // keys_[0] is the primary
};

}  // namespace conclave::crypto
