// Client protocol codec (requests and responses over the Unix socket).
#include <catch2/catch.hpp>

#include "tests/wire/wire_test_support.h"
#include "wire/client_generated.h"
#include "wire/codec.h"

namespace conclave::wire {
namespace {

namespace fbc = fb::client;
using namespace std::string_literals;

template <typename Root>
std::string finish(flatbuffers::FlatBufferBuilder& builder, flatbuffers::Offset<Root> root) {
  builder.Finish(root);
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                     builder.GetSize());
}

template <typename T>
void require_error(const Result<T>& result, ErrorCode code, const std::string& message_part) {
  REQUIRE_FALSE(result.ok());
  INFO(result.error().message);
  CHECK(result.error().code == code);
  CHECK_THAT(result.error().message, Catch::Contains(message_part));
}

std::vector<ClientRequest> all_requests() {
  return {
      ClientRequest{UINT64_MAX, 1500, KvGetRequest{"config/\0key"s}},
      ClientRequest{2, 0, KvPutRequest{"config/key", "\0binary\xff\0"s, "", 0}},
      ClientRequest{3, UINT32_MAX, KvPutRequest{"", "", "", 0}},
      ClientRequest{4, 10, MembersRequest{}},
      ClientRequest{0, 0, StatusRequest{}},
      ClientRequest{0, 0, LeaveRequest{}},
      ClientRequest{5, 0, KvPutRequest{"fenced", "v", "leader", UINT64_MAX}},
      ClientRequest{6, 0, SessionCreateRequest{30000, "cron job", false}},
      ClientRequest{7, 0, SessionCreateRequest{}},
      ClientRequest{8, 0, SessionDestroyRequest{UINT64_MAX}},
      ClientRequest{9, 0, SessionRenewRequest{5}},
      ClientRequest{10, 0, SessionListRequest{}},
      ClientRequest{11, 0, LockAcquireRequest{"db/primary", 5, 3, 2000, 0}},
      ClientRequest{12, 0, LockAcquireRequest{"x", 1, 1, 0, -1}},
      ClientRequest{13, 0, LockReleaseRequest{"db/primary", 5}},
      ClientRequest{14, 0, LockListRequest{"db/"}},
      ClientRequest{15, 0, SessionKeepaliveRequest{}},
      ClientRequest{16, 0, LockCancelRequest{"db/primary", 5}},
      ClientRequest{17, 0, RaftAdminRequest{RaftAdminOp::peers, ""}},
      ClientRequest{20, 0, KvGetRequest{"k", true}},
      ClientRequest{18, 0, RaftAdminRequest{RaftAdminOp::transfer_leader, "node-b"}},
      ClientRequest{19, 0, RaftAdminRequest{RaftAdminOp::remove_peer, "00000000000000ff"}},
      ClientRequest{21, 0, KvPutRequest{"cas", "v", "", 0, true, 0}},
      ClientRequest{22, 0, KvPutRequest{"cas", "v", "", 0, true, UINT64_MAX}},
      ClientRequest{23, 0, KvDeleteRequest{"config/", true}},
      ClientRequest{24, 0, KvDeleteRequest{"k", false}},
      ClientRequest{25, 0, KvListRequest{"config/", "config/b", 500, true}},
      ClientRequest{26, 0, KvListRequest{}},
      ClientRequest{27, 0,
                    KvTxnRequest{{TxnCompare{"a", TxnTarget::mod_revision, TxnCompareOp::less,
                                             "", UINT64_MAX},
                                  TxnCompare{"b", TxnTarget::value, TxnCompareOp::not_equal,
                                             "\0x"s, 0}},
                                 {TxnOp{TxnOpType::put, "a", "v\0"s, false},
                                  TxnOp{TxnOpType::del, "p/", "", true}},
                                 {TxnOp{TxnOpType::get, "a", "", false}}}},
      ClientRequest{28, 0, KvTxnRequest{}},
      ClientRequest{29, 0, MembersWatchRequest{}},
      ClientRequest{30, 0, KvWatchRequest{"w/", true, UINT64_MAX, 30000, 10}},
      ClientRequest{31, 0, KvWatchRequest{}},
  };
}

StatusResponse full_status() {
  StatusResponse status;
  status.node_name = "node-a";
  status.server = true;
  status.raft_role = "leader";
  status.term = 12;
  status.leader_name = "node-a";
  status.commit_index = 100;
  status.applied_index = 99;
  status.last_log_index = 101;
  status.voters = {"node-a", "", "node-c"};
  status.counters = {Counter{"gossip.packets_rejected", 3}, Counter{"", UINT64_MAX}};
  status.server_id = "00000000000000ff";
  status.cluster_id = "feedfacecafebeef";
  status.raft_report = "waiting for 3 servers";
  status.learners = {"node-d"};
  return status;
}

std::vector<ClientResponse> all_responses() {
  MembersResponse members;
  members.members.push_back(
      MemberInfo{"node-a", "10.0.0.1:7946", "alive", "server", "10.0.0.1:7947", 3, {{"role", "web"}}});
  members.members.push_back(MemberInfo{});
  return {
      ClientResponse{1, ErrorCode::ok, "", true,
                     KvGetResponse{true, "v\0alue"s, 5, UINT64_MAX, 12}},
      ClientResponse{30, ErrorCode::ok, "", false, KvDeleteResponse{UINT64_MAX, 3}},
      ClientResponse{31, ErrorCode::ok, "", false, KvDeleteResponse{}},
      ClientResponse{32, ErrorCode::ok, "", false,
                     KvListResponse{{KvEntry{"a", "\0v"s, 1, 2, 3}, KvEntry{"b", "", 4, 4, 1}},
                                    true, UINT64_MAX}},
      ClientResponse{33, ErrorCode::ok, "", false, KvListResponse{}},
      ClientResponse{34, ErrorCode::ok, "", false,
                     KvTxnResponse{true, 9,
                                   {TxnOpResult{TxnOpType::put, 9, 0, false, {}},
                                    TxnOpResult{TxnOpType::del, 0, 3, false, {}},
                                    TxnOpResult{TxnOpType::get, 0, 0, true,
                                                KvEntry{"a", "v", 1, 9, 2}},
                                    TxnOpResult{TxnOpType::get, 0, 0, false, {}}}}},
      ClientResponse{35, ErrorCode::ok, "", false, KvTxnResponse{}},
      ClientResponse{36, ErrorCode::ok, "", true,
                     MemberEvent{"failed", MemberInfo{"node-b", "10.0.0.2:7946", "dead", "client",
                                                      "10.0.0.2:7947", 9, {{"zone", "a"}}}}},
      ClientResponse{37, ErrorCode::ok, "", true, MemberEvent{}},
      ClientResponse{38, ErrorCode::ok, "", false,
                     KvWatchResponse{{KvEvent{KvEventType::put, KvEntry{"w/a", "1", 1, 5, 2}},
                                      KvEvent{KvEventType::del, KvEntry{"w/b", "", 0, 6, 0}}},
                                     6, 1}},
      ClientResponse{39, ErrorCode::ok, "", false, KvWatchResponse{}},
      ClientResponse{2, ErrorCode::ok, "", false, KvGetResponse{false, "", 0, 0}},
      ClientResponse{3, ErrorCode::ok, "", false, KvPutResponse{77}},
      ClientResponse{4, ErrorCode::ok, "", false, members},
      ClientResponse{5, ErrorCode::ok, "", false, MembersResponse{}},
      ClientResponse{6, ErrorCode::ok, "", false, full_status()},
      ClientResponse{7, ErrorCode::no_leader, "no leader: the cluster is electing", false, {}},
      ClientResponse{8, ErrorCode::ok, "", false, SessionCreateResponse{17}},
      ClientResponse{9, ErrorCode::ok, "", false,
                     SessionListResponse{{SessionInfo{17, "node-d", 0, 5, 6, "lock", {"a", "b"}},
                                          SessionInfo{}}}},
      ClientResponse{10, ErrorCode::ok, "", true,
                     LockEvent{"db/primary", 17, 99, LockEventKind::jeopardy, 123456,
                               "no contact"}},
      ClientResponse{11, ErrorCode::ok, "", false,
                     LockListResponse{{LockInfo{"db/primary", 2,
                                                {LockHolderInfo{17, "node-d", 99, 5}},
                                                {LockWaiterInfo{18, "node-e", 6}}, 77},
                                       LockInfo{}}}},
      ClientResponse{12, ErrorCode::ok, "", false, SessionKeepaliveResponse{{1, 2, 3}}},
      ClientResponse{13, ErrorCode::conflict, "held", false, LockCancelResponse{true, 5}},
      ClientResponse{14, ErrorCode::not_leader, "ask b", false, {}},
      ClientResponse{15, ErrorCode::ok, "", false,
                     RaftPeersResponse{{RaftPeer{"node-a", "00000000000000ff", true, true, 40, 0,
                                                 "alive"},
                                        RaftPeer{"", "0000000000000100", false, false, 12,
                                                 INT64_MAX, "unknown"}},
                                       40, 41}},
      ClientResponse{16, ErrorCode::ok, "", false, RaftPeersResponse{}},
  };
}

TEST_CASE("client: every request kind round-trips") {
  for (const ClientRequest& request : all_requests()) {
    const auto decoded = decode_client_request(encode_client_request(request));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == request);
  }
}

