#include "agent/client_server.h"

#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "wire/codec.h"

namespace conclave::agent {
namespace {

void delete_pipe_handle(uv_handle_t* handle) { delete reinterpret_cast<uv_pipe_t*>(handle); }

// True when some process accepts connections on the socket at `path`.
bool someone_listens(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const bool connected =
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

}  // namespace

ClientServer::ClientServer(uv_loop_t* loop, RequestHandler on_request,
                           DisconnectHandler on_disconnect)
    : loop_(loop), on_request_(std::move(on_request)), on_disconnect_(std::move(on_disconnect)) {}

Status ClientServer::listen(const std::string& path, const SocketAccess& access) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return make_error(ErrorCode::invalid_argument,
                      "socket path '" + path + "' is longer than the " +
                          std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                          " bytes a Unix socket allows; choose a shorter -socket path");
  }
  std::error_code ignored;
  if (std::filesystem::exists(path, ignored)) {
    if (!std::filesystem::is_socket(path, ignored)) {
      return make_error(ErrorCode::invalid_argument,
                        path + " exists and is not a socket; choose another -socket path");
    }
    if (someone_listens(path)) {
      return make_error(ErrorCode::unavailable,
                        "another agent is already listening on " + path +
                            "; stop it or choose another -socket path");
    }
    std::filesystem::remove(path, ignored);  // left behind by an agent that died
  }
  listener_ = new uv_pipe_t;
  if (const int rc = uv_pipe_init(loop_, listener_, 0); rc != 0) {
    delete listener_;
    listener_ = nullptr;
    return make_error(ErrorCode::unavailable,
                      std::string("cannot create the client socket listener: ") + uv_strerror(rc));
  }
  listener_->data = this;
  int rc = uv_pipe_bind(listener_, path.c_str());
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, &on_connection);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), delete_pipe_handle);
    listener_ = nullptr;
    return make_error(ErrorCode::unavailable, "cannot listen on the client socket " + path +
                                                  ": " + uv_strerror(rc));
  }
  if (::chmod(path.c_str(), access.mode) != 0 ||
      (access.gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *access.gid) != 0)) {
    const std::string why = std::strerror(errno);
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), delete_pipe_handle);
    listener_ = nullptr;
    return make_error(ErrorCode::unavailable,
                      "cannot set the mode or group of the client socket " + path + ": " + why +
                          " (socket_group must be a group the agent's user may give files to)");
  }
  path_ = path;
  return Status();
}

namespace {

// The peer process's uid and gid (SO_PEERCRED), and the user's supplementary groups.
Credentials read_credentials(uv_pipe_t* pipe) {
  Credentials who;
  uv_os_fd_t fd;
  ucred peer{};
  socklen_t length = sizeof peer;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(pipe), &fd) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return who;
  }
  who.known = true;
  who.uid = peer.uid;
  who.gid = peer.gid;
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(peer.uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr) {
    who.user_name = found->pw_name;
    int count = 64;
    std::vector<gid_t> groups(static_cast<size_t>(count));
    if (::getgrouplist(found->pw_name, peer.gid, groups.data(), &count) >= 0) {
      groups.resize(static_cast<size_t>(count));
      who.groups.assign(groups.begin(), groups.end());
    }
  }
  return who;
}

}  // namespace

Credentials ClientServer::credentials(uint64_t connection_id) const {
  auto found = credentials_.find(connection_id);
  return found == credentials_.end() ? Credentials{} : found->second;
}

