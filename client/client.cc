#include "client/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "wire/codec.h"
#include "wire/framing.h"

namespace conclave::client {
namespace {

int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <typename T>
Result<T> body_or_error(Result<wire::ClientResponse> response) {
  if (!response.ok()) return response.error();
  wire::ClientResponse& value = response.value();
  if (value.error_code != ErrorCode::ok) {
    return make_error(value.error_code, value.error_message);
  }
  if (auto* body = std::get_if<T>(&value.body)) return std::move(*body);
  return make_error(ErrorCode::malformed, "the agent answered with an unexpected body type");
}

Status status_of(Result<wire::ClientResponse> response) {
  if (!response.ok()) return response.error();
  if (response.value().error_code != ErrorCode::ok) {
    return make_error(response.value().error_code, response.value().error_message);
  }
  return Status();
}

}  // namespace

Result<std::string> find_socket(const std::optional<std::string>& explicit_path) {
  if (explicit_path && !explicit_path->empty()) return *explicit_path;
  if (const char* from_environment = std::getenv(kSocketEnvironmentVariable);
      from_environment != nullptr && *from_environment != '\0') {
    return std::string(from_environment);
  }
  std::error_code ignored;
  if (std::filesystem::exists(kDevSocketPath, ignored)) return std::string(kDevSocketPath);
  if (std::filesystem::exists(kSystemSocketPath, ignored)) return std::string(kSystemSocketPath);
  return make_error(
      ErrorCode::not_found,
      std::string("no agent socket found. Looked at: --socket (not given), $") +
          kSocketEnvironmentVariable + " (not set), ./" + kDevSocketPath +
          " (missing), " + kSystemSocketPath +
          " (missing). Start an agent (`conclave agent -dev` in this folder) or pass --socket");
}

Result<Client> Client::connect(const std::string& socket_path) {
  sockaddr_un address{};
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return make_error(ErrorCode::invalid_argument,
                      "socket path '" + socket_path + "' is too long for a Unix socket");
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(ErrorCode::unavailable, std::string("socket(): ") + std::strerror(errno));
  }
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    const int saved = errno;
    ::close(fd);
    return make_error(ErrorCode::unavailable,
                      "cannot connect to the agent at " + socket_path + ": " +
                          std::strerror(saved) + " (is `conclave agent` running?)");
  }
  return Client(fd, socket_path);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      next_request_id_(other.next_request_id_),
      buffer_(std::move(other.buffer_)),
      lock_events_(std::move(other.lock_events_)) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    next_request_id_ = other.next_request_id_;
    buffer_ = std::move(other.buffer_);
    lock_events_ = std::move(other.lock_events_);
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Status Client::write_all(const std::string& bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t count = ::send(fd_, bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
    if (count < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::unavailable,
                        "lost the connection to the agent at " + path_ + ": " +
                            std::strerror(errno));
    }
    written += static_cast<size_t>(count);
  }
  return Status();
}

Status Client::send_raw_frame(const std::string& payload) {
  return write_all(wire::frame(payload));
}

Result<std::optional<wire::ClientResponse>> Client::read_one(int64_t deadline_ms) {
  for (;;) {
    // A complete frame already buffered?
    if (buffer_.size() >= wire::kFrameHeaderBytes) {
      const auto* header = reinterpret_cast<const unsigned char*>(buffer_.data());
      const size_t length = (size_t{header[0]} << 24) | (size_t{header[1]} << 16) |
                            (size_t{header[2]} << 8) | size_t{header[3]};
      if (length == 0 || length > wire::kMaxFrameBytes) {
        return make_error(ErrorCode::malformed, "the agent sent an impossible frame length");
      }
      if (buffer_.size() >= wire::kFrameHeaderBytes + length) {
        std::string payload = buffer_.substr(wire::kFrameHeaderBytes, length);
        buffer_.erase(0, wire::kFrameHeaderBytes + length);
        auto decoded = wire::decode_client_response(payload);
        if (!decoded.ok()) return decoded.error();
        return std::optional<wire::ClientResponse>(std::move(decoded).value());
      }
    }
    const int64_t remaining = deadline_ms - monotonic_ms();
    if (remaining < 0) return std::optional<wire::ClientResponse>();
    pollfd poll_fd{fd_, POLLIN, 0};
    const int ready = ::poll(&poll_fd, 1, static_cast<int>(remaining));
    if (ready < 0 && errno != EINTR) {
      return make_error(ErrorCode::unavailable, std::string("poll: ") + std::strerror(errno));
    }
    if (ready <= 0) {
      if (ready == 0 && remaining == 0) return std::optional<wire::ClientResponse>();
      continue;
    }
    char chunk[64 * 1024];
    const ssize_t count = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (count == 0) {
      return make_error(ErrorCode::unavailable,
                        "the agent at " + path_ + " closed the connection");
    }
    if (count < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return make_error(ErrorCode::unavailable, std::string("recv: ") + std::strerror(errno));
    }
    buffer_.append(chunk, static_cast<size_t>(count));
  }
}