TEST_CASE("client: every response kind round-trips") {
  for (const ClientResponse& response : all_responses()) {
    const auto decoded = decode_client_response(encode_client_response(response));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == response);
  }
}

TEST_CASE("client: every error code round-trips, unknown codes are malformed") {
  for (int code = 0; code <= static_cast<int>(ErrorCode::permission_denied); ++code) {
    const ClientResponse response{1, static_cast<ErrorCode>(code), "because", false, {}};
    const auto decoded = decode_client_response(encode_client_response(response));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == response);
  }
  for (int code : {-1, static_cast<int>(ErrorCode::permission_denied) + 1, 1000}) {
    flatbuffers::FlatBufferBuilder builder;
    const std::string bytes = finish(builder, fbc::CreateClientResponse(
                                                  builder, kProtocolVersion, 1, code));
    require_error(decode_client_response(bytes), ErrorCode::malformed,
                  "client response: error_code has unknown value " + std::to_string(code));
  }
}

TEST_CASE("client: a members response at the member limit round-trips, one more is too large") {
  // Members with realistic sizes (~100 bytes each): the whole limit fits one frame.
  MembersResponse members;
  members.members.resize(kMaxMembersPerResponse,
                         MemberInfo{"node-0000-with-a-longish-name", "10.123.234.123:8301", "alive",
                                    "server", "10.123.234.123:8300", 12345, {}});
  ClientResponse response{1, ErrorCode::ok, "", false, members};
  const std::string encoded = encode_client_response(response);
  REQUIRE(encoded.size() <= kMaxFrameBytes);
  const auto decoded = decode_client_response(encoded);
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == response);

  std::get<MembersResponse>(response.body).members.emplace_back();
  const std::string over = std::to_string(kMaxMembersPerResponse + 1);
  const std::string limit = std::to_string(kMaxMembersPerResponse);
  require_error(decode_client_response(encode_client_response(response)), ErrorCode::too_large,
                "client response: body: members has " + over + " elements, over the limit of " +
                    limit);
}

