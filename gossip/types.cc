#include "gossip/types.h"

#include <type_traits>

namespace conclave::gossip {

const char* member_state_name(MemberState state) {
  switch (state) {
    case MemberState::alive: return "alive";
    case MemberState::suspect: return "suspect";
    case MemberState::dead: return "dead";
    case MemberState::left: return "left";
  }
  return "unknown";
}

namespace {

// FlatBuffers stores a string as a 4-byte length, the bytes, a NUL and up to 3 bytes of
// padding, plus the 4-byte offset that points at it: 12 bytes of overhead is a safe bound.
constexpr size_t kStringOverheadBytes = 12;
// A table with a handful of scalar fields: its vtable (4 + 2 per field, at most 7 fields
// here: 18, padded to 20), the table's own 4-byte offset to it, and the scalars with their
// alignment padding (a u64 and a u8 need at most 16). The string offsets are counted with the
// strings.
constexpr size_t kTableOverheadBytes = 40;
// Each message also costs its union type byte and its 4-byte offset in the envelope's two
// vectors, with alignment: 8 is a safe bound.
constexpr size_t kUnionEntryBytes = 8;

size_t string_bound(const std::string& text) { return text.size() + kStringOverheadBytes; }

size_t update_bound(const MemberUpdate& update) {
  // Plus 8: a member update has a second u64 (cluster_id) and the longest vtable.
  return kTableOverheadBytes + 8 + string_bound(update.name) + string_bound(update.address) +
         string_bound(update.metadata) + string_bound(update.from);
}

}  // namespace

size_t encoded_size_bound(const Message& message) {
  return kUnionEntryBytes + std::visit(
      [](const auto& body) -> size_t {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, Ping>) {
          return kTableOverheadBytes + string_bound(body.target);
        } else if constexpr (std::is_same_v<T, Ack> || std::is_same_v<T, Nack> ||
                             std::is_same_v<T, WrongCluster>) {
          return kTableOverheadBytes;
        } else if constexpr (std::is_same_v<T, PingReq>) {
          return kTableOverheadBytes + string_bound(body.target) +
                 string_bound(body.target_address);
        } else if constexpr (std::is_same_v<T, NameConflict>) {
          return kTableOverheadBytes + string_bound(body.name) +
                 string_bound(body.holder_address) + string_bound(body.claimant_address);
        } else if constexpr (std::is_same_v<T, Sync>) {
          size_t total = kTableOverheadBytes + 8 /* vector length and offset */;
          for (const auto& member : body.members) total += 4 + update_bound(member);
          return total;
        } else {
          return update_bound(body);
        }
      },
      message);
}

size_t packet_header_size_bound(const std::string& from) {
  // Root offset, envelope table (version, from, two vectors for the message union), the two
  // vectors' lengths and their alignment. Each message's entries in those vectors are counted
  // in its own encoded_size_bound (kUnionEntryBytes), not reserved here for the largest
  // possible packet (which made a 1,400-byte packet carry 2 typical updates instead of 6).
  return kTableOverheadBytes + string_bound(from) + 24 + 8 /* cluster_id */;
}

size_t packet_size_bound(const Packet& packet) {
  size_t total = packet_header_size_bound(packet.from);
  for (const auto& message : packet.messages) total += encoded_size_bound(message);
  return total;
}

}  // namespace conclave::gossip
