#include "store/rollback.h"

#include <cstring>

namespace conclave::store {
namespace {

constexpr char kMagic[8] = {'C', 'N', 'C', 'L', 'W', 'M', 'K', '2'};
constexpr size_t kFields = 3;
constexpr size_t kEncodedBytes = sizeof(kMagic) + 8 * kFields + 8;

uint64_t checksum(const char* data, size_t size) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (size_t i = 0; i < size; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

void put_u64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t get_u64(const char* data) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

}  // namespace

std::string describe_rollback(const Watermark& watermark, const RecoveredState& loaded) {
  if (loaded.persisted_batches >= watermark.batches) return "";
  return "the database holds " + std::to_string(loaded.persisted_batches) +
         " persisted batches (term " + std::to_string(loaded.hard_state.term) + ", commit " +
         std::to_string(loaded.hard_state.commit) + ") but this server once persisted " +
         std::to_string(watermark.batches) + " (term " + std::to_string(watermark.term) +
         ", commit " + std::to_string(watermark.commit) +
         "): its write-ahead log was damaged or rolled back, so the database is older than "
         "what this server told others. It must not vote or acknowledge on it. Fix: stop the "
         "agent, move its data folder away, and start it again so that it rejoins as a new "
         "server (then remove the old one from the cluster)";
}

std::string encode_watermark(const Watermark& watermark) {
  std::string out(kMagic, sizeof(kMagic));
  put_u64(out, watermark.batches);
  put_u64(out, watermark.term);
  put_u64(out, watermark.commit);
  put_u64(out, checksum(out.data(), out.size()));
  return out;
}

std::optional<Watermark> decode_watermark(const std::string& bytes) {
  if (bytes.size() != kEncodedBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return std::nullopt;
  }
  const size_t body = kEncodedBytes - 8;
  if (get_u64(bytes.data() + body) != checksum(bytes.data(), body)) return std::nullopt;
  const char* field = bytes.data() + sizeof(kMagic);
  return Watermark{get_u64(field), get_u64(field + 8), get_u64(field + 16)};
}

}  // namespace conclave::store
