// ClientRequest / ClientResponse <-> wire/client.fbs: the local client protocol.
#include <type_traits>

#include "wire/client_generated.h"
#include "wire/codec.h"
#include "wire/client_codec_parts.h"
#include "wire/codec_internal.h"

namespace conclave::wire {

namespace fbc = fb::client;
using detail::FieldReader;
using detail::malformed;
using detail::optional_bytes;
using detail::optional_string;
using detail::Where;

namespace detail {

// Every ErrorCode this build knows. A switch without default, so that adding a code to
// common/result.h without teaching the wire about it is a compiler warning.
bool is_known_error_code(int32_t raw) {
  switch (static_cast<ErrorCode>(raw)) {
    case ErrorCode::ok:
    case ErrorCode::invalid_argument:
    case ErrorCode::not_found:
    case ErrorCode::no_leader:
    case ErrorCode::timed_out:
    case ErrorCode::too_large:
    case ErrorCode::unavailable:
    case ErrorCode::storage:
    case ErrorCode::malformed:
    case ErrorCode::internal:
    case ErrorCode::not_leader:
    case ErrorCode::conflict:
    case ErrorCode::permission_denied:
      return true;
  }
  return false;
}

}  // namespace detail

namespace {

using detail::is_known_error_code;

// Requests hold at most a couple of tables; a transaction one per comparison and operation.
const detail::VerifyLimits kRequestLimits{.max_bytes = kMaxFrameBytes,
                                          .max_depth = 16,
                                          .max_tables = 16 + kMaxTxnCompares + 2 * kMaxTxnOps};
// A members response legitimately holds one table per member.
// A members response holds one table per member; a lock list one per lock, holder and waiter.
const detail::VerifyLimits kResponseLimits{.max_bytes = kMaxFrameBytes,
                                           .max_depth = 16,
                                           .max_tables = kMaxMembersPerResponse +
                                                         4 * kMaxListedItems + 1024};

// Short words such as "alive" or "leader".
constexpr size_t kMaxWordBytes = gossip::kMaxNameBytes;
// A human-readable explanation (why Raft is not running): a few sentences at most.
constexpr size_t kMaxReportBytes = 4096;


// ---- transactions ----

flatbuffers::Offset<fbc::KvItem> encode_item(flatbuffers::FlatBufferBuilder& builder,
                                             const KvEntry& entry) {
  const auto key = optional_string(builder, entry.key);
  const auto bytes = optional_bytes(builder, entry.value);
  return fbc::CreateKvItem(builder, key, bytes, entry.create_revision, entry.mod_revision,
                           entry.version);
}

Result<KvEntry> decode_item(const fbc::KvItem& item, FieldReader& reader, const Where& where) {
  KvEntry entry;
  CONCLAVE_WIRE_TRY(reader.read_string(item.key(), kMaxKeyBytes, Where(where, "key"), entry.key));
  CONCLAVE_WIRE_TRY(
      reader.read_bytes(item.value(), kMaxValueBytes, Where(where, "value"), entry.value));
  entry.create_revision = item.create_revision();
  entry.mod_revision = item.mod_revision();
  entry.version = item.version();
  return entry;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fbc::TxnOp>>> encode_txn_ops(
    flatbuffers::FlatBufferBuilder& builder, const std::vector<TxnOp>& ops) {
  std::vector<flatbuffers::Offset<fbc::TxnOp>> encoded;
  for (const TxnOp& op : ops) {
    const auto key = optional_string(builder, op.key);
    const auto value = optional_bytes(builder, op.value);
    encoded.push_back(
        fbc::CreateTxnOp(builder, static_cast<uint8_t>(op.type), key, value, op.prefix));
  }
  return builder.CreateVector(encoded);
}

flatbuffers::Offset<fbc::KvTxnRequest> encode_txn(flatbuffers::FlatBufferBuilder& builder,
                                                  const KvTxnRequest& txn) {
  std::vector<flatbuffers::Offset<fbc::TxnCompare>> compares;
  for (const TxnCompare& compare : txn.compares) {
    const auto key = optional_string(builder, compare.key);
    const auto value = optional_bytes(builder, compare.value);
    compares.push_back(fbc::CreateTxnCompare(builder, key, static_cast<uint8_t>(compare.target),
                                             static_cast<uint8_t>(compare.op), value,
                                             compare.number));
  }
  const auto compare_vector = builder.CreateVector(compares);
  const auto success = encode_txn_ops(builder, txn.success);
  const auto failure = encode_txn_ops(builder, txn.failure);
  return fbc::CreateKvTxnRequest(builder, compare_vector, success, failure);
}

Status decode_txn_ops(const flatbuffers::Vector<flatbuffers::Offset<fbc::TxnOp>>* ops,
                      FieldReader& reader, const Where& where, std::vector<TxnOp>& out) {
  CONCLAVE_WIRE_TRY(detail::check_count(ops, kMaxTxnOps, where));
  if (ops == nullptr) return Status();
  for (flatbuffers::uoffset_t i = 0; i < ops->size(); ++i) {
    const fbc::TxnOp* table = ops->Get(i);
    const Where op_where(where, "op", i);
    if (table->type() > static_cast<uint8_t>(TxnOpType::get)) {
      return malformed(op_where, "has unknown type " + std::to_string(table->type()));
    }
    TxnOp op;
    op.type = static_cast<TxnOpType>(table->type());
    CONCLAVE_WIRE_TRY(reader.read_string(table->key(), kMaxKeyBytes, Where(op_where, "key"), op.key));
    CONCLAVE_WIRE_TRY(
        reader.read_bytes(table->value(), kMaxValueBytes, Where(op_where, "value"), op.value));
    op.prefix = table->prefix();
    out.push_back(std::move(op));
  }
  return Status();
}

Result<KvTxnRequest> decode_txn(const fbc::KvTxnRequest& table, FieldReader& reader,
                                const Where& where) {
  KvTxnRequest txn;
  const auto* compares = table.compares();
  CONCLAVE_WIRE_TRY(detail::check_count(compares, kMaxTxnCompares, Where(where, "compares")));
  if (compares != nullptr) {
    for (flatbuffers::uoffset_t i = 0; i < compares->size(); ++i) {
      const fbc::TxnCompare* entry = compares->Get(i);
      const Where compare_where(where, "compare", i);
      if (entry->target() > static_cast<uint8_t>(TxnTarget::mod_revision)) {
        return malformed(compare_where, "has unknown target " + std::to_string(entry->target()));
      }
      if (entry->op() > static_cast<uint8_t>(TxnCompareOp::greater)) {
        return malformed(compare_where, "has unknown operator " + std::to_string(entry->op()));
      }
      TxnCompare compare;
      CONCLAVE_WIRE_TRY(reader.read_string(entry->key(), kMaxKeyBytes,
                                           Where(compare_where, "key"), compare.key));
      compare.target = static_cast<TxnTarget>(entry->target());
      compare.op = static_cast<TxnCompareOp>(entry->op());
      CONCLAVE_WIRE_TRY(reader.read_bytes(entry->value(), kMaxValueBytes,
                                          Where(compare_where, "value"), compare.value));
      compare.number = entry->number();
      txn.compares.push_back(std::move(compare));
    }
  }
  CONCLAVE_WIRE_TRY(decode_txn_ops(table.success(), reader, Where(where, "success"), txn.success));
  CONCLAVE_WIRE_TRY(decode_txn_ops(table.failure(), reader, Where(where, "failure"), txn.failure));
  return txn;
}

// ---- request bodies ----

Result<ClientRequestBody> decode_request_body(const fbc::ClientRequest& request,
                                              FieldReader& reader, const Where& where) {
  switch (request.body_type()) {
    case fbc::RequestBody::NONE:
      return malformed(where, "is missing (union type NONE)");
    case fbc::RequestBody::KvGetRequest: {
      const auto* table = request.body_as_KvGetRequest();
      if (table == nullptr) return malformed(where, "has type KvGetRequest but no table");
      KvGetRequest body;
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->key(), kMaxKeyBytes, Where(where, "key"), body.key));
      body.stale = table->stale();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::KvPutRequest: {
      const auto* table = request.body_as_KvPutRequest();
      if (table == nullptr) return malformed(where, "has type KvPutRequest but no table");
      KvPutRequest body;
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->key(), kMaxKeyBytes, Where(where, "key"), body.key));
      CONCLAVE_WIRE_TRY(
          reader.read_bytes(table->value(), kMaxValueBytes, Where(where, "value"), body.value));
      CONCLAVE_WIRE_TRY(reader.read_string(table->guard_lock(), kMaxLockNameBytes,
                                           Where(where, "guard_lock"), body.guard_lock));
      body.guard_token = table->guard_token();
      body.cas = table->cas();
      body.cas_revision = table->cas_revision();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::KvDeleteRequest: {
      const auto* table = request.body_as_KvDeleteRequest();
      if (table == nullptr) return malformed(where, "has type KvDeleteRequest but no table");
      KvDeleteRequest body;
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->key(), kMaxKeyBytes, Where(where, "key"), body.key));
      body.prefix = table->prefix();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::KvWatchRequest: {
      const auto* table = request.body_as_KvWatchRequest();
      if (table == nullptr) return malformed(where, "has type KvWatchRequest but no table");
      KvWatchRequest body;
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->key(), kMaxKeyBytes, Where(where, "key"), body.key));
      body.prefix = table->prefix();
      body.from_revision = table->from_revision();
      body.wait_ms = table->wait_ms();
      body.max_events = table->max_events();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::MembersWatchRequest:
      if (request.body_as_MembersWatchRequest() == nullptr) {
        return malformed(where, "has type MembersWatchRequest but no table");
      }
      return ClientRequestBody(MembersWatchRequest{});
    case fbc::RequestBody::KvTxnRequest: {
      const auto* table = request.body_as_KvTxnRequest();
      if (table == nullptr) return malformed(where, "has type KvTxnRequest but no table");
      Result<KvTxnRequest> txn = decode_txn(*table, reader, where);
      if (!txn.ok()) return txn.error();
      return ClientRequestBody(std::move(txn).value());
    }
    case fbc::RequestBody::KvListRequest: {
      const auto* table = request.body_as_KvListRequest();
      if (table == nullptr) return malformed(where, "has type KvListRequest but no table");
      KvListRequest body;
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->prefix(), kMaxKeyBytes, Where(where, "prefix"), body.prefix));
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->after(), kMaxKeyBytes, Where(where, "after"), body.after));
      body.limit = table->limit();
      body.keys_only = table->keys_only();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::MembersRequest:
      if (request.body_as_MembersRequest() == nullptr) {
        return malformed(where, "has type MembersRequest but no table");
      }
      return ClientRequestBody(MembersRequest{});
    case fbc::RequestBody::StatusRequest:
      if (request.body_as_StatusRequest() == nullptr) {
        return malformed(where, "has type StatusRequest but no table");
      }
      return ClientRequestBody(StatusRequest{});
    case fbc::RequestBody::LeaveRequest:
      if (request.body_as_LeaveRequest() == nullptr) {
        return malformed(where, "has type LeaveRequest but no table");
      }
      return ClientRequestBody(LeaveRequest{});
    case fbc::RequestBody::SessionCreateRequest:
    case fbc::RequestBody::SessionDestroyRequest:
    case fbc::RequestBody::SessionRenewRequest:
    case fbc::RequestBody::SessionListRequest:
    case fbc::RequestBody::LockAcquireRequest:
    case fbc::RequestBody::LockReleaseRequest:
    case fbc::RequestBody::LockListRequest:
    case fbc::RequestBody::SessionKeepaliveRequest:
    case fbc::RequestBody::LockCancelRequest:
      return detail::decode_session_request(request, reader, where);
    case fbc::RequestBody::RaftAdminRequest:
      return detail::decode_raft_admin_request(request, reader, where);
    case fbc::RequestBody::KeyringRequest:
      return detail::decode_keyring_request(request, reader, where);
  }
  return malformed(where, "has unknown type " +
                              std::to_string(static_cast<unsigned>(request.body_type())));
}

