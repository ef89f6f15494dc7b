// Gossip packet codec: round trips, the size bound the core relies on, hostile input.
#include <catch2/catch.hpp>

#include <numeric>

#include "tests/wire/wire_test_support.h"
#include "wire/codec.h"
#include "wire/gossip_generated.h"

namespace conclave::wire {
namespace {

namespace fbg = fb::gossip;
using namespace std::string_literals;

size_t size_bound(const gossip::Packet& packet) {
  size_t bound = gossip::packet_header_size_bound(packet.from);
  for (const auto& message : packet.messages) bound += gossip::encoded_size_bound(message);
  return bound;
}

gossip::MemberUpdate full_update() {
  gossip::MemberUpdate update;
  update.name = "node\0b"s;
  update.address = "10.0.0.2:7946";
  update.incarnation = 0xfedcba9876543210ULL;
  update.state = gossip::MemberState::suspect;
  update.metadata = std::string("\x01\x00server\xff", 9);
  update.from = "node-c";
  update.cluster_id = 0xabcdef0123456789ULL;
  return update;
}

gossip::Packet full_packet() {
  gossip::Packet packet;
  packet.from = "node-a";
  packet.messages.push_back(gossip::Ping{UINT64_MAX, "node-b"});
  packet.messages.push_back(gossip::Ping{1, ""});  // probing a seed whose name is unknown
  packet.messages.push_back(gossip::Ack{42});
  packet.messages.push_back(gossip::PingReq{7, "node-d", "10.0.0.4:7946"});
  packet.messages.push_back(gossip::PingReq{8, "node-e", "10.0.0.5:7946", true});
  packet.messages.push_back(gossip::Nack{9});
  packet.messages.push_back(gossip::NameConflict{"node-x", "10.0.0.7:7946", "10.0.0.8:7946"});
  packet.messages.push_back(gossip::WrongCluster{UINT64_MAX});
  packet.cluster_id = 0x1234567890abcdefULL;
  gossip::Sync sync;
  sync.is_reply = true;
  sync.members.push_back(full_update());
  sync.members.push_back(gossip::MemberUpdate{});  // all defaults, empty strings
  packet.messages.push_back(sync);
  packet.messages.push_back(gossip::Sync{});
  packet.messages.push_back(full_update());
  gossip::MemberUpdate left = full_update();
  left.state = gossip::MemberState::left;
  packet.messages.push_back(left);
  return packet;
}

// Builds an envelope by hand, for input our encoder would never produce.
struct EnvelopeBuilder {
  flatbuffers::FlatBufferBuilder builder;
  std::vector<fbg::GossipMessage> types;
  std::vector<flatbuffers::Offset<void>> values;

  void add(fbg::GossipMessage type, flatbuffers::Offset<void> value) {
    types.push_back(type);
    values.push_back(value);
  }
  void add_ack() { add(fbg::GossipMessage::Ack, fbg::CreateAck(builder, 1).Union()); }

  std::string finish(uint16_t version = kProtocolVersion) {
    const auto from = builder.CreateString("node-a");
    const auto types_vector = builder.CreateVector(types);
    const auto values_vector = builder.CreateVector(values);
    builder.Finish(fbg::CreateGossipEnvelope(builder, version, from, types_vector, values_vector));
    return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                       builder.GetSize());
  }
};

void require_error(const Result<gossip::Packet>& result, ErrorCode code,
                   const std::string& message_part) {
  REQUIRE_FALSE(result.ok());
  INFO(result.error().message);
  CHECK(result.error().code == code);
  CHECK_THAT(result.error().message, Catch::Contains(message_part));
}

TEST_CASE("gossip: a packet with every message type and field round-trips") {
  const gossip::Packet packet = full_packet();
  const std::string encoded = encode_gossip_packet(packet);
  CHECK(encoded.size() <= size_bound(packet));
  CHECK(encoded.size() <= kMaxGossipPacketBytes);
  const auto decoded = decode_gossip_packet(encoded);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == packet);
}

TEST_CASE("gossip: an empty packet round-trips") {
  const gossip::Packet packet;
  const auto decoded = decode_gossip_packet(encode_gossip_packet(packet));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == packet);
}

TEST_CASE("gossip: decoding works from an unaligned buffer") {
  const std::string encoded = encode_gossip_packet(full_packet());
  const std::string shifted = "x" + encoded;
  const auto decoded = decode_gossip_packet(std::string_view(shifted).substr(1));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == full_packet());
}