TEST_CASE("client: keys, values and names over their limits are too large") {
  require_error(
      decode_client_request(encode_client_request(
          ClientRequest{1, 0, KvGetRequest{std::string(kMaxKeyBytes + 1, 'k')}})),
      ErrorCode::too_large, "client request: body: key is 1025 bytes, over the limit of 1024");
  CHECK(decode_client_request(encode_client_request(ClientRequest{
                                  1, 0, KvPutRequest{"k", std::string(kMaxValueBytes, 'v'), "", 0}}))
            .ok());
  require_error(decode_client_request(encode_client_request(ClientRequest{
                    1, 0, KvPutRequest{"k", std::string(kMaxValueBytes + 1, 'v'), "", 0}})),
                ErrorCode::too_large, "client request: body: value is 524289 bytes");
  require_error(decode_client_response(encode_client_response(ClientResponse{
                    1, ErrorCode::ok, "", false,
                    KvGetResponse{true, std::string(kMaxValueBytes + 1, 'v'), 1, 1}})),
                ErrorCode::too_large, "client response: body: value is 524289 bytes");

  StatusResponse status = full_status();
  status.voters[1].assign(gossip::kMaxNameBytes + 1, 'v');
  require_error(decode_client_response(
                    encode_client_response(ClientResponse{1, ErrorCode::ok, "", false, status})),
                ErrorCode::too_large, "client response: body: voter 1 is 129 bytes");

  MembersResponse members;
  members.members.push_back(MemberInfo{});
  members.members.push_back(MemberInfo{"n", std::string(gossip::kMaxAddressBytes + 1, 'a'), "alive", "server", "", 1, {}});
  require_error(decode_client_response(
                    encode_client_response(ClientResponse{1, ErrorCode::ok, "", false, members})),
                ErrorCode::too_large, "client response: body: member 1: address is 257 bytes");
}