// ---- response bodies ----

flatbuffers::Offset<fbc::MemberInfo> encode_member(flatbuffers::FlatBufferBuilder& builder,
                                                   const MemberInfo& member) {
  const auto name = optional_string(builder, member.name);
  const auto address = optional_string(builder, member.address);
  const auto state = optional_string(builder, member.state);
  const auto role = optional_string(builder, member.role);
  const auto rpc_address = optional_string(builder, member.rpc_address);
  std::vector<flatbuffers::Offset<fbc::MemberTag>> tags;
  for (const auto& [key, value] : member.tags) {
    const auto key_offset = builder.CreateString(key);
    const auto value_offset = builder.CreateString(value);
    tags.push_back(fbc::CreateMemberTag(builder, key_offset, value_offset));
  }
  const auto tags_vector = tags.empty() ? 0 : builder.CreateVector(tags);
  return fbc::CreateMemberInfo(builder, name, address, state, role, rpc_address,
                               member.incarnation, tags_vector);
}

flatbuffers::Offset<fbc::MembersResponse> encode_members(flatbuffers::FlatBufferBuilder& builder,
                                                         const MembersResponse& body) {
  std::vector<flatbuffers::Offset<fbc::MemberInfo>> members;
  members.reserve(body.members.size());
  for (const MemberInfo& member : body.members) members.push_back(encode_member(builder, member));
  const auto members_vector = members.empty() ? 0 : builder.CreateVector(members);
  return fbc::CreateMembersResponse(builder, members_vector);
}