TEST_CASE("gossip: 2000 random packets stay within the size bound and round-trip") {
  Prng prng(0x9055'1b00);
  int fitted = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    gossip::Packet packet;
    packet.from = test::random_string(prng, gossip::kMaxNameBytes);
    if (iteration % 2 == 0) {
      // As the core fills a packet: add messages while the bound says they fit.
      for (int attempt = 0; attempt < 200 && packet.messages.size() < gossip::kMaxMessagesPerPacket;
           ++attempt) {
        gossip::Message message = test::random_gossip_message(prng);
        if (size_bound(packet) + gossip::encoded_size_bound(message) <= kMaxGossipPacketBytes) {
          packet.messages.push_back(std::move(message));
        }
      }
    } else {
      const uint64_t count = prng.below(gossip::kMaxMessagesPerPacket + 1);
      for (uint64_t i = 0; i < count; ++i) {
        packet.messages.push_back(test::random_gossip_message(prng));
      }
    }
    INFO("iteration " << iteration);
    const std::string encoded = encode_gossip_packet(packet);
    REQUIRE(encoded.size() <= size_bound(packet));
    const auto decoded = decode_gossip_packet(encoded);
    if (encoded.size() <= kMaxGossipPacketBytes) {
      REQUIRE(decoded.ok());
      REQUIRE(decoded.value() == packet);
      ++fitted;
    } else {
      REQUIRE_FALSE(decoded.ok());
      REQUIRE(decoded.error().code == ErrorCode::too_large);
    }
  }
  CHECK(fitted >= 1000);  // every packet filled by the bound fits
}

// Messages whose encoding is mostly overhead: empty strings and scalars that are not defaults.
gossip::Message overhead_message(int kind, size_t index) {
  switch (kind) {
    case 0: return gossip::Ack{UINT64_MAX};
    case 1: return gossip::Ping{UINT64_MAX, ""};
    case 2: return gossip::PingReq{UINT64_MAX, "", "", true};
    case 5: return gossip::Nack{UINT64_MAX};
    case 6: return gossip::NameConflict{"", "", ""};
    case 7: return gossip::WrongCluster{UINT64_MAX};
    case 3: return gossip::Sync{true, std::vector<gossip::MemberUpdate>(3)};
    default: {
      gossip::MemberUpdate update;
      update.incarnation = UINT64_MAX;
      update.cluster_id = UINT64_MAX;
      update.state = gossip::MemberState::dead;
      update.name = std::string(1 + index % 4, 'n');  // lengths that need string padding
      return update;
    }
  }
}

TEST_CASE("gossip: worst-case overhead packets stay within the size bound") {
  for (int kind = 0; kind < 8; ++kind) {
    gossip::Packet packet;
    packet.from = std::string(gossip::kMaxNameBytes, 'f');
    packet.cluster_id = UINT64_MAX;
    for (size_t i = 0; i < gossip::kMaxMessagesPerPacket; ++i) {
      packet.messages.push_back(overhead_message(kind, i));
    }
    INFO("kind " << kind);
    CHECK(encode_gossip_packet(packet).size() <= size_bound(packet));
  }
}

TEST_CASE("gossip: empty and oversize buffers are rejected") {
  require_error(decode_gossip_packet(""), ErrorCode::malformed, "gossip packet is empty");
  require_error(decode_gossip_packet(std::string(kMaxGossipPacketBytes + 1, '\0')),
                ErrorCode::too_large, "1401 bytes, over the limit of 1400");
}

TEST_CASE("gossip: every prefix of a valid packet is rejected or decodes unchanged") {
  const std::string encoded = encode_gossip_packet(full_packet());
  for (size_t length = 0; length < encoded.size(); ++length) {
    const auto decoded = decode_gossip_packet(std::string_view(encoded).substr(0, length));
    // Only trailing alignment padding may be cut without losing anything.
    if (decoded.ok()) {
      INFO("prefix " << length << " of " << encoded.size());
      CHECK(decoded.value() == full_packet());
      CHECK(encoded.size() - length < 8);
    }
  }
}

