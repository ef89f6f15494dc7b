// Peer message codec (Raft messages between agents): round trips and hostile input.
#include <catch2/catch.hpp>

#include "tests/wire/wire_test_support.h"
#include "wire/codec.h"
#include "wire/peer_generated.h"

namespace conclave::wire {
namespace {

namespace fbp = fb::peer;
using namespace std::string_literals;

raft::Message& raft_of(PeerMessage& message) { return std::get<raft::Message>(message.payload); }

PeerMessage full_message() {
  PeerMessage message;
  message.from_name = "node-a";
  message.cluster_id = 0xfeedfacecafebeefULL;
  raft::Message& raft = raft_of(message);
  raft.type = raft::MessageType::append_response;
  raft.from = 1;
  raft.to = UINT64_MAX;
  raft.term = 7;
  raft.log_index = 1000;
  raft.log_term = 6;
  raft::Entry membership{7, 1003, ""};
  membership.type = raft::EntryType::membership;
  membership.membership.voters = {1, 2, UINT64_MAX};
  membership.membership.learners = {4};
  raft.entries = {raft::Entry{6, 1001, "put\0binary\xff"s}, raft::Entry{7, 1002, ""},
                  membership};
  raft.commit = 999;
  raft.reject = true;
  raft.reject_hint = 998;
  raft.acknowledged_index = 997;
  raft.read_round = 996;
  return message;
}

std::string finish(flatbuffers::FlatBufferBuilder& builder,
                   flatbuffers::Offset<fbp::PeerEnvelope> envelope) {
  builder.Finish(envelope);
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                     builder.GetSize());
}

void require_error(const Result<PeerMessage>& result, ErrorCode code,
                   const std::string& message_part) {
  REQUIRE_FALSE(result.ok());
  INFO(result.error().message);
  CHECK(result.error().code == code);
  CHECK_THAT(result.error().message, Catch::Contains(message_part));
}

TEST_CASE("peer: a message with every field set round-trips, for every message type") {
  for (int type = 0; type <= static_cast<int>(raft::MessageType::read_index_response); ++type) {
    PeerMessage message = full_message();
    raft_of(message).type = static_cast<raft::MessageType>(type);
    raft_of(message).leader_transfer = true;
    raft_of(message).snapshot_offset = 1u << 20;
    raft_of(message).snapshot_data = "chunk\0of a snapshot"s;
    raft_of(message).snapshot_done = true;
    raft_of(message).read_context = 77;
    raft_of(message).snapshot_membership.voters = {1, 2, 3};
    raft_of(message).snapshot_membership.learners = {9};
    const auto decoded = decode_peer_message(encode_peer_message(message));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == message);
  }
  const PeerMessage defaults;  // all defaults, no entries, empty name
  const auto decoded = decode_peer_message(encode_peer_message(defaults));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == defaults);
}

TEST_CASE("peer: forwarded requests and their answers round-trip") {
  PeerMessage request;
  request.from_name = "client-d";
  request.cluster_id = 7;
  wire::ForwardRequest forward;
  forward.forward_id = 11;
  forward.client_id = 0xabcdef;
  forward.sequence = 42;
  forward.ack_below = 40;
  forward.timeout_ms = 5000;
  forward.request.request_id = 3;
  forward.request.body = LockAcquireRequest{"leader-election", 99, 3, 2500, 0};
  request.payload = forward;
  auto decoded = decode_peer_message(encode_peer_message(request));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == request);

  PeerMessage response;
  response.from_name = "server-a";
  response.cluster_id = 7;
  wire::ForwardResponse answer;
  answer.forward_id = 11;
  answer.leader = "server-b";
  answer.response.error_code = ErrorCode::not_leader;
  answer.response.error_message = "ask server-b";
  answer.response.body = LockEvent{"leader-election", 99, 1234, LockEventKind::granted, 0, ""};
  response.payload = answer;
  decoded = decode_peer_message(encode_peer_message(response));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == response);

  // A forwarded request whose embedded client request is garbage is malformed.
  flatbuffers::FlatBufferBuilder builder;
  const std::string junk = "not a client request";
  const auto bytes = builder.CreateVector(reinterpret_cast<const uint8_t*>(junk.data()),
                                          junk.size());
  const auto table = fbp::CreateForwardRequest(builder, 1, 2, 3, 0, 100, bytes);
  const auto bad = decode_peer_message(finish(
      builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                       fbp::PeerPayload::ForwardRequest, table.Union())));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::malformed);
}

TEST_CASE("peer: gossip's TCP fallback probes round-trip") {
  wire::PeerMessage probe{"agent-a", 0, wire::GossipProbe{UINT64_MAX, "agent-b"}};
  auto decoded = decode_peer_message(encode_peer_message(probe));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == probe);
  wire::PeerMessage ack{"agent-b", 9, wire::GossipProbeAck{42}};
  decoded = decode_peer_message(encode_peer_message(ack));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == ack);
}

