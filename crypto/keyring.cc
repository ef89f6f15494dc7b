#include "crypto/keyring.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "crypto/sodium_init.h"

namespace conclave::crypto {
namespace {

KeyId id_of(const std::array<uint8_t, kKeyBytes>& bytes) {
  // Keyed by the key itself, over a fixed label: the id is a digest, never the key's bytes.
  static constexpr char kLabel[] = "conclave key id";
  uint8_t digest[crypto_generichash_BYTES_MIN];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const uint8_t*>(kLabel),
                     sizeof kLabel - 1, bytes.data(), bytes.size());
  KeyId id = 0;
  std::memcpy(&id, digest, sizeof id);
  return id;
}

std::string short_form(const Key& key) { return encode_key(key).substr(0, 8) + "..."; }

}  // namespace

Result<Key> parse_key(std::string_view base64) {
  ensure_sodium();
  Key key;
  size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(key.bytes.data(), key.bytes.size(), base64.data(), base64.size(),
                        nullptr, &length, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != base64.data() + base64.size() || length != kKeyBytes) {
    return make_error(ErrorCode::invalid_argument,
                      "a key is 32 bytes in standard base64 (44 characters ending in '='); "
                      "make one with `conclave keygen`");
  }
  key.id = id_of(key.bytes);
  return key;
}

std::string encode_key(const Key& key) {
  ensure_sodium();
  char text[sodium_base64_ENCODED_LEN(kKeyBytes, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(text, sizeof text, key.bytes.data(), key.bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  return text;
}

Key generate_key() {
  ensure_sodium();
  Key key;
  randombytes_buf(key.bytes.data(), key.bytes.size());
  key.id = id_of(key.bytes);
  return key;
}

Status Keyring::install(const Key& key) {
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) return Status();
  if (find(key.id) != nullptr) {
    return make_error(ErrorCode::conflict,
                      "another installed key has the same id as " + short_form(key) +
                          "; generate a new key");
  }
  if (keys_.size() >= kMaxKeys) {
    return make_error(ErrorCode::too_large, "the keyring holds at most " +
                                                std::to_string(kMaxKeys) +
                                                " keys; remove an old one first");
  }
  keys_.push_back(key);
  return Status();
}

Status Keyring::use(const Key& key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) {
    return make_error(ErrorCode::not_found, "key " + short_form(key) +
                                                " is not installed; install it first (on "
                                                "every agent)");
  }
  std::rotate(keys_.begin(), it, it + 1);
  return Status();
}

Status Keyring::remove(const Key& key) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return Status();
  if (it == keys_.begin()) {
    return make_error(ErrorCode::conflict, "key " + short_form(key) +
                                               " is the primary key; make another key "
                                               "primary (`keyring use`) before removing it");
  }
  keys_.erase(it);
  return Status();
}

const Key& Keyring::primary() const {
  CONCLAVE_CHECK(!keys_.empty(), "primary() of an empty keyring");
  return keys_.front();
}

const Key* Keyring::find(KeyId id) const {
  for (const Key& key : keys_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

}  // namespace conclave::crypto
