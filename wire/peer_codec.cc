// PeerMessage <-> PeerEnvelope (wire/peer.fbs): agent-to-agent frames carrying Raft messages.
#include <type_traits>

#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/peer_generated.h"

namespace conclave::wire {

namespace fbp = fb::peer;
using detail::FieldReader;
using detail::malformed;
using detail::Where;

namespace {

// The schema's enum values are the core's, value for value, so conversion is a cast.
static_assert(static_cast<int>(fbp::MessageType::VoteRequest) ==
              static_cast<int>(raft::MessageType::vote_request));
static_assert(static_cast<int>(fbp::MessageType::VoteResponse) ==
              static_cast<int>(raft::MessageType::vote_response));
static_assert(static_cast<int>(fbp::MessageType::AppendRequest) ==
              static_cast<int>(raft::MessageType::append_request));
static_assert(static_cast<int>(fbp::MessageType::AppendResponse) ==
              static_cast<int>(raft::MessageType::append_response));
static_assert(static_cast<int>(fbp::MessageType::Propose) ==
              static_cast<int>(raft::MessageType::propose));
static_assert(static_cast<int>(fbp::MessageType::PreVoteRequest) ==
              static_cast<int>(raft::MessageType::pre_vote_request));
static_assert(static_cast<int>(fbp::MessageType::PreVoteResponse) ==
              static_cast<int>(raft::MessageType::pre_vote_response));
static_assert(static_cast<int>(fbp::MessageType::TimeoutNow) ==
              static_cast<int>(raft::MessageType::timeout_now));
static_assert(static_cast<int>(fbp::MessageType::Snapshot) ==
              static_cast<int>(raft::MessageType::snapshot));
static_assert(static_cast<int>(fbp::MessageType::SnapshotResponse) ==
              static_cast<int>(raft::MessageType::snapshot_response));
static_assert(static_cast<int>(fbp::MessageType::ReadIndexRequest) ==
              static_cast<int>(raft::MessageType::read_index_request));
static_assert(static_cast<int>(fbp::MessageType::ReadIndexResponse) ==
              static_cast<int>(raft::MessageType::read_index_response));
static_assert(fbp::MessageType::MAX == fbp::MessageType::ReadIndexResponse);

// Envelope, message and one table per entry, plus slack.
const detail::VerifyLimits kPeerLimits{.max_bytes = kMaxFrameBytes,
                                       .max_depth = 16,
                                       .max_tables = kMaxEntriesPerMessage + 16};

// Server ids of a membership (absent: none), at most kMaxGroupMembers.
Status read_ids(const flatbuffers::Vector<uint64_t>* ids, const Where& where,
                std::vector<raft::NodeId>& out) {
  CONCLAVE_WIRE_TRY(detail::check_count(ids, kMaxGroupMembers, where));
  if (ids != nullptr) out.assign(ids->begin(), ids->end());
  return Status();
}

Result<raft::Message> decode_raft_message(const fbp::RaftMessage& table, FieldReader& reader,
                                          const Where& where) {
  raft::Message message;
  const auto type = static_cast<uint8_t>(table.type());
  if (type > static_cast<uint8_t>(fbp::MessageType::MAX)) {
    return malformed(Where(where, "type"), "has unknown value " + std::to_string(type));
  }
  message.type = static_cast<raft::MessageType>(type);
  message.from = table.from();
  message.to = table.to();
  message.term = table.term();
  message.log_index = table.log_index();
  message.log_term = table.log_term();
  message.commit = table.commit();
  message.reject = table.reject();
  message.reject_hint = table.reject_hint();
  message.acknowledged_index = table.acknowledged_index();
  message.read_round = table.read_round();
  message.leader_transfer = table.leader_transfer();
  message.snapshot_offset = table.snapshot_offset();
  message.read_context = table.read_context();
  message.snapshot_done = table.snapshot_done();
  CONCLAVE_WIRE_TRY(reader.read_bytes(table.snapshot_data(), kMaxFrameBytes,
                                      Where(where, "snapshot_data"), message.snapshot_data));
  CONCLAVE_WIRE_TRY(read_ids(table.snapshot_voters(), Where(where, "snapshot_voters"),
                             message.snapshot_membership.voters));
  CONCLAVE_WIRE_TRY(read_ids(table.snapshot_learners(), Where(where, "snapshot_learners"),
                             message.snapshot_membership.learners));
  const auto* entries = table.entries();
  CONCLAVE_WIRE_TRY(detail::check_count(entries, kMaxEntriesPerMessage, Where(where, "entries")));
  if (entries != nullptr) {
    message.entries.resize(entries->size());
    for (flatbuffers::uoffset_t i = 0; i < entries->size(); ++i) {
      const fbp::Entry* entry = entries->Get(i);
      raft::Entry& out = message.entries[i];
      out.term = entry->term();
      out.index = entry->index();
      // An entry's data is bounded by the frame (and by the reader's budget).
      CONCLAVE_WIRE_TRY(reader.read_bytes(entry->data(), kMaxFrameBytes,
                                          Where(where, "entry", i), out.data));
      if (entry->type() > static_cast<uint8_t>(raft::EntryType::membership)) {
        return malformed(Where(where, "entry", i),
                                 "has unknown entry type " + std::to_string(entry->type()));
      }
      out.type = static_cast<raft::EntryType>(entry->type());
      CONCLAVE_WIRE_TRY(read_ids(entry->voters(), Where(where, "entry voters", i),
                                 out.membership.voters));
      CONCLAVE_WIRE_TRY(read_ids(entry->learners(), Where(where, "entry learners", i),
                                 out.membership.learners));
    }
  }
  return message;
}

}  // namespace

namespace {

// Server ids of a membership; absent when there are none.
flatbuffers::Offset<flatbuffers::Vector<uint64_t>> optional_ids(
    flatbuffers::FlatBufferBuilder& builder, const std::vector<raft::NodeId>& ids) {
  return ids.empty() ? 0 : builder.CreateVector(ids);
}

flatbuffers::Offset<fbp::RaftMessage> encode_raft(flatbuffers::FlatBufferBuilder& builder,
                                                  const raft::Message& raft) {
  std::vector<flatbuffers::Offset<fbp::Entry>> entries;
  entries.reserve(raft.entries.size());
  for (const raft::Entry& entry : raft.entries) {
    const auto data = detail::optional_bytes(builder, entry.data);
    const auto voters = optional_ids(builder, entry.membership.voters);
    const auto learners = optional_ids(builder, entry.membership.learners);
    entries.push_back(fbp::CreateEntry(builder, entry.term, entry.index, data,
                                       static_cast<uint8_t>(entry.type), voters, learners));
  }
  const auto entries_vector = entries.empty() ? 0 : builder.CreateVector(entries);
  const auto snapshot_data = detail::optional_bytes(builder, raft.snapshot_data);
  const auto snapshot_voters = optional_ids(builder, raft.snapshot_membership.voters);
  const auto snapshot_learners = optional_ids(builder, raft.snapshot_membership.learners);
  return fbp::CreateRaftMessage(builder, static_cast<fbp::MessageType>(raft.type), raft.from,
                                raft.to, raft.term, raft.log_index, raft.log_term, entries_vector,
                                raft.commit, raft.reject, raft.reject_hint,
                                raft.acknowledged_index, raft.read_round, raft.leader_transfer,
                                raft.snapshot_offset, snapshot_data, raft.snapshot_done,
                                snapshot_voters, snapshot_learners, raft.read_context);
}

}  // namespace

std::string encode_peer_message(const PeerMessage& message) {
  flatbuffers::FlatBufferBuilder builder(1024);
  const auto [type, payload] = std::visit(
      [&builder](const auto& value) -> std::pair<fbp::PeerPayload, flatbuffers::Offset<void>> {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, raft::Message>) {
          return {fbp::PeerPayload::RaftMessage, encode_raft(builder, value).Union()};
        } else if constexpr (std::is_same_v<T, ForwardRequest>) {
          const auto request = detail::optional_bytes(builder, encode_client_request(value.request));
          return {fbp::PeerPayload::ForwardRequest,
                  fbp::CreateForwardRequest(builder, value.forward_id, value.client_id,
                                            value.sequence, value.ack_below, value.timeout_ms,
                                            request)
                      .Union()};
        } else if constexpr (std::is_same_v<T, GossipProbe>) {
          const auto target = detail::optional_string(builder, value.target);
          return {fbp::PeerPayload::GossipProbe,
                  fbp::CreateGossipProbe(builder, value.sequence, target).Union()};
        } else if constexpr (std::is_same_v<T, GossipProbeAck>) {
          return {fbp::PeerPayload::GossipProbeAck,
                  fbp::CreateGossipProbeAck(builder, value.sequence).Union()};
        } else if constexpr (std::is_same_v<T, GossipSync>) {
          const auto packet =
              detail::optional_bytes(builder, encode_gossip_sync_packet(value.packet));
          return {fbp::PeerPayload::GossipSync, fbp::CreateGossipSync(builder, packet).Union()};
        } else if constexpr (std::is_same_v<T, KeyringPeerRequest>) {
          const auto request = detail::optional_bytes(
              builder, encode_client_request(ClientRequest{0, 0, value.request}));
          return {fbp::PeerPayload::KeyringPeerRequest,
                  fbp::CreateKeyringPeerRequest(builder, value.request_id, request).Union()};
        } else if constexpr (std::is_same_v<T, KeyringPeerResponse>) {
          ClientResponse response;
          response.body = KeyringResponse{{value.result}};
          const auto bytes = detail::optional_bytes(builder, encode_client_response(response));
          return {fbp::PeerPayload::KeyringPeerResponse,
                  fbp::CreateKeyringPeerResponse(builder, value.request_id, bytes).Union()};
        } else {
          static_assert(std::is_same_v<T, ForwardResponse>);
          const auto leader = detail::optional_string(builder, value.leader);
          const auto response =
              detail::optional_bytes(builder, encode_client_response(value.response));
          return {fbp::PeerPayload::ForwardResponse,
                  fbp::CreateForwardResponse(builder, value.forward_id, leader, response).Union()};
        }
      },
      message.payload);
  const auto from_name = detail::optional_string(builder, message.from_name);
  builder.Finish(fbp::CreatePeerEnvelope(builder, kProtocolVersion, from_name, type, payload,
                                         message.cluster_id));
  return detail::finish_to_string(builder);
}