flatbuffers::Offset<fbc::StatusResponse> encode_status(flatbuffers::FlatBufferBuilder& builder,
                                                       const StatusResponse& body) {
  const auto node_name = optional_string(builder, body.node_name);
  const auto raft_role = optional_string(builder, body.raft_role);
  const auto leader_name = optional_string(builder, body.leader_name);
  std::vector<flatbuffers::Offset<flatbuffers::String>> voters;
  voters.reserve(body.voters.size());
  // Vector elements cannot be omitted, so empty voter names are written as empty strings.
  for (const std::string& voter : body.voters) {
    voters.push_back(builder.CreateString(voter.data(), voter.size()));
  }
  const auto voters_vector = voters.empty() ? 0 : builder.CreateVector(voters);
  std::vector<flatbuffers::Offset<flatbuffers::String>> learners;
  for (const std::string& learner : body.learners) {
    learners.push_back(builder.CreateString(learner.data(), learner.size()));
  }
  const auto learners_vector = learners.empty() ? 0 : builder.CreateVector(learners);
  std::vector<flatbuffers::Offset<fbc::Counter>> counters;
  counters.reserve(body.counters.size());
  for (const Counter& counter : body.counters) {
    const auto name = optional_string(builder, counter.name);
    counters.push_back(fbc::CreateCounter(builder, name, counter.value));
  }
  const auto counters_vector = counters.empty() ? 0 : builder.CreateVector(counters);
  const auto server_id = optional_string(builder, body.server_id);
  const auto cluster_id = optional_string(builder, body.cluster_id);
  const auto raft_report = optional_string(builder, body.raft_report);
  return fbc::CreateStatusResponse(builder, node_name, body.server, raft_role, body.term,
                                   leader_name, body.commit_index, body.applied_index,
                                   body.last_log_index, voters_vector, counters_vector,
                                   server_id, cluster_id, raft_report, learners_vector);
}

