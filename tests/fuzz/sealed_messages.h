// The genuine sealed messages of sealed_datagram_fuzz: datagrams, hellos and stream frames
// sealed with fixed keys under a seeded random source, so that the seed writer (seed_corpus.cc)
// and the target make the very same bytes. The target needs them to tell what must open
// (exactly these bytes) from what must not (anything else: a fuzzer cannot forge the tag).
//
// Test programs only: use_deterministic_randomness() makes every nonce and stream header
// predictable, which is the opposite of what sealing needs.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/prng.h"
#include "crypto/datagram_seal.h"
#include "crypto/keyring.h"
#include "crypto/replay_window.h"
#include "crypto/stream_seal.h"

namespace conclave::crypto::fuzz {

// The receiver's clock at the first record of an input.
constexpr int64_t kStartMs = 1'700'000'000'000;
// The receivers' replay windows: the default window, and few enough nonces remembered that a
// handful of records reach the eviction floor.
constexpr int64_t kWindowMs = ReplayWindow::kDefaultWindowMs;
constexpr size_t kMaxRemembered = 4;
// Where a hello's secretstream header (its replay nonce) sits: after the magic and the key id.
constexpr size_t kHelloNonceOffset = 8;

namespace detail {
inline Prng& random_source() {
  static Prng prng(0);
  return prng;
}
inline const char* random_name() { return "conclave fuzz seeds (deterministic)"; }
inline uint32_t random_word() { return static_cast<uint32_t>(random_source().next()); }
inline void random_buf(void* const out, const size_t size) {
  auto* bytes = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(random_source().next());
}
}  // namespace detail

// Replaces libsodium's random source with a seeded one. Must run before anything initialises
// libsodium (crypto::ensure_sodium).
inline void use_deterministic_randomness() {
  static randombytes_implementation implementation{&detail::random_name, &detail::random_word,
                                                   nullptr, nullptr, &detail::random_buf,
                                                   nullptr};
  CONCLAVE_CHECK(randombytes_set_implementation(&implementation) == 0,
                 "libsodium refused the deterministic random source");
}

// Key n: the 32 bytes n, n+1, ... (its id computed as for any key).
inline Key fixed_key(uint8_t n) {
  Key key;
  for (size_t i = 0; i < key.bytes.size(); ++i) key.bytes[i] = static_cast<uint8_t>(n + i);
  auto parsed = parse_key(encode_key(key));
  CONCLAVE_CHECK(parsed.ok(), "a fixed key does not parse");
  return parsed.value();
}

// Keys 1 (primary) and 2; key 3 is a stranger's.
inline Keyring fixed_keyring() {
  Keyring keyring;
  CONCLAVE_CHECK(keyring.install(fixed_key(1)).ok() && keyring.install(fixed_key(2)).ok(),
                 "the fixed keys do not install");
  return keyring;
}

struct SealedDatagram {
  std::string bytes;
  std::string payload;
  int64_t sent_at_ms = 0;
};

struct SealedStream {
  KeyId key_id = 0;
  int64_t sent_at_ms = 0;
  std::string hello;
  std::vector<std::string> frames;  // sealed, in order
  std::vector<std::string> payloads;
};

struct SealedMessages {
  std::vector<SealedDatagram> datagrams;  // open under fixed_keyring()
  std::vector<SealedStream> streams;      // their hellos open under fixed_keyring()
  std::vector<std::string> strangers;     // a datagram and a hello under key 3: never open
};

// Deterministic: the same bytes on every call and in every program, provided
// use_deterministic_randomness() ran first.
inline SealedMessages make_sealed_messages() {
  const Key ours = fixed_key(1);
  const Key also_ours = fixed_key(2);
  const Key stranger = fixed_key(3);  // libsodium is initialised from here on
  detail::random_source() = Prng(2024);

  const std::string long_payload(300, 'g');
  SealedMessages out;
  auto datagram = [&](const Key& key, std::string payload, int64_t sent_at_ms) {
    out.datagrams.push_back({seal_datagram(key, payload, sent_at_ms), payload, sent_at_ms});
  };
  datagram(ours, "", kStartMs);
  datagram(ours, "a gossip packet", kStartMs);
  datagram(ours, long_payload, kStartMs - kWindowMs / 2);
  datagram(ours, "sent long ago", kStartMs - 2 * kWindowMs);
  datagram(ours, "sent in the future", kStartMs + 2 * kWindowMs);
  datagram(also_ours, "under the second key", kStartMs + 1'000);
  datagram(also_ours, long_payload, kStartMs + 30'000);
  datagram(also_ours, "sent a little later", kStartMs + kWindowMs + 10'000);

  auto stream = [&](const Key& key, int64_t sent_at_ms, std::vector<std::string> payloads) {
    StreamSealer sealer(key, sent_at_ms);
    SealedStream sealed{key.id, sent_at_ms, sealer.hello(), {}, payloads};
    for (const std::string& payload : payloads) sealed.frames.push_back(sealer.seal(payload));
    out.streams.push_back(std::move(sealed));
  };
  stream(ours, kStartMs, {"", "first frame", long_payload});
  stream(also_ours, kStartMs - 10'000, {"one", "two"});
  stream(ours, kStartMs - 2 * kWindowMs, {"too old to open"});
  stream(ours, kStartMs + kWindowMs / 2, {"x"});

  out.strangers.push_back(seal_datagram(stranger, "from another cluster", kStartMs));
  out.strangers.push_back(StreamSealer(stranger, kStartMs).hello());
  return out;
}

}  // namespace conclave::crypto::fuzz