TEST_CASE("gossip: random garbage and mutated packets never crash the decoder") {
  Prng prng(77);
  for (int i = 0; i < 5000; ++i) {
    const std::string garbage = test::random_bytes(prng, prng.below(kMaxGossipPacketBytes + 2));
    const auto decoded = decode_gossip_packet(garbage);
    if (decoded.ok()) CHECK(decode_gossip_packet(encode_gossip_packet(decoded.value())).ok());
  }
  const std::string valid = encode_gossip_packet(full_packet());
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto decoded = decode_gossip_packet(test::mutate(prng, valid));
    if (!decoded.ok()) {
      REQUIRE(!decoded.error().message.empty());
      continue;
    }
    ++accepted;
    // Whatever is accepted is a valid packet: it re-encodes to itself.
    const auto again = decode_gossip_packet(encode_gossip_packet(decoded.value()));
    REQUIRE(again.ok());
    REQUIRE(again.value() == decoded.value());
  }
  CHECK(accepted > 0);  // some mutations only change values, and must be accepted
}

TEST_CASE("gossip: a wrong protocol version is rejected") {
  for (uint16_t version : {0, 1, 3, 65535}) {
    EnvelopeBuilder envelope;
    envelope.add_ack();
    require_error(decode_gossip_packet(envelope.finish(version)), ErrorCode::malformed,
                  "gossip packet has protocol version " + std::to_string(version));
  }
}

TEST_CASE("gossip: unknown or missing message types are rejected, naming the message") {
  EnvelopeBuilder unknown;
  for (int i = 0; i < 3; ++i) unknown.add_ack();
  unknown.add(static_cast<fbg::GossipMessage>(9), fbg::CreateAck(unknown.builder, 1).Union());
  require_error(decode_gossip_packet(unknown.finish()), ErrorCode::malformed,
                "gossip packet: message 3 has unknown type 9");

  EnvelopeBuilder none;
  none.add_ack();
  none.add(fbg::GossipMessage::NONE, fbg::CreateAck(none.builder, 1).Union());
  require_error(decode_gossip_packet(none.finish()), ErrorCode::malformed,
                "gossip packet: message 1 has no body");
}

TEST_CASE("gossip: an unknown member state is rejected; absent metadata reads as empty") {
  EnvelopeBuilder bad_state;
  bad_state.add(fbg::GossipMessage::MemberUpdate,
                fbg::CreateMemberUpdate(bad_state.builder, 0, 0, 1,
                                        static_cast<fbg::MemberState>(4))
                    .Union());
  require_error(decode_gossip_packet(bad_state.finish()), ErrorCode::malformed,
                "gossip packet: message 0: state has unknown value 4");

  EnvelopeBuilder no_metadata;
  const auto update = fbg::CreateMemberUpdate(no_metadata.builder);
  const auto members = no_metadata.builder.CreateVector(std::vector{update});
  no_metadata.add(fbg::GossipMessage::Sync,
                  fbg::CreateSync(no_metadata.builder, false, members).Union());
  const auto decoded = decode_gossip_packet(no_metadata.finish());
  REQUIRE(decoded.ok());
  CHECK(std::get<gossip::Sync>(decoded.value().messages.at(0)).members.at(0).metadata.empty());
}

TEST_CASE("gossip: strings and message counts over their limits are too large") {
  const std::string long_name(gossip::kMaxNameBytes + 1, 'n');
  gossip::Packet long_from;
  long_from.from = long_name;
  require_error(decode_gossip_packet(encode_gossip_packet(long_from)), ErrorCode::too_large,
                "gossip packet: from is 129 bytes, over the limit of 128");

  gossip::Packet at_limit;
  at_limit.from = std::string(gossip::kMaxNameBytes, 'n');
  gossip::MemberUpdate update;
  update.metadata = std::string(gossip::kMaxMetadataBytes, 'r');
  update.address = std::string(gossip::kMaxAddressBytes, 'a');
  at_limit.messages.push_back(update);
  CHECK(decode_gossip_packet(encode_gossip_packet(at_limit)).ok());

  gossip::Packet long_metadata = at_limit;
  std::get<gossip::MemberUpdate>(long_metadata.messages[0]).metadata += 'r';
  require_error(decode_gossip_packet(encode_gossip_packet(long_metadata)), ErrorCode::too_large,
                "gossip packet: message 0: metadata is 513 bytes");

  gossip::Packet long_address = at_limit;
  std::get<gossip::MemberUpdate>(long_address.messages[0]).address += 'a';
  require_error(decode_gossip_packet(encode_gossip_packet(long_address)), ErrorCode::too_large,
                "gossip packet: message 0: address is 257 bytes");

  gossip::Packet long_target;
  long_target.messages.push_back(gossip::PingReq{1, "t", std::string(257, 'a')});
  require_error(decode_gossip_packet(encode_gossip_packet(long_target)), ErrorCode::too_large,
                "gossip packet: message 0: ping-req target_address is 257 bytes");

  gossip::Packet many;
  many.messages.assign(gossip::kMaxMessagesPerPacket + 1, gossip::Ack{0});
  require_error(decode_gossip_packet(encode_gossip_packet(many)), ErrorCode::too_large,
                "gossip packet: messages has 65 elements, over the limit of 64");
}

