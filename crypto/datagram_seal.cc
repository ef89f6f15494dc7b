#include "crypto/datagram_seal.h"

#include <sodium.h>

#include <cstring>

#include "crypto/sodium_init.h"

namespace conclave::crypto {
namespace {

constexpr char kMagic[4] = {'C', 'N', 'E', '1'};
constexpr size_t kHeaderBytes = 4 + 4;  // magic and key id: the associated data
constexpr size_t kTimeBytes = 8;

void put_u64(uint8_t* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t get_u64(const uint8_t* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}

}  // namespace

const char* open_failure_name(OpenFailure failure) {
  switch (failure) {
    case OpenFailure::not_sealed: return "not sealed (plaintext)";
    case OpenFailure::malformed: return "malformed";
    case OpenFailure::unknown_key: return "sealed under a key not in the keyring";
    case OpenFailure::forged: return "failed authentication (forged, tampered or wrong key)";
  }
  return "unknown";
}

bool looks_sealed(std::string_view bytes) {
  return bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
}

std::string seal_datagram(const Key& key, std::string_view payload, int64_t sent_at_ms) {
  ensure_sodium();
  std::string out(kDatagramOverheadBytes + payload.size(), '\0');
  auto* bytes = reinterpret_cast<uint8_t*>(out.data());
  std::memcpy(bytes, kMagic, sizeof kMagic);
  std::memcpy(bytes + 4, &key.id, sizeof key.id);
  uint8_t* nonce = bytes + kHeaderBytes;
  randombytes_buf(nonce, kNonceBytes);
  std::string plain(kTimeBytes + payload.size(), '\0');
  put_u64(reinterpret_cast<uint8_t*>(plain.data()), static_cast<uint64_t>(sent_at_ms));
  std::memcpy(plain.data() + kTimeBytes, payload.data(), payload.size());
  unsigned long long sealed_length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonceBytes, &sealed_length, reinterpret_cast<const uint8_t*>(plain.data()),
      plain.size(), bytes, kHeaderBytes, nullptr, nonce, key.bytes.data());
  out.resize(kHeaderBytes + kNonceBytes + sealed_length);
  return out;
}

OpenedDatagram open_datagram(const Keyring& keyring, std::string_view bytes) {
  ensure_sodium();
  OpenedDatagram opened;
  if (!looks_sealed(bytes)) {
    opened.failure = OpenFailure::not_sealed;
    return opened;
  }
  if (bytes.size() < kDatagramOverheadBytes) {
    opened.failure = OpenFailure::malformed;
    return opened;
  }
  const auto* in = reinterpret_cast<const uint8_t*>(bytes.data());
  KeyId id = 0;
  std::memcpy(&id, in + 4, sizeof id);
  const Key* key = keyring.find(id);
  if (key == nullptr) {
    opened.failure = OpenFailure::unknown_key;
    return opened;
  }
  const uint8_t* nonce = in + kHeaderBytes;
  const uint8_t* sealed = nonce + kNonceBytes;
  const size_t sealed_length = bytes.size() - kHeaderBytes - kNonceBytes;
  std::string plain(sealed_length, '\0');
  unsigned long long plain_length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<uint8_t*>(plain.data()), &plain_length, nullptr, sealed,
          sealed_length, in, kHeaderBytes, nonce, key->bytes.data()) != 0 ||
      plain_length < kTimeBytes) {
    opened.failure = OpenFailure::forged;
    return opened;
  }
  opened.sent_at_ms = static_cast<int64_t>(get_u64(reinterpret_cast<uint8_t*>(plain.data())));
  opened.payload = plain.substr(kTimeBytes, plain_length - kTimeBytes);
  std::memcpy(opened.nonce.data(), nonce, kNonceBytes);
  return opened;
}

}  // namespace conclave::crypto
