#include "crypto/stream_seal.h"

#include <cstring>

#include "crypto/sodium_init.h"

namespace conclave::crypto {
namespace {

constexpr char kMagic[4] = {'C', 'N', 'T', '1'};
constexpr size_t kHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
static_assert(kHeaderBytes == kNonceBytes, "the header doubles as the replay nonce");
constexpr size_t kHelloBytes = 4 + 4 + kHeaderBytes + 8 + kStreamFrameOverheadBytes;

}  // namespace

StreamSealer::StreamSealer(const Key& key, int64_t sent_at_ms) {
  ensure_sodium();
  hello_.assign(kHelloBytes, '\0');
  auto* out = reinterpret_cast<uint8_t*>(hello_.data());
  std::memcpy(out, kMagic, sizeof kMagic);
  std::memcpy(out + 4, &key.id, sizeof key.id);
  crypto_secretstream_xchacha20poly1305_init_push(&state_, out + 8, key.bytes.data());
  uint8_t when[8];
  for (int i = 0; i < 8; ++i) when[i] = static_cast<uint8_t>(static_cast<uint64_t>(sent_at_ms) >> (8 * i));
  crypto_secretstream_xchacha20poly1305_push(&state_, out + 8 + kHeaderBytes, nullptr, when,
                                             sizeof when, nullptr, 0, 0);
}

std::string StreamSealer::seal(std::string_view payload) {
  std::string sealed(payload.size() + kStreamFrameOverheadBytes, '\0');
  crypto_secretstream_xchacha20poly1305_push(
      &state_, reinterpret_cast<uint8_t*>(sealed.data()), nullptr,
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), nullptr, 0, 0);
  return sealed;
}

bool looks_like_hello(std::string_view frame) {
  return frame.size() >= sizeof kMagic && std::memcmp(frame.data(), kMagic, sizeof kMagic) == 0;
}

StreamOpener::Opened StreamOpener::open_hello(const Keyring& keyring, std::string_view hello,
                                              ReplayWindow& replays, int64_t now_ms) {
  ensure_sodium();
  Opened result;
  if (!looks_like_hello(hello)) {
    result.failure = open_failure_name(OpenFailure::not_sealed);
    return result;
  }
  if (hello.size() != kHelloBytes) {
    result.failure = open_failure_name(OpenFailure::malformed);
    return result;
  }
  const auto* in = reinterpret_cast<const uint8_t*>(hello.data());
  KeyId id = 0;
  std::memcpy(&id, in + 4, sizeof id);
  const Key* key = keyring.find(id);
  if (key == nullptr) {
    result.failure = open_failure_name(OpenFailure::unknown_key);
    return result;
  }
  StreamOpener opener;
  uint8_t when[8];
  unsigned long long length = 0;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&opener.state_, in + 8,
                                                      key->bytes.data()) != 0 ||
      crypto_secretstream_xchacha20poly1305_pull(&opener.state_, when, &length, nullptr,
                                                 in + 8 + kHeaderBytes,
                                                 8 + kStreamFrameOverheadBytes, nullptr,
                                                 0) != 0 ||
      length != sizeof when) {
    result.failure = open_failure_name(OpenFailure::forged);
    return result;
  }
  uint64_t sent_at = 0;
  for (int i = 0; i < 8; ++i) sent_at |= static_cast<uint64_t>(when[i]) << (8 * i);
  Nonce header;
  std::memcpy(header.data(), in + 8, header.size());
  const ReplayWindow::Verdict verdict =
      replays.check(header, static_cast<int64_t>(sent_at), now_ms);
  if (verdict != ReplayWindow::Verdict::fresh) {
    result.failure = std::string("hello ") + verdict_name(verdict);
    return result;
  }
  result.opener = opener;
  result.key_id = id;
  return result;
}

std::optional<std::string> StreamOpener::open(std::string_view sealed) {
  if (sealed.size() < kStreamFrameOverheadBytes) return std::nullopt;
  std::string payload(sealed.size() - kStreamFrameOverheadBytes, '\0');
  unsigned long long length = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(
          &state_, reinterpret_cast<uint8_t*>(payload.data()), &length, nullptr,
          reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size(), nullptr, 0) != 0) {
    return std::nullopt;
  }
  payload.resize(length);
  return payload;
}

}  // namespace conclave::crypto
