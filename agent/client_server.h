// ClientServer: the agent's Unix socket for local programs (the `conclave` CLI, the C++ client
// library). Each connection carries length-prefixed wire::ClientRequest frames and gets
// wire::ClientResponse frames back, matched by request_id (replies may come out of order).
//
// Bad input never takes the agent down: a frame that does not decode is answered with a
// `malformed` error (request_id 0) and counted, and the connection stays usable; an impossible
// frame length cannot be resynchronised, so that connection is closed, logged and counted.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "agent/access_policy.h"
#include "agent/framed_stream.h"
#include "agent/log_limiter.h"
#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::agent {

// Who may connect at all: the socket file's mode and group (the rules per request come after,
// agent/access_policy.h).
struct SocketAccess {
  uint32_t mode = 0660;
  std::optional<uint32_t> gid;  // unset: the agent's own group
};

struct ClientServerCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;   // over kMaxConnections
  uint64_t requests_received = 0;
  uint64_t frames_malformed = 0;
  uint64_t frames_truncated = 0;
  uint64_t streams_broken = 0;        // closed for an impossible frame length
  uint64_t replies_dropped = 0;       // the client went away, or its queue was full
  uint64_t requests_over_limit = 0;   // refused: kMaxPendingPerConnection were waiting
};

class ClientServer {
 public:
  using RequestHandler = std::function<void(uint64_t connection_id, wire::ClientRequest)>;
  using DisconnectHandler = std::function<void(uint64_t connection_id)>;

  static constexpr size_t kMaxConnections = 1024;
  // Requests one connection may have waiting for their final answer (a watch or a held lock
  // counts until it ends); beyond it a request is refused at once, answered too_large.
  static constexpr size_t kMaxPendingPerConnection = 1024;
  // Room for a few of the largest replies; reading pauses at half of it (FramedStream).
  static constexpr size_t kMaxQueuedBytesPerClient = 16 * 1024 * 1024;

  ClientServer(uv_loop_t* loop, RequestHandler on_request, DisconnectHandler on_disconnect);

  // Listens at `path`, the socket file given `access`'s mode and group (the folder's
  // permissions must let those users reach it too). A stale socket file left by a dead agent
  // is replaced; a live one is an error naming the path.
  Status listen(const std::string& path, const SocketAccess& access = {});
  // The connecting process's user and groups, read from the kernel when it connected (known =
  // false if the kernel would not say).
  Credentials credentials(uint64_t connection_id) const;
  void reply(uint64_t connection_id, const wire::ClientResponse& response);
  void close_all();
  const ClientServerCounters& counters() const { return counters_; }

 private:
  static void on_connection(uv_stream_t* server, int status);
  void on_frame(FramedStream& stream, std::string payload);

  uv_loop_t* loop_;
  RequestHandler on_request_;
  DisconnectHandler on_disconnect_;
  uv_pipe_t* listener_ = nullptr;
  std::string path_;
  std::map<uint64_t, FramedStream*> connections_;
  std::map<uint64_t, Credentials> credentials_;
  std::map<uint64_t, size_t> pending_;  // requests per connection without a final answer
  uint64_t next_connection_id_ = 1;
  ClientServerCounters counters_;
  LogLimiter bad_frame_log_{1000, 5};
};

}  // namespace conclave::agent