Result<wire::ClientResponse> Client::read_response(uint32_t timeout_ms) {
  auto response = read_one(monotonic_ms() + timeout_ms);
  if (!response.ok()) return response.error();
  if (!response.value()) {
    return make_error(ErrorCode::timed_out,
                      "no answer from the agent within " + std::to_string(timeout_ms) + " ms");
  }
  return std::move(*response.value());
}

Result<wire::ClientResponse> Client::call(wire::ClientRequestBody body, uint32_t timeout_ms) {
  return call_waiting(std::move(body), timeout_ms, 0);
}

Result<wire::ClientResponse> Client::call_waiting(wire::ClientRequestBody body,
                                                  uint32_t timeout_ms, uint32_t extra_wait_ms) {
  wire::ClientRequest request;
  request.request_id = next_request_id_++;
  request.timeout_ms = timeout_ms;
  request.body = std::move(body);
  if (Status status = send_raw_frame(wire::encode_client_request(request)); !status.ok()) {
    return status.error();
  }
  // A little slack so the agent's own timeout answer (which explains why) arrives first.
  const int64_t deadline_ms =
      monotonic_ms() + int64_t{timeout_ms} + int64_t{extra_wait_ms} + 500;
  for (;;) {
    auto response = read_one(deadline_ms);
    if (!response.ok()) return response.error();
    if (!response.value()) {
      return make_error(ErrorCode::timed_out,
                        "no answer from the agent within " +
                            std::to_string(int64_t{timeout_ms} + extra_wait_ms) + " ms");
    }
    wire::ClientResponse& answer = *response.value();
    if (answer.request_id == request.request_id) return std::move(answer);
    // An event about a lock held through an earlier request: kept for next_lock_event().
    if (auto* event = std::get_if<wire::LockEvent>(&answer.body)) {
      if (lock_events_.size() >= kMaxQueuedLockEvents) lock_events_.pop_front();
      lock_events_.push_back(std::move(*event));
    }
    // Otherwise an answer to an earlier request that we stopped waiting for: skip it.
  }
}

Result<wire::KvGetResponse> Client::kv_get(const std::string& key, uint32_t timeout_ms,
                                           bool stale) {
  return body_or_error<wire::KvGetResponse>(call(wire::KvGetRequest{key, stale}, timeout_ms));
}

Result<wire::KvPutResponse> Client::kv_put(const std::string& key, const std::string& value,
                                           uint32_t timeout_ms) {
  return body_or_error<wire::KvPutResponse>(
      call(wire::KvPutRequest{key, value, "", 0}, timeout_ms));
}

Result<wire::KvPutResponse> Client::kv_put_if(const std::string& key, const std::string& value,
                                              uint64_t mod_revision, uint32_t timeout_ms) {
  wire::KvPutRequest request{key, value, "", 0};
  request.cas = true;
  request.cas_revision = mod_revision;
  return body_or_error<wire::KvPutResponse>(call(std::move(request), timeout_ms));
}

Result<wire::KvDeleteResponse> Client::kv_delete(const std::string& key, bool prefix,
                                                 uint32_t timeout_ms) {
  return body_or_error<wire::KvDeleteResponse>(
      call(wire::KvDeleteRequest{key, prefix}, timeout_ms));
}

Result<wire::KvTxnResponse> Client::kv_txn(const wire::KvTxnRequest& txn, uint32_t timeout_ms) {
  return body_or_error<wire::KvTxnResponse>(call(txn, timeout_ms));
}

Result<wire::KvWatchResponse> Client::kv_watch(const wire::KvWatchRequest& request,
                                               uint32_t timeout_ms) {
  return body_or_error<wire::KvWatchResponse>(call(request, timeout_ms));
}

Result<wire::KvListResponse> Client::kv_list(const wire::KvListRequest& request,
                                             uint32_t timeout_ms) {
  return body_or_error<wire::KvListResponse>(call(request, timeout_ms));
}

Result<wire::MembersResponse> Client::members(uint32_t timeout_ms) {
  return body_or_error<wire::MembersResponse>(call(wire::MembersRequest{}, timeout_ms));
}

