// Random structured values for the codec tests (seeded, so every failure replays).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/prng.h"
#include "gossip/types.h"
#include "raft/types.h"

namespace conclave::wire::test {

// Arbitrary bytes, NULs included: strings on the wire are length-prefixed, not C strings.
inline std::string random_bytes(Prng& prng, size_t length) {
  std::string text(length, '\0');
  for (char& c : text) c = static_cast<char>(prng.below(256));
  return text;
}

// Mostly short, sometimes exactly at the limit, otherwise anywhere up to it.
inline std::string random_string(Prng& prng, size_t max_length) {
  const uint64_t pick = prng.below(8);
  size_t length = 0;
  if (pick == 0) {
    length = 0;
  } else if (pick == 1) {
    length = max_length;
  } else if (pick < 5) {
    length = prng.below(std::min<size_t>(max_length, 16) + 1);
  } else {
    length = prng.below(max_length + 1);
  }
  return random_bytes(prng, length);
}

inline uint64_t random_u64(Prng& prng) {
  // Small values are omitted as defaults by FlatBuffers, large ones are not: cover both.
  switch (prng.below(3)) {
    case 0: return 0;
    case 1: return prng.below(1000);
    default: return prng.next();
  }
}

inline gossip::MemberUpdate random_update(Prng& prng) {
  gossip::MemberUpdate update;
  update.name = random_string(prng, gossip::kMaxNameBytes);
  update.address = random_string(prng, gossip::kMaxAddressBytes);
  update.incarnation = random_u64(prng);
  update.state = static_cast<gossip::MemberState>(prng.below(4));
  update.metadata = random_string(prng, gossip::kMaxMetadataBytes);
  update.from = random_string(prng, gossip::kMaxNameBytes);
  return update;
}

inline gossip::Message random_gossip_message(Prng& prng) {
  switch (prng.below(5)) {
    case 0: return gossip::Ping{random_u64(prng), random_string(prng, gossip::kMaxNameBytes)};
    case 1: return gossip::Ack{random_u64(prng)};
    case 2:
      return gossip::PingReq{random_u64(prng), random_string(prng, gossip::kMaxNameBytes),
                             random_string(prng, gossip::kMaxAddressBytes)};
    case 3: {
      gossip::Sync sync;
      sync.is_reply = prng.chance(0.5);
      const uint64_t count = prng.below(6);
      for (uint64_t i = 0; i < count; ++i) sync.members.push_back(random_update(prng));
      return sync;
    }
    default: return random_update(prng);
  }
}

inline raft::Message random_raft_message(Prng& prng, size_t max_entries, size_t max_data) {
  raft::Message message;
  message.type = static_cast<raft::MessageType>(prng.below(5));
  message.from = random_u64(prng);
  message.to = random_u64(prng);
  message.term = random_u64(prng);
  message.log_index = random_u64(prng);
  message.log_term = random_u64(prng);
  message.commit = random_u64(prng);
  message.reject = prng.chance(0.5);
  message.reject_hint = random_u64(prng);
  message.acknowledged_index = random_u64(prng);
  message.read_round = random_u64(prng);
  const uint64_t count = prng.below(max_entries + 1);
  for (uint64_t i = 0; i < count; ++i) {
    message.entries.push_back(
        raft::Entry{random_u64(prng), random_u64(prng), random_string(prng, max_data)});
  }
  return message;
}

// Flips, overwrites, inserts or deletes a few bytes: hostile input that is close to valid, so
// it reaches deeper into the decoder than pure noise.
inline std::string mutate(Prng& prng, std::string bytes) {
  const uint64_t edits = 1 + prng.below(4);
  for (uint64_t i = 0; i < edits; ++i) {
    switch (prng.below(4)) {
      case 0:
        if (!bytes.empty()) bytes[prng.below(bytes.size())] ^= static_cast<char>(1 << prng.below(8));
        break;
      case 1:
        if (!bytes.empty()) bytes[prng.below(bytes.size())] = static_cast<char>(prng.below(256));
        break;
      case 2:
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(prng.below(bytes.size() + 1)),
                     static_cast<char>(prng.below(256)));
        break;
      default:
        if (!bytes.empty()) bytes.erase(prng.below(bytes.size()), 1);
        break;
    }
  }
  return bytes;
}

}  // namespace conclave::wire::test