Status decode_member(const fbc::MemberInfo& member, FieldReader& reader,
                     const Where& member_where, MemberInfo& out) {
  CONCLAVE_WIRE_TRY(reader.read_string(member.name(), gossip::kMaxNameBytes,
                                       Where(member_where, "name"), out.name));
  CONCLAVE_WIRE_TRY(reader.read_string(member.address(), gossip::kMaxAddressBytes,
                                       Where(member_where, "address"), out.address));
  CONCLAVE_WIRE_TRY(reader.read_string(member.state(), kMaxWordBytes,
                                       Where(member_where, "state"), out.state));
  CONCLAVE_WIRE_TRY(reader.read_string(member.role(), kMaxWordBytes,
                                       Where(member_where, "role"), out.role));
  CONCLAVE_WIRE_TRY(reader.read_string(member.rpc_address(), gossip::kMaxAddressBytes,
                                       Where(member_where, "rpc_address"), out.rpc_address));
  out.incarnation = member.incarnation();
  const auto* tags = member.tags();
  CONCLAVE_WIRE_TRY(detail::check_count(tags, kMaxTags, Where(member_where, "tags")));
  if (tags == nullptr) return Status();
  for (flatbuffers::uoffset_t t = 0; t < tags->size(); ++t) {
    std::string key;
    std::string value;
    CONCLAVE_WIRE_TRY(reader.read_string(tags->Get(t)->key(), kMaxTagKeyBytes,
                                         Where(member_where, "tag key"), key));
    CONCLAVE_WIRE_TRY(reader.read_string(tags->Get(t)->value(), kMaxTagValueBytes,
                                         Where(member_where, "tag value"), value));
    out.tags[std::move(key)] = std::move(value);
  }
  return Status();
}

Result<MembersResponse> decode_members(const fbc::MembersResponse& table, FieldReader& reader,
                                       const Where& where) {
  MembersResponse body;
  const auto* members = table.members();
  CONCLAVE_WIRE_TRY(
      detail::check_count(members, kMaxMembersPerResponse, Where(where, "members")));
  if (members == nullptr) return body;
  body.members.resize(members->size());
  for (flatbuffers::uoffset_t i = 0; i < members->size(); ++i) {
    CONCLAVE_WIRE_TRY(
        decode_member(*members->Get(i), reader, Where(where, "member", i), body.members[i]));
  }
  return body;
}

