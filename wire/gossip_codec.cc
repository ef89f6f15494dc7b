// gossip::Packet <-> GossipEnvelope (wire/gossip.fbs): one UDP datagram.
#include <type_traits>

#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/gossip_generated.h"

namespace conclave::wire {

namespace fbg = fb::gossip;
using detail::FieldReader;
using detail::malformed;
using detail::Where;

namespace {

// The schema's enum values are the core's, value for value, so conversion is a cast.
static_assert(static_cast<int>(fbg::MemberState::Alive) ==
              static_cast<int>(gossip::MemberState::alive));
static_assert(static_cast<int>(fbg::MemberState::Suspect) ==
              static_cast<int>(gossip::MemberState::suspect));
static_assert(static_cast<int>(fbg::MemberState::Dead) ==
              static_cast<int>(gossip::MemberState::dead));
static_assert(static_cast<int>(fbg::MemberState::Left) ==
              static_cast<int>(gossip::MemberState::left));

// A datagram is at most 1400 bytes: a legitimate one cannot hold more than a few hundred
// tables, and a low cap stops a hostile one from making the verifier revisit shared tables.
const detail::VerifyLimits kGossipLimits{.max_bytes = kMaxGossipPacketBytes,
                                         .max_depth = 16,
                                         .max_tables = 1024};
// A Sync over TCP: one table per member, and a member table takes at least ~40 bytes.
const detail::VerifyLimits kGossipSyncLimits{.max_bytes = gossip::kMaxSyncStreamBytes,
                                             .max_depth = 16,
                                             .max_tables = 100000};

// ---- encoding ----

flatbuffers::Offset<fbg::MemberUpdate> encode_update(flatbuffers::FlatBufferBuilder& builder,
                                                     const gossip::MemberUpdate& update) {
  const auto name = detail::optional_string(builder, update.name);
  const auto address = detail::optional_string(builder, update.address);
  const auto from = detail::optional_string(builder, update.from);
  const auto metadata = detail::optional_bytes(builder, update.metadata);
  return fbg::CreateMemberUpdate(builder, name, address, update.incarnation,
                                 static_cast<fbg::MemberState>(update.state), from, metadata,
                                 update.cluster_id);
}

struct EncodedMessage {
  fbg::GossipMessage type;
  flatbuffers::Offset<void> value;
};

EncodedMessage encode_message(flatbuffers::FlatBufferBuilder& builder,
                              const gossip::Message& message) {
  return std::visit(
      [&builder](const auto& body) -> EncodedMessage {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, gossip::Ping>) {
          const auto target = detail::optional_string(builder, body.target);
          return {fbg::GossipMessage::Ping,
                  fbg::CreatePing(builder, body.sequence, target).Union()};
        } else if constexpr (std::is_same_v<T, gossip::Ack>) {
          return {fbg::GossipMessage::Ack, fbg::CreateAck(builder, body.sequence).Union()};
        } else if constexpr (std::is_same_v<T, gossip::PingReq>) {
          const auto target = detail::optional_string(builder, body.target);
          const auto target_address = detail::optional_string(builder, body.target_address);
          return {fbg::GossipMessage::PingReq,
                  fbg::CreatePingReq(builder, body.sequence, target, target_address, body.nack)
                      .Union()};
        } else if constexpr (std::is_same_v<T, gossip::NameConflict>) {
          const auto name = detail::optional_string(builder, body.name);
          const auto holder = detail::optional_string(builder, body.holder_address);
          const auto claimant = detail::optional_string(builder, body.claimant_address);
          return {fbg::GossipMessage::NameConflict,
                  fbg::CreateNameConflict(builder, name, holder, claimant).Union()};
        } else if constexpr (std::is_same_v<T, gossip::WrongCluster>) {
          return {fbg::GossipMessage::WrongCluster,
                  fbg::CreateWrongCluster(builder, body.cluster_id).Union()};
        } else if constexpr (std::is_same_v<T, gossip::Nack>) {
          return {fbg::GossipMessage::Nack, fbg::CreateNack(builder, body.sequence).Union()};
        } else if constexpr (std::is_same_v<T, gossip::Sync>) {
          std::vector<flatbuffers::Offset<fbg::MemberUpdate>> members;
          members.reserve(body.members.size());
          for (const auto& member : body.members) members.push_back(encode_update(builder, member));
          const auto members_vector = members.empty() ? 0 : builder.CreateVector(members);
          return {fbg::GossipMessage::Sync,
                  fbg::CreateSync(builder, body.is_reply, members_vector).Union()};
        } else {
          static_assert(std::is_same_v<T, gossip::MemberUpdate>);
          return {fbg::GossipMessage::MemberUpdate, encode_update(builder, body).Union()};
        }
      },
      message);
}

// ---- decoding ----

Result<gossip::MemberUpdate> decode_update(const fbg::MemberUpdate& table, FieldReader& reader,
                                           const Where& where) {
  gossip::MemberUpdate update;
  CONCLAVE_WIRE_TRY(
      reader.read_string(table.name(), gossip::kMaxNameBytes, Where(where, "name"), update.name));
  CONCLAVE_WIRE_TRY(reader.read_string(table.address(), gossip::kMaxAddressBytes,
                                       Where(where, "address"), update.address));
  update.incarnation = table.incarnation();
  const auto state = static_cast<uint8_t>(table.state());
  if (state > static_cast<uint8_t>(fbg::MemberState::MAX)) {
    return malformed(Where(where, "state"), "has unknown value " + std::to_string(state));
  }
  update.state = static_cast<gossip::MemberState>(state);
  CONCLAVE_WIRE_TRY(reader.read_bytes(table.metadata(), gossip::kMaxMetadataBytes,
                                      Where(where, "metadata"), update.metadata));
  CONCLAVE_WIRE_TRY(
      reader.read_string(table.from(), gossip::kMaxNameBytes, Where(where, "from"), update.from));
  update.cluster_id = table.cluster_id();
  return update;
}

Result<gossip::Message> decode_message(fbg::GossipMessage type, const void* value,
                                       FieldReader& reader, const Where& where) {
  switch (type) {
    case fbg::GossipMessage::NONE:
      return malformed(where, "has no body (union type NONE)");
    case fbg::GossipMessage::Ping: {
      const auto* table = static_cast<const fbg::Ping*>(value);
      gossip::Ping ping;
      ping.sequence = table->sequence();
      CONCLAVE_WIRE_TRY(reader.read_string(table->target(), gossip::kMaxNameBytes,
                                           Where(where, "ping target"), ping.target));
      return gossip::Message(std::move(ping));
    }
    case fbg::GossipMessage::Ack: {
      const auto* table = static_cast<const fbg::Ack*>(value);
      return gossip::Message(gossip::Ack{.sequence = table->sequence()});
    }
    case fbg::GossipMessage::NameConflict: {
      const auto* table = static_cast<const fbg::NameConflict*>(value);
      gossip::NameConflict conflict;
      CONCLAVE_WIRE_TRY(reader.read_string(table->name(), gossip::kMaxNameBytes,
                                           Where(where, "name conflict name"), conflict.name));
      CONCLAVE_WIRE_TRY(reader.read_string(table->holder_address(), gossip::kMaxAddressBytes,
                                           Where(where, "name conflict holder_address"),
                                           conflict.holder_address));
      CONCLAVE_WIRE_TRY(reader.read_string(table->claimant_address(), gossip::kMaxAddressBytes,
                                           Where(where, "name conflict claimant_address"),
                                           conflict.claimant_address));
      return gossip::Message(std::move(conflict));
    }
    case fbg::GossipMessage::WrongCluster: {
      const auto* table = static_cast<const fbg::WrongCluster*>(value);
      return gossip::Message(gossip::WrongCluster{.cluster_id = table->cluster_id()});
    }
    case fbg::GossipMessage::Nack: {
      const auto* table = static_cast<const fbg::Nack*>(value);
      return gossip::Message(gossip::Nack{.sequence = table->sequence()});
    }
    case fbg::GossipMessage::PingReq: {
      const auto* table = static_cast<const fbg::PingReq*>(value);
      gossip::PingReq request;
      request.sequence = table->sequence();
      request.nack = table->nack();
      CONCLAVE_WIRE_TRY(reader.read_string(table->target(), gossip::kMaxNameBytes,
                                           Where(where, "ping-req target"), request.target));
      CONCLAVE_WIRE_TRY(reader.read_string(table->target_address(), gossip::kMaxAddressBytes,
                                           Where(where, "ping-req target_address"),
                                           request.target_address));
      return gossip::Message(std::move(request));
    }
    case fbg::GossipMessage::Sync: {
      const auto* table = static_cast<const fbg::Sync*>(value);
      gossip::Sync sync;
      sync.is_reply = table->is_reply();
      // No count limit of its own: the datagram size and the verifier's table cap bound it.
      if (const auto* members = table->members()) {
        sync.members.reserve(members->size());
        for (flatbuffers::uoffset_t i = 0; i < members->size(); ++i) {
          const Where member_where(where, "sync member", i);
          Result<gossip::MemberUpdate> update = decode_update(*members->Get(i), reader,
                                                              member_where);
          if (!update.ok()) return update.error();
          sync.members.push_back(std::move(update).value());
        }
      }
      return gossip::Message(std::move(sync));
    }
    case fbg::GossipMessage::MemberUpdate: {
      Result<gossip::MemberUpdate> update =
          decode_update(*static_cast<const fbg::MemberUpdate*>(value), reader, where);
      if (!update.ok()) return update.error();
      return gossip::Message(std::move(update).value());
    }
  }
  return malformed(where, "has unknown type " + std::to_string(static_cast<unsigned>(type)));
}

std::string encode_packet(const gossip::Packet& packet, size_t initial_bytes) {
  flatbuffers::FlatBufferBuilder builder(initial_bytes);
  std::vector<fbg::GossipMessage> types;
  std::vector<flatbuffers::Offset<void>> values;
  types.reserve(packet.messages.size());
  values.reserve(packet.messages.size());
  for (const auto& message : packet.messages) {
    const EncodedMessage encoded = encode_message(builder, message);
    types.push_back(encoded.type);
    values.push_back(encoded.value);
  }
  const auto from = detail::optional_string(builder, packet.from);
  const auto types_vector = types.empty() ? 0 : builder.CreateVector(types);
  const auto values_vector = values.empty() ? 0 : builder.CreateVector(values);
  builder.Finish(
      fbg::CreateGossipEnvelope(builder, kProtocolVersion, from, types_vector, values_vector,
                                packet.cluster_id));
  return detail::finish_to_string(builder);
}

Result<gossip::Packet> decode_packet(std::string_view bytes, const detail::VerifyLimits& limits,
                                     const Where& packet_where) {
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<fbg::GossipEnvelope>(bytes, limits, packet_where);
  if (!verified.ok()) return verified.error();
  const auto* envelope = verified.value().root<fbg::GossipEnvelope>();
  CONCLAVE_WIRE_TRY(detail::check_version(envelope->version(), packet_where));

  FieldReader reader(bytes.size());
  gossip::Packet packet;
  packet.cluster_id = envelope->cluster_id();
  CONCLAVE_WIRE_TRY(reader.read_string(envelope->from(), gossip::kMaxNameBytes,
                                       Where(packet_where, "from"), packet.from));
  // The verifier has checked that the type and value vectors are both present or both absent,
  // with equal lengths.
  const auto* types = envelope->messages_type();
  const auto* values = envelope->messages();
  CONCLAVE_WIRE_TRY(
      detail::check_count(values, gossip::kMaxMessagesPerPacket, Where(packet_where, "messages")));
  if (values != nullptr) {
    packet.messages.reserve(values->size());
    for (flatbuffers::uoffset_t i = 0; i < values->size(); ++i) {
      const Where message_where(packet_where, "message", i);
      Result<gossip::Message> message = decode_message(types->GetEnum<fbg::GossipMessage>(i),
                                                       values->Get(i), reader, message_where);
      if (!message.ok()) return message.error();
      packet.messages.push_back(std::move(message).value());
    }
  }
  return packet;
}

}  // namespace

std::string encode_gossip_packet(const gossip::Packet& packet) {
  return encode_packet(packet, kMaxGossipPacketBytes);
}

Result<gossip::Packet> decode_gossip_packet(std::string_view bytes) {
  return decode_packet(bytes, kGossipLimits, Where("gossip packet"));
}

std::string encode_gossip_sync_packet(const gossip::Packet& packet) {
  return encode_packet(packet, 64 * 1024);
}

Result<gossip::Packet> decode_gossip_sync_packet(std::string_view bytes) {
  const Where where("gossip sync packet");
  Result<gossip::Packet> packet = decode_packet(bytes, kGossipSyncLimits, where);
  if (!packet.ok()) return packet;
  for (const auto& message : packet.value().messages) {
    if (!std::holds_alternative<gossip::Sync>(message)) {
      return malformed(where, "holds a message other than Sync");
    }
  }
  return packet;
}

}  // namespace conclave::wire