void ClientServer::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<ClientServer*>(server->data);
  if (status < 0) return;
  auto* client = new uv_pipe_t;
  if (uv_pipe_init(self->loop_, client, 0) != 0) {
    delete client;
    return;
  }
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), delete_pipe_handle);
    return;
  }
  if (self->connections_.size() >= kMaxConnections) {
    ++self->counters_.connections_refused;
    uv_close(reinterpret_cast<uv_handle_t*>(client), delete_pipe_handle);
    return;
  }
  ++self->counters_.connections_accepted;
  const uint64_t id = self->next_connection_id_++;
  auto* stream = new FramedStream(
      reinterpret_cast<uv_stream_t*>(client),
      StreamLimits{wire::kMaxFrameBytes, kMaxQueuedBytesPerClient},
      [self](FramedStream& from, std::string payload) { self->on_frame(from, std::move(payload)); },
      [self](FramedStream& closed, const std::string& reason, size_t truncated_bytes) {
        self->connections_.erase(closed.id());
        self->credentials_.erase(closed.id());
        self->pending_.erase(closed.id());
        const int64_t now_ms = static_cast<int64_t>(uv_now(self->loop_));
        if (truncated_bytes > 0) {
          ++self->counters_.frames_truncated;
          if (self->bad_frame_log_.allow(now_ms)) {
            spdlog::warn("client closed its connection in the middle of a frame ({} bytes of "
                         "it received); the partial frame was discarded",
                         truncated_bytes);
          }
        } else if (!reason.empty()) {
          ++self->counters_.streams_broken;
          if (self->bad_frame_log_.allow(now_ms)) {
            spdlog::warn("closed a client connection: {}", reason);
          }
        }
        self->on_disconnect_(closed.id());
      });
  stream->set_id(id);
  self->connections_[id] = stream;
  self->credentials_[id] = read_credentials(client);
  stream->start_reading();
}

void ClientServer::on_frame(FramedStream& stream, std::string payload) {
  auto decoded = wire::decode_client_request(payload);
  if (!decoded.ok()) {
    ++counters_.frames_malformed;
    if (bad_frame_log_.allow(static_cast<int64_t>(uv_now(loop_)))) {
      spdlog::warn("malformed client frame ({} bytes): {}", payload.size(),
                   decoded.error().message);
    }
    // Answered to the request that caused it when its id can be read (a value over its
    // limit: the client learns why at once instead of timing out).
    wire::ClientResponse response;
    response.request_id = wire::request_id_of_client_request(payload);
    response.error_code = decoded.error().code;
    response.error_message =
        decoded.error().code == ErrorCode::too_large
            ? "request refused: " + decoded.error().message
            : "the agent could not decode this request: " + decoded.error().message +
                  " (is the client from the same conclave version?)";
    if (!stream.send(wire::encode_client_response(response))) ++counters_.replies_dropped;
    return;
  }
  ++counters_.requests_received;
  size_t& pending = pending_[stream.id()];
  if (pending >= kMaxPendingPerConnection) {
    ++counters_.requests_over_limit;
    wire::ClientResponse refused;
    refused.request_id = decoded.value().request_id;
    refused.error_code = ErrorCode::too_large;
    refused.error_message = "this connection has " + std::to_string(pending) +
                            " requests waiting for answers, the most one connection may have; "
                            "wait for some of them (or use another connection)";
    if (!stream.send(wire::encode_client_response(refused))) ++counters_.replies_dropped;
    return;
  }
  ++pending;
  on_request_(stream.id(), std::move(decoded).value());
}

void ClientServer::reply(uint64_t connection_id, const wire::ClientResponse& response) {
  if (!response.more) {
    auto pending = pending_.find(connection_id);
    if (pending != pending_.end() && pending->second > 0) --pending->second;
  }
  auto found = connections_.find(connection_id);
  if (found == connections_.end() || !found->second->send(wire::encode_client_response(response))) {
    ++counters_.replies_dropped;
  }
}

void ClientServer::close_all() {
  if (listener_) {
    uv_close(reinterpret_cast<uv_handle_t*>(listener_), delete_pipe_handle);
    listener_ = nullptr;
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  for (auto& [id, stream] : std::map<uint64_t, FramedStream*>(connections_)) {
    stream->close("shutting down");
  }
}

}  // namespace conclave::agent
