// The client protocol as plain structs: what `conclave` (the CLI or the C++ client library)
// sends its local agent over the Unix socket, and the answers.
//
// Framing: each message is one length-prefixed frame (see framing.h) holding a FlatBuffers
// ClientRequest / ClientResponse (wire/client.fbs). Every request carries a request_id chosen by
// the client; every response names the request it answers. A response with more = true is
// followed by further responses to the same request (room for streamed replies such as watches).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace conclave::wire {

struct KvGetRequest {
  std::string key;
  bool operator==(const KvGetRequest&) const = default;
};
struct KvPutRequest {
  std::string key;
  std::string value;
  bool operator==(const KvPutRequest&) const = default;
};
struct MembersRequest {
  bool operator==(const MembersRequest&) const = default;
};
struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};

using ClientRequestBody = std::variant<KvGetRequest, KvPutRequest, MembersRequest, StatusRequest>;

struct ClientRequest {
  uint64_t request_id = 0;
  uint32_t timeout_ms = 0;  // 0 = the agent's default
  ClientRequestBody body;
  bool operator==(const ClientRequest&) const = default;
};

struct KvGetResponse {
  bool found = false;
  std::string value;
  uint64_t create_revision = 0;
  uint64_t mod_revision = 0;
  bool operator==(const KvGetResponse&) const = default;
};
struct KvPutResponse {
  uint64_t revision = 0;
  bool operator==(const KvPutResponse&) const = default;
};
struct MemberInfo {
  std::string name;
  std::string address;
  std::string state;   // alive | suspect | dead | left
  std::string role;    // server | client
  std::string rpc_address;
  uint64_t incarnation = 0;
  bool operator==(const MemberInfo&) const = default;
};
struct MembersResponse {
  std::vector<MemberInfo> members;
  bool operator==(const MembersResponse&) const = default;
};
struct Counter {
  std::string name;
  uint64_t value = 0;
  bool operator==(const Counter&) const = default;
};
struct StatusResponse {
  std::string node_name;
  bool server = false;
  std::string raft_role;    // leader | follower | candidate | none
  uint64_t term = 0;
  std::string leader_name;  // empty when no leader is known
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_log_index = 0;
  std::vector<std::string> voters;
  std::vector<Counter> counters;
  std::string server_id;    // hex; empty for a client agent
  std::string cluster_id;   // hex; empty until part of a cluster
  std::string raft_report;  // why Raft is not running (bootstrap wait or refusal, damage)
  bool operator==(const StatusResponse&) const = default;
};

using ClientResponseBody =
    std::variant<std::monostate, KvGetResponse, KvPutResponse, MembersResponse, StatusResponse>;

struct ClientResponse {
  uint64_t request_id = 0;
  ErrorCode error_code = ErrorCode::ok;
  std::string error_message;  // empty when error_code == ok
  bool more = false;
  ClientResponseBody body;
  bool operator==(const ClientResponse&) const = default;
};

}  // namespace conclave::wire