TEST_CASE("peer: keyring operations and their answers round-trip; a wrong body is refused") {
  KeyringRequest install{KeyringOp::install, "6cVmbWDgW4YWtUQgfQK1Nu/tmdDRXjfbzmQrYYOYYbA="};
  PeerMessage request{"agent-a", 3, KeyringPeerRequest{77, install}};
  auto decoded = decode_peer_message(encode_peer_message(request));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == request);
  AgentKeyring result;
  result.name = "agent-b";
  result.error_code = ErrorCode::conflict;
  result.error_message = "is the primary key";
  result.keys = {"k1", "k2"};
  PeerMessage response{"agent-b", 3, KeyringPeerResponse{77, result}};
  decoded = decode_peer_message(encode_peer_message(response));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == response);
  // A KeyringPeerRequest must hold a KeyringRequest: a forwarded kv request inside is malformed.
  flatbuffers::FlatBufferBuilder builder;
  const std::string inner = encode_client_request(ClientRequest{1, 0, KvGetRequest{"k"}});
  const auto bytes = builder.CreateVector(reinterpret_cast<const uint8_t*>(inner.data()),
                                          inner.size());
  const auto payload = fbp::CreateKeyringPeerRequest(builder, 5, bytes);
  const auto name = builder.CreateString("agent-a");
  builder.Finish(fbp::CreatePeerEnvelope(builder, kProtocolVersion, name,
                                         fbp::PeerPayload::KeyringPeerRequest,
                                         payload.Union(), 0));
  auto refused = decode_peer_message(std::string_view(
      reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize()));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("not a KeyringRequest") != std::string::npos);
}

TEST_CASE("peer: gossip's push-pull over TCP carries a whole member list in one frame") {
  gossip::Sync sync;
  sync.is_reply = true;
  for (int i = 0; i < 5000; ++i) {  // far beyond one 1,400-byte datagram
    gossip::MemberUpdate update;
    update.name = "agent-" + std::to_string(i);
    update.address = "10.0.0." + std::to_string(i % 250) + ":7946";
    update.incarnation = static_cast<uint64_t>(i) * 1000;
    update.state = static_cast<gossip::MemberState>(i % 4);
    update.metadata = std::string(40, static_cast<char>('a' + i % 26));
    update.cluster_id = 77;
    sync.members.push_back(std::move(update));
  }
  gossip::Packet packet{"agent-0", {gossip::Message{sync}}, 77};
  const wire::PeerMessage message{"agent-0", 77, wire::GossipSync{packet}};
  const std::string bytes = encode_peer_message(message);
  CHECK(bytes.size() > 200 * 1000);
  auto decoded = decode_peer_message(bytes);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == message);

  // The stream path carries Syncs only: a probe or an update inside is refused.
  gossip::Packet probe{"agent-0", {gossip::Message{gossip::Ping{1, "agent-1"}}}, 77};
  auto refused = decode_gossip_sync_packet(encode_gossip_sync_packet(probe));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::malformed);
  CHECK(refused.error().message.find("other than Sync") != std::string::npos);
  // And a datagram decoder still refuses anything over one datagram.
  CHECK_FALSE(decode_gossip_packet(encode_gossip_sync_packet(packet)).ok());
}

TEST_CASE("peer: random messages round-trip") {
  Prng prng(0x7ee7);
  for (int i = 0; i < 500; ++i) {
    PeerMessage message;
    message.from_name = test::random_string(prng, gossip::kMaxNameBytes);
    raft_of(message) = test::random_raft_message(prng, 20, 300);
    const auto decoded = decode_peer_message(encode_peer_message(message));
    REQUIRE(decoded.ok());
    REQUIRE(decoded.value() == message);
  }
}

TEST_CASE("peer: entries and data at their limits round-trip, beyond them are too large") {
  PeerMessage message;
  raft_of(message).entries.resize(kMaxEntriesPerMessage, raft::Entry{1, 2, "x"});
  CHECK(decode_peer_message(encode_peer_message(message)).ok());

  raft_of(message).entries.push_back(raft::Entry{});
  require_error(decode_peer_message(encode_peer_message(message)), ErrorCode::too_large,
                "peer message: payload: entries has 1025 elements, over the limit of 1024");

  PeerMessage big;
  raft_of(big).entries.push_back(raft::Entry{1, 1, std::string(kMaxFrameBytes - 200, 'd')});
  CHECK(decode_peer_message(encode_peer_message(big)).ok());
  raft_of(big).entries[0].data.append(300, 'd');
  require_error(decode_peer_message(encode_peer_message(big)), ErrorCode::too_large,
                "over the limit of 4194304");

  PeerMessage long_name;
  long_name.from_name.assign(gossip::kMaxNameBytes + 1, 'n');
  require_error(decode_peer_message(encode_peer_message(long_name)), ErrorCode::too_large,
                "peer message: from_name is 129 bytes");
}