Result<StatusResponse> decode_status(const fbc::StatusResponse& table, FieldReader& reader,
                                     const Where& where) {
  StatusResponse body;
  CONCLAVE_WIRE_TRY(reader.read_string(table.node_name(), gossip::kMaxNameBytes,
                                       Where(where, "node_name"), body.node_name));
  body.server = table.server();
  CONCLAVE_WIRE_TRY(reader.read_string(table.raft_role(), kMaxWordBytes,
                                       Where(where, "raft_role"), body.raft_role));
  body.term = table.term();
  CONCLAVE_WIRE_TRY(reader.read_string(table.leader_name(), gossip::kMaxNameBytes,
                                       Where(where, "leader_name"), body.leader_name));
  body.commit_index = table.commit_index();
  body.applied_index = table.applied_index();
  body.last_log_index = table.last_log_index();
  CONCLAVE_WIRE_TRY(reader.read_string(table.server_id(), kMaxWordBytes,
                                       Where(where, "server_id"), body.server_id));
  CONCLAVE_WIRE_TRY(reader.read_string(table.cluster_id(), kMaxWordBytes,
                                       Where(where, "cluster_id"), body.cluster_id));
  CONCLAVE_WIRE_TRY(reader.read_string(table.raft_report(), kMaxReportBytes,
                                       Where(where, "raft_report"), body.raft_report));

  const auto* voters = table.voters();
  CONCLAVE_WIRE_TRY(detail::check_count(voters, kMaxMembersPerResponse, Where(where, "voters")));
  if (voters != nullptr) {
    body.voters.resize(voters->size());
    for (flatbuffers::uoffset_t i = 0; i < voters->size(); ++i) {
      CONCLAVE_WIRE_TRY(reader.read_string(voters->Get(i), gossip::kMaxNameBytes,
                                           Where(where, "voter", i), body.voters[i]));
    }
  }
  const auto* learners = table.learners();
  CONCLAVE_WIRE_TRY(
      detail::check_count(learners, kMaxMembersPerResponse, Where(where, "learners")));
  if (learners != nullptr) {
    body.learners.resize(learners->size());
    for (flatbuffers::uoffset_t i = 0; i < learners->size(); ++i) {
      CONCLAVE_WIRE_TRY(reader.read_string(learners->Get(i), gossip::kMaxNameBytes,
                                           Where(where, "learner", i), body.learners[i]));
    }
  }
  // Counters have no count limit of their own: the frame size, the reader's budget and the
  // verifier's table cap bound them.
  if (const auto* counters = table.counters()) {
    body.counters.resize(counters->size());
    for (flatbuffers::uoffset_t i = 0; i < counters->size(); ++i) {
      const fbc::Counter* counter = counters->Get(i);
      CONCLAVE_WIRE_TRY(reader.read_string(counter->name(), gossip::kMaxNameBytes,
                                           Where(where, "counter", i), body.counters[i].name));
      body.counters[i].value = counter->value();
    }
  }
  return body;
}

