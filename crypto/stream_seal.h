// Sealing one direction of an agent-to-agent TCP connection under a cluster key
// (crypto/keyring.h), with libsodium's secretstream (XChaCha20-Poly1305): every frame is
// authenticated and encrypted, and frames cannot be dropped, reordered or replayed within the
// connection without the receiver noticing.
//
// The connecting side sends a hello as its first frame, then one sealed frame per payload:
//
//   hello = "CNT1" | key id (4 bytes) | secretstream header (24 random bytes) |
//           sealed(sent_at_ms (8 bytes))
//
// The receiver refuses a hello under a key it does not hold, one that does not authenticate,
// and (with a ReplayWindow over the header and send time) a replayed one, so a recorded
// connection cannot be played back. No plaintext peer frame starts with "CNT1" (as a
// FlatBuffers root offset it would point past any frame), which is how a receiver in the
// plaintext-to-encrypted migration tells the two kinds of connection apart.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/datagram_seal.h"
#include "crypto/keyring.h"
#include "crypto/replay_window.h"

namespace conclave::crypto {

constexpr size_t kStreamFrameOverheadBytes = crypto_secretstream_xchacha20poly1305_ABYTES;

class StreamSealer {
 public:
  StreamSealer(const Key& key, int64_t sent_at_ms);
  // The first frame to send.
  const std::string& hello() const { return hello_; }
  // The sealed form of the next frame (kStreamFrameOverheadBytes longer).
  std::string seal(std::string_view payload);

 private:
  crypto_secretstream_xchacha20poly1305_state state_{};
  std::string hello_;
};

// True when a connection's first frame is a hello (whether or not it opens).
bool looks_like_hello(std::string_view frame);

class StreamOpener {
 public:
  struct Opened;
  // Checks a hello; on success the opener for the frames after it. `failure` names why not:
  // an OpenFailure, or a replay verdict.
  static Opened open_hello(const Keyring& keyring, std::string_view hello, ReplayWindow& replays,
                           int64_t now_ms);
  // The payload of the next sealed frame, or nullopt when it does not authenticate (the
  // connection must then be dropped: the stream state is no longer in step).
  std::optional<std::string> open(std::string_view sealed);

 private:
  crypto_secretstream_xchacha20poly1305_state state_{};
};

struct StreamOpener::Opened {
  std::optional<StreamOpener> opener;  // set on success
  KeyId key_id = 0;                    // the key the hello was sealed under (on success)
  std::string failure;                 // set otherwise
};

}  // namespace conclave::crypto