Result<PeerMessage> decode_peer_message(std::string_view bytes) {
  const Where message_where("peer message");
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<fbp::PeerEnvelope>(bytes, kPeerLimits, message_where);
  if (!verified.ok()) return verified.error();
  const auto* envelope = verified.value().root<fbp::PeerEnvelope>();
  CONCLAVE_WIRE_TRY(detail::check_version(envelope->version(), message_where));

  FieldReader reader(bytes.size());
  PeerMessage message;
  CONCLAVE_WIRE_TRY(reader.read_string(envelope->from_name(), gossip::kMaxNameBytes,
                                       Where(message_where, "from_name"), message.from_name));
  message.cluster_id = envelope->cluster_id();
  const Where payload_where(message_where, "payload");
  switch (envelope->payload_type()) {
    case fbp::PeerPayload::NONE:
      return malformed(payload_where, "is missing (union type NONE)");
    case fbp::PeerPayload::RaftMessage: {
      const fbp::RaftMessage* raft = envelope->payload_as_RaftMessage();
      if (raft == nullptr) return malformed(payload_where, "has type RaftMessage but no table");
      Result<raft::Message> decoded = decode_raft_message(*raft, reader, payload_where);
      if (!decoded.ok()) return decoded.error();
      message.payload = std::move(decoded).value();
      return message;
    }
    case fbp::PeerPayload::ForwardRequest: {
      const fbp::ForwardRequest* table = envelope->payload_as_ForwardRequest();
      if (table == nullptr) return malformed(payload_where, "has type ForwardRequest but no table");
      ForwardRequest forward;
      forward.forward_id = table->forward_id();
      forward.client_id = table->client_id();
      forward.sequence = table->sequence();
      forward.ack_below = table->ack_below();
      forward.timeout_ms = table->timeout_ms();
      std::string request;
      CONCLAVE_WIRE_TRY(reader.read_bytes(table->request(), kMaxFrameBytes,
                                          Where(payload_where, "request"), request));
      Result<ClientRequest> decoded = decode_client_request(request);
      if (!decoded.ok()) return decoded.error();
      forward.request = std::move(decoded).value();
      message.payload = std::move(forward);
      return message;
    }
    case fbp::PeerPayload::GossipProbe: {
      const fbp::GossipProbe* table = envelope->payload_as_GossipProbe();
      if (table == nullptr) return malformed(payload_where, "has type GossipProbe but no table");
      GossipProbe probe;
      probe.sequence = table->sequence();
      CONCLAVE_WIRE_TRY(reader.read_string(table->target(), gossip::kMaxNameBytes,
                                           Where(payload_where, "target"), probe.target));
      message.payload = std::move(probe);
      return message;
    }
    case fbp::PeerPayload::GossipProbeAck: {
      const fbp::GossipProbeAck* table = envelope->payload_as_GossipProbeAck();
      if (table == nullptr) {
        return malformed(payload_where, "has type GossipProbeAck but no table");
      }
      message.payload = GossipProbeAck{table->sequence()};
      return message;
    }
    case fbp::PeerPayload::GossipSync: {
      const fbp::GossipSync* table = envelope->payload_as_GossipSync();
      if (table == nullptr) return malformed(payload_where, "has type GossipSync but no table");
      std::string packet;
      CONCLAVE_WIRE_TRY(reader.read_bytes(table->packet(), gossip::kMaxSyncStreamBytes,
                                          Where(payload_where, "packet"), packet));
      Result<gossip::Packet> decoded = decode_gossip_sync_packet(packet);
      if (!decoded.ok()) return decoded.error();
      message.payload = GossipSync{std::move(decoded).value()};
      return message;
    }
    case fbp::PeerPayload::KeyringPeerRequest: {
      const fbp::KeyringPeerRequest* table = envelope->payload_as_KeyringPeerRequest();
      if (table == nullptr) {
        return malformed(payload_where, "has type KeyringPeerRequest but no table");
      }
      std::string bytes;
      CONCLAVE_WIRE_TRY(reader.read_bytes(table->request(), kMaxFrameBytes,
                                          Where(payload_where, "request"), bytes));
      Result<ClientRequest> decoded = decode_client_request(bytes);
      if (!decoded.ok()) return decoded.error();
      const auto* keyring = std::get_if<KeyringRequest>(&decoded.value().body);
      if (keyring == nullptr) {
        return malformed(Where(payload_where, "request"), "is not a KeyringRequest");
      }
      message.payload = KeyringPeerRequest{table->request_id(), *keyring};
      return message;
    }
    case fbp::PeerPayload::KeyringPeerResponse: {
      const fbp::KeyringPeerResponse* table = envelope->payload_as_KeyringPeerResponse();
      if (table == nullptr) {
        return malformed(payload_where, "has type KeyringPeerResponse but no table");
      }
      std::string bytes;
      CONCLAVE_WIRE_TRY(reader.read_bytes(table->response(), kMaxFrameBytes,
                                          Where(payload_where, "response"), bytes));
      Result<ClientResponse> decoded = decode_client_response(bytes);
      if (!decoded.ok()) return decoded.error();
      const auto* keyring = std::get_if<KeyringResponse>(&decoded.value().body);
      if (keyring == nullptr || keyring->agents.size() != 1) {
        return malformed(Where(payload_where, "response"),
                         "is not a KeyringResponse with one agent");
      }
      message.payload = KeyringPeerResponse{table->request_id(), keyring->agents.front()};
      return message;
    }
    case fbp::PeerPayload::ForwardResponse: {
      const fbp::ForwardResponse* table = envelope->payload_as_ForwardResponse();
      if (table == nullptr) {
        return malformed(payload_where, "has type ForwardResponse but no table");
      }
      ForwardResponse forward;
      forward.forward_id = table->forward_id();
      CONCLAVE_WIRE_TRY(reader.read_string(table->leader(), gossip::kMaxNameBytes,
                                           Where(payload_where, "leader"), forward.leader));
      std::string response;
      CONCLAVE_WIRE_TRY(reader.read_bytes(table->response(), kMaxFrameBytes,
                                          Where(payload_where, "response"), response));
      Result<ClientResponse> decoded = decode_client_response(response);
      if (!decoded.ok()) return decoded.error();
      forward.response = std::move(decoded).value();
      message.payload = std::move(forward);
      return message;
    }
  }
  return malformed(payload_where,
                   "has unknown type " +
                       std::to_string(static_cast<unsigned>(envelope->payload_type())));
}

}  // namespace conclave::wire