Result<ClientResponseBody> decode_response_body(const fbc::ClientResponse& response,
                                                FieldReader& reader, const Where& where) {
  switch (response.body_type()) {
    case fbc::ResponseBody::NONE:
      return ClientResponseBody(std::monostate{});
    case fbc::ResponseBody::KvGetResponse: {
      const auto* table = response.body_as_KvGetResponse();
      if (table == nullptr) return malformed(where, "has type KvGetResponse but no table");
      KvGetResponse body;
      body.found = table->found();
      CONCLAVE_WIRE_TRY(
          reader.read_bytes(table->value(), kMaxValueBytes, Where(where, "value"), body.value));
      body.create_revision = table->create_revision();
      body.mod_revision = table->mod_revision();
      body.version = table->version();
      return ClientResponseBody(std::move(body));
    }
    case fbc::ResponseBody::KvPutResponse: {
      const auto* table = response.body_as_KvPutResponse();
      if (table == nullptr) return malformed(where, "has type KvPutResponse but no table");
      return ClientResponseBody(KvPutResponse{.revision = table->revision()});
    }
    case fbc::ResponseBody::KvWatchResponse: {
      const auto* table = response.body_as_KvWatchResponse();
      if (table == nullptr) return malformed(where, "has type KvWatchResponse but no table");
      KvWatchResponse body;
      body.watch_revision = table->watch_revision();
      body.oldest_revision = table->oldest_revision();
      const auto* events = table->events();
      CONCLAVE_WIRE_TRY(detail::check_count(events, kMaxWatchEvents, Where(where, "events")));
      if (events != nullptr) {
        for (flatbuffers::uoffset_t i = 0; i < events->size(); ++i) {
          const fbc::KvEvent* entry = events->Get(i);
          const Where event_where(where, "event", i);
          if (entry->type() > static_cast<uint8_t>(KvEventType::del)) {
            return malformed(event_where, "has unknown type " + std::to_string(entry->type()));
          }
          KvEvent event;
          event.type = static_cast<KvEventType>(entry->type());
          if (entry->item() != nullptr) {
            Result<KvEntry> item = decode_item(*entry->item(), reader, event_where);
            if (!item.ok()) return item.error();
            event.entry = std::move(item).value();
          }
          body.events.push_back(std::move(event));
        }
      }
      return ClientResponseBody(std::move(body));
    }
    case fbc::ResponseBody::MemberEvent: {
      const auto* table = response.body_as_MemberEvent();
      if (table == nullptr) return malformed(where, "has type MemberEvent but no table");
      MemberEvent event;
      CONCLAVE_WIRE_TRY(
          reader.read_string(table->type(), kMaxWordBytes, Where(where, "type"), event.type));
      if (table->member() != nullptr) {
        CONCLAVE_WIRE_TRY(
            decode_member(*table->member(), reader, Where(where, "member"), event.member));
      }
      return ClientResponseBody(std::move(event));
    }
    case fbc::ResponseBody::KvTxnResponse: {
      const auto* table = response.body_as_KvTxnResponse();
      if (table == nullptr) return malformed(where, "has type KvTxnResponse but no table");
      KvTxnResponse body;
      body.succeeded = table->succeeded();
      body.revision = table->revision();
      const auto* results = table->results();
      CONCLAVE_WIRE_TRY(detail::check_count(results, kMaxTxnOps, Where(where, "results")));
      if (results != nullptr) {
        for (flatbuffers::uoffset_t i = 0; i < results->size(); ++i) {
          const fbc::TxnOpResult* entry = results->Get(i);
          const Where result_where(where, "result", i);
          if (entry->type() > static_cast<uint8_t>(TxnOpType::get)) {
            return malformed(result_where, "has unknown type " + std::to_string(entry->type()));
          }
          TxnOpResult result;
          result.type = static_cast<TxnOpType>(entry->type());
          result.revision = entry->revision();
          result.deleted = entry->deleted();
          result.found = entry->found();
          if (result.found && entry->item() != nullptr) {  // only a found get has one
            Result<KvEntry> item = decode_item(*entry->item(), reader, result_where);
            if (!item.ok()) return item.error();
            result.entry = std::move(item).value();
          }
          body.results.push_back(std::move(result));
        }
      }
      return ClientResponseBody(std::move(body));
    }
    case fbc::ResponseBody::KvListResponse: {
      const auto* table = response.body_as_KvListResponse();
      if (table == nullptr) return malformed(where, "has type KvListResponse but no table");
      KvListResponse body;
      body.more = table->more();
      body.revision = table->revision();
      const auto* items = table->items();
      CONCLAVE_WIRE_TRY(detail::check_count(items, kMaxListLimit, Where(where, "items")));
      if (items != nullptr) {
        body.items.reserve(items->size());
        for (flatbuffers::uoffset_t i = 0; i < items->size(); ++i) {
          const fbc::KvItem* item = items->Get(i);
          const Where item_where(where, "item", i);
          KvEntry entry;
          CONCLAVE_WIRE_TRY(reader.read_string(item->key(), kMaxKeyBytes,
                                               Where(item_where, "key"), entry.key));
          CONCLAVE_WIRE_TRY(reader.read_bytes(item->value(), kMaxValueBytes,
                                              Where(item_where, "value"), entry.value));
          entry.create_revision = item->create_revision();
          entry.mod_revision = item->mod_revision();
          entry.version = item->version();
          body.items.push_back(std::move(entry));
        }
      }
      return ClientResponseBody(std::move(body));
    }
    case fbc::ResponseBody::KvDeleteResponse: {
      const auto* table = response.body_as_KvDeleteResponse();
      if (table == nullptr) return malformed(where, "has type KvDeleteResponse but no table");
      return ClientResponseBody(
          KvDeleteResponse{.revision = table->revision(), .deleted = table->deleted()});
    }
    case fbc::ResponseBody::MembersResponse: {
      const auto* table = response.body_as_MembersResponse();
      if (table == nullptr) return malformed(where, "has type MembersResponse but no table");
      Result<MembersResponse> body = decode_members(*table, reader, where);
      if (!body.ok()) return body.error();
      return ClientResponseBody(std::move(body).value());
    }
    case fbc::ResponseBody::StatusResponse: {
      const auto* table = response.body_as_StatusResponse();
      if (table == nullptr) return malformed(where, "has type StatusResponse but no table");
      Result<StatusResponse> body = decode_status(*table, reader, where);
      if (!body.ok()) return body.error();
      return ClientResponseBody(std::move(body).value());
    }
    case fbc::ResponseBody::SessionCreateResponse:
    case fbc::ResponseBody::SessionListResponse:
    case fbc::ResponseBody::LockEvent:
    case fbc::ResponseBody::LockListResponse:
    case fbc::ResponseBody::SessionKeepaliveResponse:
    case fbc::ResponseBody::LockCancelResponse:
      return detail::decode_session_response(response, reader, where);
    case fbc::ResponseBody::RaftPeersResponse:
      return detail::decode_raft_peers_response(response, reader, where);
    case fbc::ResponseBody::KeyringResponse:
      return detail::decode_keyring_response(response, reader, where);
  }
  return malformed(where, "has unknown type " +
                              std::to_string(static_cast<unsigned>(response.body_type())));
}

}  // namespace

