// The client protocol's session and lock bodies (wire/client.fbs).
#include <type_traits>

#include "wire/client_codec_parts.h"
#include "wire/codec.h"

namespace conclave::wire {

const char* lock_event_kind_name(LockEventKind kind) {
  switch (kind) {
    case LockEventKind::granted: return "granted";
    case LockEventKind::renewed: return "renewed";
    case LockEventKind::jeopardy: return "jeopardy";
    case LockEventKind::lost: return "lost";
    case LockEventKind::released: return "released";
  }
  return "unknown";
}

namespace detail {
namespace {

Error no_table(const Where& where, const char* type_name) {
  return malformed(where, std::string("has type ") + type_name + " but no table");
}

std::string_view text(const std::string& value) { return value; }

}  // namespace

EncodedRequest encode_session_request(flatbuffers::FlatBufferBuilder& builder,
                                      const ClientRequestBody& body) {
  return std::visit(
      [&builder](const auto& value) -> EncodedRequest {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, SessionCreateRequest>) {
          const auto description = optional_string(builder, text(value.description));
          return {fbc::RequestBody::SessionCreateRequest,
                  fbc::CreateSessionCreateRequest(builder, value.ttl_ms, description,
                                                  value.bind_to_connection)
                      .Union()};
        } else if constexpr (std::is_same_v<T, SessionDestroyRequest>) {
          return {fbc::RequestBody::SessionDestroyRequest,
                  fbc::CreateSessionDestroyRequest(builder, value.session).Union()};
        } else if constexpr (std::is_same_v<T, SessionRenewRequest>) {
          return {fbc::RequestBody::SessionRenewRequest,
                  fbc::CreateSessionRenewRequest(builder, value.session).Union()};
        } else if constexpr (std::is_same_v<T, SessionListRequest>) {
          return {fbc::RequestBody::SessionListRequest,
                  fbc::CreateSessionListRequest(builder).Union()};
        } else if constexpr (std::is_same_v<T, LockAcquireRequest>) {
          const auto name = optional_string(builder, text(value.name));
          return {fbc::RequestBody::LockAcquireRequest,
                  fbc::CreateLockAcquireRequest(builder, name, value.session, value.limit,
                                                value.wait_ms, value.lock_delay_ms)
                      .Union()};
        } else if constexpr (std::is_same_v<T, LockReleaseRequest>) {
          const auto name = optional_string(builder, text(value.name));
          return {fbc::RequestBody::LockReleaseRequest,
                  fbc::CreateLockReleaseRequest(builder, name, value.session, value.token).Union()};
        } else if constexpr (std::is_same_v<T, LockListRequest>) {
          const auto prefix = optional_string(builder, text(value.prefix));
          return {fbc::RequestBody::LockListRequest,
                  fbc::CreateLockListRequest(builder, prefix).Union()};
        } else if constexpr (std::is_same_v<T, SessionKeepaliveRequest>) {
          return {fbc::RequestBody::SessionKeepaliveRequest,
                  fbc::CreateSessionKeepaliveRequest(builder).Union()};
        } else if constexpr (std::is_same_v<T, LockCancelRequest>) {
          const auto name = optional_string(builder, text(value.name));
          return {fbc::RequestBody::LockCancelRequest,
                  fbc::CreateLockCancelRequest(builder, name, value.session).Union()};
        } else {
          CONCLAVE_CHECK(false, "encode_session_request given another body type");
          return {fbc::RequestBody::NONE, 0};
        }
      },
      body);
}

Result<ClientRequestBody> decode_session_request(const fbc::ClientRequest& request,
                                                 FieldReader& reader, const Where& where) {
  switch (request.body_type()) {
    case fbc::RequestBody::SessionCreateRequest: {
      const auto* table = request.body_as_SessionCreateRequest();
      if (table == nullptr) return no_table(where, "SessionCreateRequest");
      SessionCreateRequest body;
      body.ttl_ms = table->ttl_ms();
      body.bind_to_connection = table->bind_to_connection();
      CONCLAVE_WIRE_TRY(reader.read_string(table->description(), kMaxDescriptionBytes,
                                           Where(where, "description"), body.description));
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::SessionDestroyRequest: {
      const auto* table = request.body_as_SessionDestroyRequest();
      if (table == nullptr) return no_table(where, "SessionDestroyRequest");
      return ClientRequestBody(SessionDestroyRequest{table->session()});
    }
    case fbc::RequestBody::SessionRenewRequest: {
      const auto* table = request.body_as_SessionRenewRequest();
      if (table == nullptr) return no_table(where, "SessionRenewRequest");
      return ClientRequestBody(SessionRenewRequest{table->session()});
    }
    case fbc::RequestBody::SessionListRequest:
      if (request.body_as_SessionListRequest() == nullptr) {
        return no_table(where, "SessionListRequest");
      }
      return ClientRequestBody(SessionListRequest{});
    case fbc::RequestBody::LockAcquireRequest: {
      const auto* table = request.body_as_LockAcquireRequest();
      if (table == nullptr) return no_table(where, "LockAcquireRequest");
      LockAcquireRequest body;
      CONCLAVE_WIRE_TRY(reader.read_string(table->name(), kMaxLockNameBytes, Where(where, "name"),
                                           body.name));
      body.session = table->session();
      body.limit = table->limit();
      body.wait_ms = table->wait_ms();
      body.lock_delay_ms = table->lock_delay_ms();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::LockReleaseRequest: {
      const auto* table = request.body_as_LockReleaseRequest();
      if (table == nullptr) return no_table(where, "LockReleaseRequest");
      LockReleaseRequest body;
      CONCLAVE_WIRE_TRY(reader.read_string(table->name(), kMaxLockNameBytes, Where(where, "name"),
                                           body.name));
      body.session = table->session();
      body.token = table->token();
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::LockListRequest: {
      const auto* table = request.body_as_LockListRequest();
      if (table == nullptr) return no_table(where, "LockListRequest");
      LockListRequest body;
      CONCLAVE_WIRE_TRY(reader.read_string(table->prefix(), kMaxLockNameBytes,
                                           Where(where, "prefix"), body.prefix));
      return ClientRequestBody(std::move(body));
    }
    case fbc::RequestBody::SessionKeepaliveRequest:
      if (request.body_as_SessionKeepaliveRequest() == nullptr) {
        return no_table(where, "SessionKeepaliveRequest");
      }
      return ClientRequestBody(SessionKeepaliveRequest{});
    case fbc::RequestBody::LockCancelRequest: {
      const auto* table = request.body_as_LockCancelRequest();
      if (table == nullptr) return no_table(where, "LockCancelRequest");
      LockCancelRequest body;
      CONCLAVE_WIRE_TRY(reader.read_string(table->name(), kMaxLockNameBytes, Where(where, "name"),
                                           body.name));
      body.session = table->session();
      return ClientRequestBody(std::move(body));
    }
    default:
      CONCLAVE_CHECK(false, "decode_session_request given another body type");
      return malformed(where, "has an unexpected type");
  }
}

namespace {

flatbuffers::Offset<fbc::SessionListResponse> encode_session_list(
    flatbuffers::FlatBufferBuilder& builder, const SessionListResponse& body) {
  std::vector<flatbuffers::Offset<fbc::SessionInfo>> sessions;
  for (const SessionInfo& session : body.sessions) {
    const auto node = optional_string(builder, text(session.node));
    const auto description = optional_string(builder, text(session.description));
    std::vector<flatbuffers::Offset<flatbuffers::String>> locks;
    for (const std::string& lock : session.locks) locks.push_back(builder.CreateString(lock));
    const auto locks_vector = locks.empty() ? 0 : builder.CreateVector(locks);
    sessions.push_back(fbc::CreateSessionInfo(builder, session.id, node, session.ttl_ms,
                                              session.created_ms, session.renewed_ms,
                                              description, locks_vector));
  }
  const auto vector = sessions.empty() ? 0 : builder.CreateVector(sessions);
  return fbc::CreateSessionListResponse(builder, vector);
}

flatbuffers::Offset<fbc::LockListResponse> encode_lock_list(
    flatbuffers::FlatBufferBuilder& builder, const LockListResponse& body) {
  std::vector<flatbuffers::Offset<fbc::LockInfo>> locks;
  for (const LockInfo& lock : body.locks) {
    std::vector<flatbuffers::Offset<fbc::LockHolderInfo>> holders;
    for (const LockHolderInfo& holder : lock.holders) {
      const auto node = optional_string(builder, text(holder.node));
      holders.push_back(fbc::CreateLockHolderInfo(builder, holder.session, node, holder.token,
                                                  holder.since_ms));
    }
    std::vector<flatbuffers::Offset<fbc::LockWaiterInfo>> waiters;
    for (const LockWaiterInfo& waiter : lock.waiters) {
      const auto node = optional_string(builder, text(waiter.node));
      waiters.push_back(
          fbc::CreateLockWaiterInfo(builder, waiter.session, node, waiter.since_ms));
    }
    const auto name = optional_string(builder, text(lock.name));
    const auto holders_vector = holders.empty() ? 0 : builder.CreateVector(holders);
    const auto waiters_vector = waiters.empty() ? 0 : builder.CreateVector(waiters);
    locks.push_back(fbc::CreateLockInfo(builder, name, lock.limit, holders_vector,
                                        waiters_vector, lock.blocked_until_ms));
  }
  const auto vector = locks.empty() ? 0 : builder.CreateVector(locks);
  return fbc::CreateLockListResponse(builder, vector);
}

Result<SessionListResponse> decode_session_list(const fbc::SessionListResponse& table,
                                                FieldReader& reader, const Where& where) {
  SessionListResponse body;
  const auto* sessions = table.sessions();
  CONCLAVE_WIRE_TRY(check_count(sessions, kMaxListedItems, Where(where, "sessions")));
  if (sessions == nullptr) return body;
  for (flatbuffers::uoffset_t i = 0; i < sessions->size(); ++i) {
    const fbc::SessionInfo* info = sessions->Get(i);
    const Where session_where(where, "session", i);
    SessionInfo out;
    out.id = info->id();
    CONCLAVE_WIRE_TRY(reader.read_string(info->node(), gossip::kMaxNameBytes,
                                         Where(session_where, "node"), out.node));
    out.ttl_ms = info->ttl_ms();
    out.created_ms = info->created_ms();
    out.renewed_ms = info->renewed_ms();
    CONCLAVE_WIRE_TRY(reader.read_string(info->description(), kMaxDescriptionBytes,
                                         Where(session_where, "description"), out.description));
    CONCLAVE_WIRE_TRY(check_count(info->locks(), kMaxListedItems, Where(session_where, "locks")));
    if (const auto* locks = info->locks()) {
      out.locks.resize(locks->size());
      for (flatbuffers::uoffset_t j = 0; j < locks->size(); ++j) {
        CONCLAVE_WIRE_TRY(reader.read_string(locks->Get(j), kMaxLockNameBytes,
                                             Where(session_where, "lock", j), out.locks[j]));
      }
    }
    body.sessions.push_back(std::move(out));
  }
  return body;
}

Result<LockListResponse> decode_lock_list(const fbc::LockListResponse& table,
                                          FieldReader& reader, const Where& where) {
  LockListResponse body;
  const auto* locks = table.locks();
  CONCLAVE_WIRE_TRY(check_count(locks, kMaxListedItems, Where(where, "locks")));
  if (locks == nullptr) return body;
  for (flatbuffers::uoffset_t i = 0; i < locks->size(); ++i) {
    const fbc::LockInfo* info = locks->Get(i);
    const Where lock_where(where, "lock", i);
    LockInfo out;
    CONCLAVE_WIRE_TRY(reader.read_string(info->name(), kMaxLockNameBytes,
                                         Where(lock_where, "name"), out.name));
    out.limit = info->limit();
    out.blocked_until_ms = info->blocked_until_ms();
    CONCLAVE_WIRE_TRY(check_count(info->holders(), kMaxListedItems, Where(lock_where, "holders")));
    CONCLAVE_WIRE_TRY(check_count(info->waiters(), kMaxListedItems, Where(lock_where, "waiters")));
    if (const auto* holders = info->holders()) {
      for (flatbuffers::uoffset_t j = 0; j < holders->size(); ++j) {
        const fbc::LockHolderInfo* holder = holders->Get(j);
        LockHolderInfo entry{holder->session(), "", holder->token(), holder->since_ms()};
        CONCLAVE_WIRE_TRY(reader.read_string(holder->node(), gossip::kMaxNameBytes,
                                             Where(lock_where, "holder", j), entry.node));
        out.holders.push_back(std::move(entry));
      }
    }
    if (const auto* waiters = info->waiters()) {
      for (flatbuffers::uoffset_t j = 0; j < waiters->size(); ++j) {
        const fbc::LockWaiterInfo* waiter = waiters->Get(j);
        LockWaiterInfo entry{waiter->session(), "", waiter->since_ms()};
        CONCLAVE_WIRE_TRY(reader.read_string(waiter->node(), gossip::kMaxNameBytes,
                                             Where(lock_where, "waiter", j), entry.node));
        out.waiters.push_back(std::move(entry));
      }
    }
    body.locks.push_back(std::move(out));
  }
  return body;
}

}  // namespace

EncodedResponse encode_session_response(flatbuffers::FlatBufferBuilder& builder,
                                        const ClientResponseBody& body) {
  return std::visit(
      [&builder](const auto& value) -> EncodedResponse {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, SessionCreateResponse>) {
          return {fbc::ResponseBody::SessionCreateResponse,
                  fbc::CreateSessionCreateResponse(builder, value.session).Union()};
        } else if constexpr (std::is_same_v<T, SessionListResponse>) {
          return {fbc::ResponseBody::SessionListResponse,
                  encode_session_list(builder, value).Union()};
        } else if constexpr (std::is_same_v<T, LockEvent>) {
          const auto name = optional_string(builder, text(value.name));
          const auto message = optional_string(builder, text(value.message));
          return {fbc::ResponseBody::LockEvent,
                  fbc::CreateLockEvent(builder, name, value.session, value.token,
                                       static_cast<uint8_t>(value.kind), value.valid_until_ms,
                                       message)
                      .Union()};
        } else if constexpr (std::is_same_v<T, LockListResponse>) {
          return {fbc::ResponseBody::LockListResponse, encode_lock_list(builder, value).Union()};
        } else if constexpr (std::is_same_v<T, SessionKeepaliveResponse>) {
          const auto sessions =
              value.sessions.empty() ? 0 : builder.CreateVector(value.sessions);
          return {fbc::ResponseBody::SessionKeepaliveResponse,
                  fbc::CreateSessionKeepaliveResponse(builder, sessions).Union()};
        } else if constexpr (std::is_same_v<T, LockCancelResponse>) {
          return {fbc::ResponseBody::LockCancelResponse,
                  fbc::CreateLockCancelResponse(builder, value.granted, value.token).Union()};
        } else {
          CONCLAVE_CHECK(false, "encode_session_response given another body type");
          return {fbc::ResponseBody::NONE, 0};
        }
      },
      body);
}

Result<ClientResponseBody> decode_session_response(const fbc::ClientResponse& response,
                                                   FieldReader& reader, const Where& where) {
  switch (response.body_type()) {
    case fbc::ResponseBody::SessionCreateResponse: {
      const auto* table = response.body_as_SessionCreateResponse();
      if (table == nullptr) return no_table(where, "SessionCreateResponse");
      return ClientResponseBody(SessionCreateResponse{table->session()});
    }
    case fbc::ResponseBody::SessionListResponse: {
      const auto* table = response.body_as_SessionListResponse();
      if (table == nullptr) return no_table(where, "SessionListResponse");
      auto body = decode_session_list(*table, reader, where);
      if (!body.ok()) return body.error();
      return ClientResponseBody(std::move(body).value());
    }
    case fbc::ResponseBody::LockEvent: {
      const auto* table = response.body_as_LockEvent();
      if (table == nullptr) return no_table(where, "LockEvent");
      LockEvent event;
      CONCLAVE_WIRE_TRY(reader.read_string(table->name(), kMaxLockNameBytes, Where(where, "name"),
                                           event.name));
      event.session = table->session();
      event.token = table->token();
      if (table->kind() > static_cast<uint8_t>(LockEventKind::released)) {
        return malformed(Where(where, "kind"), "has unknown value " + std::to_string(table->kind()));
      }
      event.kind = static_cast<LockEventKind>(table->kind());
      event.valid_until_ms = table->valid_until_ms();
      CONCLAVE_WIRE_TRY(reader.read_string(table->message(), kMaxDescriptionBytes * 16,
                                           Where(where, "message"), event.message));
      return ClientResponseBody(std::move(event));
    }
    case fbc::ResponseBody::LockListResponse: {
      const auto* table = response.body_as_LockListResponse();
      if (table == nullptr) return no_table(where, "LockListResponse");
      auto body = decode_lock_list(*table, reader, where);
      if (!body.ok()) return body.error();
      return ClientResponseBody(std::move(body).value());
    }
    case fbc::ResponseBody::SessionKeepaliveResponse: {
      const auto* table = response.body_as_SessionKeepaliveResponse();
      if (table == nullptr) return no_table(where, "SessionKeepaliveResponse");
      SessionKeepaliveResponse body;
      CONCLAVE_WIRE_TRY(check_count(table->sessions(), kMaxListedItems, Where(where, "sessions")));
      if (const auto* sessions = table->sessions()) {
        body.sessions.assign(sessions->begin(), sessions->end());
      }
      return ClientResponseBody(std::move(body));
    }
    case fbc::ResponseBody::LockCancelResponse: {
      const auto* table = response.body_as_LockCancelResponse();
      if (table == nullptr) return no_table(where, "LockCancelResponse");
      return ClientResponseBody(LockCancelResponse{table->granted(), table->token()});
    }
    default:
      CONCLAVE_CHECK(false, "decode_session_response given another body type");
      return malformed(where, "has an unexpected type");
  }
}

}  // namespace detail
}  // namespace conclave::wire