TEST_CASE("peer: empty, oversize, truncated, garbage and mutated buffers are handled") {
  require_error(decode_peer_message(""), ErrorCode::malformed, "peer message is empty");
  require_error(decode_peer_message(std::string(kMaxFrameBytes + 1, '\0')), ErrorCode::too_large,
                "peer message is 4194305 bytes");

  const std::string valid = encode_peer_message(full_message());
  for (size_t length = 0; length < valid.size(); ++length) {
    const auto decoded = decode_peer_message(std::string_view(valid).substr(0, length));
    if (decoded.ok()) {
      CHECK(decoded.value() == full_message());
      CHECK(valid.size() - length < 8);
    }
  }

  Prng prng(0xbad);
  for (int i = 0; i < 3000; ++i) {
    const auto decoded = decode_peer_message(test::random_bytes(prng, prng.below(600)));
    if (decoded.ok()) CHECK(decode_peer_message(encode_peer_message(decoded.value())).ok());
  }
  for (int i = 0; i < 20000; ++i) {
    const auto decoded = decode_peer_message(test::mutate(prng, valid));
    if (!decoded.ok()) continue;
    const auto again = decode_peer_message(encode_peer_message(decoded.value()));
    REQUIRE(again.ok());
    REQUIRE(again.value() == decoded.value());
  }
}

TEST_CASE("peer: wrong version, missing or unknown payload and unknown type are rejected") {
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto raft = fbp::CreateRaftMessage(builder);
    require_error(decode_peer_message(finish(builder, fbp::CreatePeerEnvelope(
                                                          builder, 1, 0,
                                                          fbp::PeerPayload::RaftMessage,
                                                          raft.Union()))),
                  ErrorCode::malformed, "peer message has protocol version 1");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_peer_message(finish(
                      builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion))),
                  ErrorCode::malformed, "peer message: payload is missing");
  }
  {
    flatbuffers::FlatBufferBuilder builder;  // a type but no table
    require_error(decode_peer_message(finish(
                      builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                                       fbp::PeerPayload::RaftMessage, 0))),
                  ErrorCode::malformed, "peer message: payload has type RaftMessage but no table");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto raft = fbp::CreateRaftMessage(builder);
    require_error(decode_peer_message(finish(
                      builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                                       static_cast<fbp::PeerPayload>(9),
                                                       raft.Union()))),
                  ErrorCode::malformed, "peer message: payload has unknown type 9");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto raft = fbp::CreateRaftMessage(builder, static_cast<fbp::MessageType>(12));
    require_error(decode_peer_message(finish(
                      builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                                       fbp::PeerPayload::RaftMessage,
                                                       raft.Union()))),
                  ErrorCode::malformed, "peer message: payload: type has unknown value 12");
  }
}

TEST_CASE("peer: entries sharing one data vector cannot inflate memory") {
  // Many entries pointing at the same bytes would decode into far more memory than the frame
  // holds; the decoder refuses to copy more than the buffer's size.
  flatbuffers::FlatBufferBuilder builder;
  const std::string data(10000, 'd');
  const auto shared = builder.CreateVector(reinterpret_cast<const uint8_t*>(data.data()),
                                           data.size());
  std::vector<flatbuffers::Offset<fbp::Entry>> entries;
  for (int i = 0; i < 100; ++i) entries.push_back(fbp::CreateEntry(builder, 1, i + 1, shared));
  const auto raft = fbp::CreateRaftMessage(builder, fbp::MessageType::AppendRequest, 1, 2, 1, 0,
                                           0, builder.CreateVector(entries));
  require_error(decode_peer_message(finish(
                    builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                                     fbp::PeerPayload::RaftMessage,
                                                     raft.Union()))),
                ErrorCode::malformed, "peer message: payload: entry 1 shares storage");
}

}  // namespace
}  // namespace conclave::wire

namespace conclave::wire {
namespace {

TEST_CASE("peer: an entry of unknown type, or with too many members, is malformed") {
  {
    flatbuffers::FlatBufferBuilder builder;
    std::vector<flatbuffers::Offset<fbp::Entry>> entries = {
        fbp::CreateEntry(builder, 1, 1, 0, /*type=*/2)};
    const auto raft = fbp::CreateRaftMessage(builder, fbp::MessageType::AppendRequest, 1, 2, 1,
                                             0, 0, builder.CreateVector(entries));
    require_error(decode_peer_message(finish(
                      builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                                       fbp::PeerPayload::RaftMessage,
                                                       raft.Union()))),
                  ErrorCode::malformed, "has unknown entry type 2");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    std::vector<uint64_t> voters(kMaxGroupMembers + 1, 7);
    std::vector<flatbuffers::Offset<fbp::Entry>> entries = {
        fbp::CreateEntry(builder, 1, 1, 0, 1, builder.CreateVector(voters))};
    const auto raft = fbp::CreateRaftMessage(builder, fbp::MessageType::AppendRequest, 1, 2, 1,
                                             0, 0, builder.CreateVector(entries));
    const auto decoded = decode_peer_message(finish(
        builder, fbp::CreatePeerEnvelope(builder, kProtocolVersion, 0,
                                         fbp::PeerPayload::RaftMessage, raft.Union())));
    REQUIRE_FALSE(decoded.ok());
    CHECK_THAT(decoded.error().message, Catch::Contains("entry voters"));
  }
}

}  // namespace
}  // namespace conclave::wire