std::string encode_client_request(const ClientRequest& request) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto [body_type, body] = std::visit(
      [&builder](const auto& value) -> std::pair<fbc::RequestBody, flatbuffers::Offset<void>> {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, KvGetRequest>) {
          const auto key = optional_string(builder, value.key);
          return {fbc::RequestBody::KvGetRequest,
                  fbc::CreateKvGetRequest(builder, key, value.stale).Union()};
        } else if constexpr (std::is_same_v<T, KvPutRequest>) {
          const auto key = optional_string(builder, value.key);
          const auto bytes = optional_bytes(builder, value.value);
          const auto guard = optional_string(builder, value.guard_lock);
          return {fbc::RequestBody::KvPutRequest,
                  fbc::CreateKvPutRequest(builder, key, bytes, guard, value.guard_token, value.cas,
                                          value.cas_revision)
                      .Union()};
        } else if constexpr (std::is_same_v<T, KvDeleteRequest>) {
          const auto key = optional_string(builder, value.key);
          return {fbc::RequestBody::KvDeleteRequest,
                  fbc::CreateKvDeleteRequest(builder, key, value.prefix).Union()};
        } else if constexpr (std::is_same_v<T, KvWatchRequest>) {
          const auto key = optional_string(builder, value.key);
          return {fbc::RequestBody::KvWatchRequest,
                  fbc::CreateKvWatchRequest(builder, key, value.prefix, value.from_revision,
                                            value.wait_ms, value.max_events)
                      .Union()};
        } else if constexpr (std::is_same_v<T, MembersWatchRequest>) {
          return {fbc::RequestBody::MembersWatchRequest,
                  fbc::CreateMembersWatchRequest(builder).Union()};
        } else if constexpr (std::is_same_v<T, KvTxnRequest>) {
          return {fbc::RequestBody::KvTxnRequest, encode_txn(builder, value).Union()};
        } else if constexpr (std::is_same_v<T, KvListRequest>) {
          const auto prefix = optional_string(builder, value.prefix);
          const auto after = optional_string(builder, value.after);
          return {fbc::RequestBody::KvListRequest,
                  fbc::CreateKvListRequest(builder, prefix, after, value.limit, value.keys_only)
                      .Union()};
        } else if constexpr (std::is_same_v<T, MembersRequest>) {
          return {fbc::RequestBody::MembersRequest, fbc::CreateMembersRequest(builder).Union()};
        } else if constexpr (std::is_same_v<T, StatusRequest>) {
          return {fbc::RequestBody::StatusRequest, fbc::CreateStatusRequest(builder).Union()};
        } else if constexpr (std::is_same_v<T, LeaveRequest>) {
          return {fbc::RequestBody::LeaveRequest, fbc::CreateLeaveRequest(builder).Union()};
        } else if constexpr (std::is_same_v<T, KeyringRequest>) {
          return detail::encode_keyring_request(builder, value);
        } else if constexpr (std::is_same_v<T, RaftAdminRequest>) {
          return detail::encode_raft_admin_request(builder, value);
        } else {
          return detail::encode_session_request(builder, ClientRequestBody(value));
        }
      },
      request.body);
  builder.Finish(fbc::CreateClientRequest(builder, kProtocolVersion, request.request_id,
                                          request.timeout_ms, body_type, body));
  return detail::finish_to_string(builder);
}

Result<ClientRequest> decode_client_request(std::string_view bytes) {
  const Where request_where("client request");
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<fbc::ClientRequest>(bytes, kRequestLimits, request_where);
  if (!verified.ok()) return verified.error();
  const auto* table = verified.value().root<fbc::ClientRequest>();
  CONCLAVE_WIRE_TRY(detail::check_version(table->version(), request_where));

  FieldReader reader(bytes.size());
  ClientRequest request;
  request.request_id = table->request_id();
  request.timeout_ms = table->timeout_ms();
  Result<ClientRequestBody> body =
      decode_request_body(*table, reader, Where(request_where, "body"));
  if (!body.ok()) return body.error();
  request.body = std::move(body).value();
  return request;
}

uint64_t request_id_of_client_request(std::string_view bytes) {
  Result<detail::VerifiedBuffer> verified = detail::VerifiedBuffer::verify<fbc::ClientRequest>(
      bytes, kRequestLimits, Where("client request"));
  if (!verified.ok()) return 0;
  return verified.value().root<fbc::ClientRequest>()->request_id();
}