TEST_CASE("client: a request without a body, or with an unknown one, is malformed") {
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_client_request(finish(
                      builder, fbc::CreateClientRequest(builder, kProtocolVersion, 1, 0))),
                  ErrorCode::malformed, "client request: body is missing");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto status = fbc::CreateStatusRequest(builder);
    require_error(decode_client_request(finish(
                      builder, fbc::CreateClientRequest(builder, kProtocolVersion, 1, 0,
                                                        static_cast<fbc::RequestBody>(22),
                                                        status.Union()))),
                  ErrorCode::malformed, "client request: body has unknown type 22");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_client_request(finish(
                      builder, fbc::CreateClientRequest(builder, kProtocolVersion, 1, 0,
                                                        fbc::RequestBody::MembersRequest, 0))),
                  ErrorCode::malformed, "client request: body has type MembersRequest but no table");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto put = fbc::CreateKvPutResponse(builder, 1);
    require_error(decode_client_response(finish(
                      builder, fbc::CreateClientResponse(builder, kProtocolVersion, 1, 0, 0,
                                                         false, static_cast<fbc::ResponseBody>(18),
                                                         put.Union()))),
                  ErrorCode::malformed, "client response: body has unknown type 18");
  }
}

TEST_CASE("client: wrong versions are rejected") {
  {
    flatbuffers::FlatBufferBuilder builder;
    const auto status = fbc::CreateStatusRequest(builder);
    require_error(decode_client_request(finish(
                      builder, fbc::CreateClientRequest(builder, 3, 1, 0,
                                                        fbc::RequestBody::StatusRequest,
                                                        status.Union()))),
                  ErrorCode::malformed, "client request has protocol version 3");
  }
  {
    flatbuffers::FlatBufferBuilder builder;
    require_error(decode_client_response(finish(builder, fbc::CreateClientResponse(builder))),
                  ErrorCode::malformed, "client response has protocol version 0");
  }
}

TEST_CASE("client: empty, oversize, truncated, garbage and mutated buffers are handled") {
  require_error(decode_client_request(""), ErrorCode::malformed, "client request is empty");
  require_error(decode_client_response(""), ErrorCode::malformed, "client response is empty");
  require_error(decode_client_request(std::string(kMaxFrameBytes + 1, '\0')),
                ErrorCode::too_large, "over the limit of 4194304");
  require_error(decode_client_response(std::string(kMaxFrameBytes + 1, '\0')),
                ErrorCode::too_large, "over the limit of 4194304");

  Prng prng(0xc11e);
  for (const ClientRequest& request : all_requests()) {
    const std::string valid = encode_client_request(request);
    for (size_t length = 0; length < valid.size(); ++length) {
      const auto decoded = decode_client_request(std::string_view(valid).substr(0, length));
      if (decoded.ok()) CHECK(decoded.value() == request);
    }
    for (int i = 0; i < 3000; ++i) {
      const auto decoded = decode_client_request(test::mutate(prng, valid));
      if (!decoded.ok()) continue;
      const auto again = decode_client_request(encode_client_request(decoded.value()));
      REQUIRE(again.ok());
      REQUIRE(again.value() == decoded.value());
    }
  }
  for (const ClientResponse& response : all_responses()) {
    const std::string valid = encode_client_response(response);
    for (size_t length = 0; length < valid.size(); ++length) {
      const auto decoded = decode_client_response(std::string_view(valid).substr(0, length));
      if (decoded.ok()) CHECK(decoded.value() == response);
    }
    for (int i = 0; i < 3000; ++i) {
      const auto decoded = decode_client_response(test::mutate(prng, valid));
      if (!decoded.ok()) continue;
      const auto again = decode_client_response(encode_client_response(decoded.value()));
      REQUIRE(again.ok());
      REQUIRE(again.value() == decoded.value());
    }
  }
  for (int i = 0; i < 3000; ++i) {
    const std::string garbage = test::random_bytes(prng, prng.below(400));
    const auto request = decode_client_request(garbage);
    if (request.ok()) CHECK(decode_client_request(encode_client_request(request.value())).ok());
    const auto response = decode_client_response(garbage);
    if (response.ok()) {
      CHECK(decode_client_response(encode_client_response(response.value())).ok());
    }
  }
}

}  // namespace
}  // namespace conclave::wire