TEST_CASE("gossip: a packet from another encoder that shares strings is accepted") {
  // FlatBuffers allows one string to back several fields (CreateSharedString); ours never does
  // it, but it is a valid encoding, so the decoder must read it (and its re-encoding may be
  // larger than the original).
  EnvelopeBuilder envelope;
  const auto shared = envelope.builder.CreateSharedString("node-b");
  const auto again = envelope.builder.CreateSharedString("node-b");
  envelope.add(fbg::GossipMessage::MemberUpdate,
               fbg::CreateMemberUpdate(envelope.builder, shared, again, 3,
                                       fbg::MemberState::Alive, shared)
                   .Union());
  const auto decoded = decode_gossip_packet(envelope.finish());
  REQUIRE(decoded.ok());
  const auto& update = std::get<gossip::MemberUpdate>(decoded.value().messages.at(0));
  CHECK(update.name == "node-b");
  CHECK(update.address == "node-b");
  CHECK(update.from == "node-b");
}

TEST_CASE("gossip: a packet whose offsets fan out to shared tables is rejected") {
  // 64 messages pointing at one Sync whose 200 members all point at one update: small on the
  // wire, 12800 tables to walk. The verifier's table cap stops it.
  EnvelopeBuilder envelope;
  const auto update = fbg::CreateMemberUpdate(envelope.builder, 0, 0, 0,
                                              fbg::MemberState::Alive);
  const auto members = envelope.builder.CreateVector(
      std::vector<flatbuffers::Offset<fbg::MemberUpdate>>(200, update));
  const auto sync = fbg::CreateSync(envelope.builder, false, members).Union();
  for (size_t i = 0; i < gossip::kMaxMessagesPerPacket; ++i) {
    envelope.add(fbg::GossipMessage::Sync, sync);
  }
  const std::string bytes = envelope.finish();
  REQUIRE(bytes.size() <= kMaxGossipPacketBytes);
  require_error(decode_gossip_packet(bytes), ErrorCode::malformed, "verification");
}

}  // namespace
}  // namespace conclave::wire

namespace conclave::wire {
namespace {

// A member update as a real agent sends it: short name and address, ~100 bytes of metadata
// (role, RPC address, ids; agent/node.h), and the name of the member that passed it on.
gossip::MemberUpdate typical_update(int index) {
  gossip::MemberUpdate update;
  update.name = "node-" + std::to_string(index);
  update.address = "10.0.1." + std::to_string(index % 250) + ":8301";
  update.incarnation = 12;
  update.state = gossip::MemberState::alive;
  update.metadata = std::string(100, 'm');
  update.from = "node-1";
  return update;
}

TEST_CASE("gossip: the size bound is tight: a 1,400-byte packet carries as many typical updates "
          "as really fit, within one") {
  constexpr size_t kBudget = 1400;
  gossip::Packet packet;
  packet.from = "node-1";
  packet.messages.push_back(gossip::Ping{1, "node-2"});
  // What the core does: add updates while the bound says they fit.
  size_t bound = size_bound(packet);
  int by_bound = 0;
  while (bound + gossip::encoded_size_bound(gossip::Message{typical_update(by_bound)}) <= kBudget) {
    bound += gossip::encoded_size_bound(gossip::Message{typical_update(by_bound)});
    packet.messages.push_back(typical_update(by_bound));
    ++by_bound;
  }
  REQUIRE(encode_gossip_packet(packet).size() <= kBudget);
  // What really fits.
  gossip::Packet real = packet;
  int really = by_bound;
  while (true) {
    real.messages.push_back(typical_update(really));
    if (encode_gossip_packet(real).size() > kBudget) break;
    ++really;
  }
  std::printf("gossip: a 1400-byte packet holds %d typical updates by the bound, %d really\n",
              by_bound, really);
  CHECK(by_bound >= really - 1);
}

}  // namespace
}  // namespace conclave::wire