std::string encode_client_response(const ClientResponse& response) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto [body_type, body] = std::visit(
      [&builder](const auto& value) -> std::pair<fbc::ResponseBody, flatbuffers::Offset<void>> {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return {fbc::ResponseBody::NONE, 0};
        } else if constexpr (std::is_same_v<T, KvGetResponse>) {
          const auto bytes = optional_bytes(builder, value.value);
          return {fbc::ResponseBody::KvGetResponse,
                  fbc::CreateKvGetResponse(builder, value.found, bytes, value.create_revision,
                                           value.mod_revision, value.version)
                      .Union()};
        } else if constexpr (std::is_same_v<T, KvPutResponse>) {
          return {fbc::ResponseBody::KvPutResponse,
                  fbc::CreateKvPutResponse(builder, value.revision).Union()};
        } else if constexpr (std::is_same_v<T, KvWatchResponse>) {
          std::vector<flatbuffers::Offset<fbc::KvEvent>> events;
          for (const KvEvent& event : value.events) {
            events.push_back(fbc::CreateKvEvent(builder, static_cast<uint8_t>(event.type),
                                                encode_item(builder, event.entry)));
          }
          const auto vector = builder.CreateVector(events);
          return {fbc::ResponseBody::KvWatchResponse,
                  fbc::CreateKvWatchResponse(builder, vector, value.watch_revision,
                                             value.oldest_revision)
                      .Union()};
        } else if constexpr (std::is_same_v<T, MemberEvent>) {
          const auto type = optional_string(builder, value.type);
          const auto member = encode_member(builder, value.member);
          return {fbc::ResponseBody::MemberEvent,
                  fbc::CreateMemberEvent(builder, type, member).Union()};
        } else if constexpr (std::is_same_v<T, KvTxnResponse>) {
          std::vector<flatbuffers::Offset<fbc::TxnOpResult>> results;
          for (const TxnOpResult& result : value.results) {
            const auto item = result.found ? encode_item(builder, result.entry) : 0;
            results.push_back(fbc::CreateTxnOpResult(builder, static_cast<uint8_t>(result.type),
                                                     result.revision, result.deleted,
                                                     result.found, item));
          }
          const auto vector = builder.CreateVector(results);
          return {fbc::ResponseBody::KvTxnResponse,
                  fbc::CreateKvTxnResponse(builder, value.succeeded, value.revision, vector)
                      .Union()};
        } else if constexpr (std::is_same_v<T, KvListResponse>) {
          std::vector<flatbuffers::Offset<fbc::KvItem>> items;
          items.reserve(value.items.size());
          for (const KvEntry& entry : value.items) {
            const auto key = optional_string(builder, entry.key);
            const auto bytes = optional_bytes(builder, entry.value);
            items.push_back(fbc::CreateKvItem(builder, key, bytes, entry.create_revision,
                                              entry.mod_revision, entry.version));
          }
          const auto vector = builder.CreateVector(items);
          return {fbc::ResponseBody::KvListResponse,
                  fbc::CreateKvListResponse(builder, vector, value.more, value.revision).Union()};
        } else if constexpr (std::is_same_v<T, KvDeleteResponse>) {
          return {fbc::ResponseBody::KvDeleteResponse,
                  fbc::CreateKvDeleteResponse(builder, value.revision, value.deleted).Union()};
        } else if constexpr (std::is_same_v<T, MembersResponse>) {
          return {fbc::ResponseBody::MembersResponse, encode_members(builder, value).Union()};
        } else if constexpr (std::is_same_v<T, StatusResponse>) {
          return {fbc::ResponseBody::StatusResponse, encode_status(builder, value).Union()};
        } else if constexpr (std::is_same_v<T, RaftPeersResponse>) {
          return detail::encode_raft_peers_response(builder, value);
        } else if constexpr (std::is_same_v<T, KeyringResponse>) {
          return detail::encode_keyring_response(builder, value);
        } else {
          return detail::encode_session_response(builder, ClientResponseBody(value));
        }
      },
      response.body);
  const auto error_message = optional_string(builder, response.error_message);
  builder.Finish(fbc::CreateClientResponse(builder, kProtocolVersion, response.request_id,
                                           static_cast<int32_t>(response.error_code),
                                           error_message, response.more, body_type, body));
  return detail::finish_to_string(builder);
}

Result<ClientResponse> decode_client_response(std::string_view bytes) {
  const Where response_where("client response");
  Result<detail::VerifiedBuffer> verified = detail::VerifiedBuffer::verify<fbc::ClientResponse>(
      bytes, kResponseLimits, response_where);
  if (!verified.ok()) return verified.error();
  const auto* table = verified.value().root<fbc::ClientResponse>();
  CONCLAVE_WIRE_TRY(detail::check_version(table->version(), response_where));

  FieldReader reader(bytes.size());
  ClientResponse response;
  response.request_id = table->request_id();
  if (!is_known_error_code(table->error_code())) {
    return malformed(Where(response_where, "error_code"),
                     "has unknown value " + std::to_string(table->error_code()));
  }
  response.error_code = static_cast<ErrorCode>(table->error_code());
  CONCLAVE_WIRE_TRY(reader.read_string(table->error_message(), kMaxFrameBytes,
                                       Where(response_where, "error_message"),
                                       response.error_message));
  response.more = table->more();
  Result<ClientResponseBody> body =
      decode_response_body(*table, reader, Where(response_where, "body"));
  if (!body.ok()) return body.error();
  response.body = std::move(body).value();
  return response;
}

}  // namespace conclave::wire