Result<wire::MembersResponse> Client::members_watch(uint32_t timeout_ms) {
  return body_or_error<wire::MembersResponse>(call(wire::MembersWatchRequest{}, timeout_ms));
}

Result<std::optional<wire::MemberEvent>> Client::next_member_event(uint32_t timeout_ms) {
  const int64_t deadline_ms = monotonic_ms() + timeout_ms;
  for (;;) {
    auto response = read_one(deadline_ms);
    if (!response.ok()) return response.error();
    if (!response.value()) return std::optional<wire::MemberEvent>();
    if (auto* event = std::get_if<wire::MemberEvent>(&response.value()->body)) {
      return std::optional<wire::MemberEvent>(std::move(*event));
    }
  }
}

Result<wire::StatusResponse> Client::status(uint32_t timeout_ms) {
  return body_or_error<wire::StatusResponse>(call(wire::StatusRequest{}, timeout_ms));
}

Status Client::leave(uint32_t timeout_ms) { return status_of(call(wire::LeaveRequest{}, timeout_ms)); }

}  // namespace conclave::client

namespace conclave::client {

Result<wire::KvPutResponse> Client::kv_put_fenced(const std::string& key,
                                                  const std::string& value,
                                                  const std::string& lock, uint64_t token,
                                                  uint32_t timeout_ms) {
  return body_or_error<wire::KvPutResponse>(
      call(wire::KvPutRequest{key, value, lock, token}, timeout_ms));
}

Result<uint64_t> Client::session_create(const SessionOptions& options, uint32_t timeout_ms) {
  auto created = body_or_error<wire::SessionCreateResponse>(call(
      wire::SessionCreateRequest{options.ttl_ms, options.description, options.bind_to_connection},
      timeout_ms));
  if (!created.ok()) return created.error();
  return created.value().session;
}

Status Client::session_destroy(uint64_t session, uint32_t timeout_ms) {
  return status_of(call(wire::SessionDestroyRequest{session}, timeout_ms));
}

Status Client::session_renew(uint64_t session, uint32_t timeout_ms) {
  return status_of(call(wire::SessionRenewRequest{session}, timeout_ms));
}

Result<wire::RaftPeersResponse> Client::raft_peers(uint32_t timeout_ms) {
  return body_or_error<wire::RaftPeersResponse>(
      call(wire::RaftAdminRequest{wire::RaftAdminOp::peers, ""}, timeout_ms));
}

Status Client::raft_transfer_leader(const std::string& target, uint32_t timeout_ms) {
  return status_of(
      call(wire::RaftAdminRequest{wire::RaftAdminOp::transfer_leader, target}, timeout_ms));
}

Status Client::raft_remove_peer(const std::string& target, uint32_t timeout_ms) {
  return status_of(
      call(wire::RaftAdminRequest{wire::RaftAdminOp::remove_peer, target}, timeout_ms));
}

Result<wire::SessionListResponse> Client::session_list(uint32_t timeout_ms) {
  return body_or_error<wire::SessionListResponse>(call(wire::SessionListRequest{}, timeout_ms));
}

Result<wire::LockEvent> Client::lock_acquire(const LockOptions& options, uint32_t timeout_ms) {
  return body_or_error<wire::LockEvent>(call_waiting(
      wire::LockAcquireRequest{options.name, options.session, options.limit, options.wait_ms,
                               options.lock_delay_ms},
      timeout_ms, options.wait_ms));
}

Result<std::optional<wire::LockEvent>> Client::next_lock_event(uint32_t timeout_ms) {
  if (!lock_events_.empty()) {
    wire::LockEvent event = std::move(lock_events_.front());
    lock_events_.pop_front();
    return std::optional<wire::LockEvent>(std::move(event));
  }
  const int64_t deadline_ms = monotonic_ms() + timeout_ms;
  for (;;) {
    auto response = read_one(deadline_ms);
    if (!response.ok()) return response.error();
    if (!response.value()) return std::optional<wire::LockEvent>();
    if (auto* event = std::get_if<wire::LockEvent>(&response.value()->body)) {
      return std::optional<wire::LockEvent>(std::move(*event));
    }
  }
}

Status Client::lock_release(const std::string& name, uint64_t session, uint32_t timeout_ms) {
  return status_of(call(wire::LockReleaseRequest{name, session}, timeout_ms));
}

Result<wire::LockListResponse> Client::lock_list(const std::string& prefix, uint32_t timeout_ms) {
  return body_or_error<wire::LockListResponse>(call(wire::LockListRequest{prefix}, timeout_ms));
}

}  // namespace conclave::client
