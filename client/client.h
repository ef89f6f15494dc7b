// The C++ client library: talks to the local agent over its Unix socket.
//
// Blocking and simple on purpose: one connection, one request at a time, a deadline on every
// call. Finding the socket follows one documented order (find_socket), and every failure comes
// back as an Error whose message says what was tried and what to do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::client {

// Where a dev agent started in the current folder puts its socket.
constexpr const char* kDevSocketPath = "conclave-data/agent.sock";
// Where a system agent puts its socket.
constexpr const char* kSystemSocketPath = "/run/conclave/agent.sock";
constexpr const char* kSocketEnvironmentVariable = "CONCLAVE_SOCKET";

// The socket to use: `explicit_path` when given, else $CONCLAVE_SOCKET, else the dev socket in
// the current folder, else the system socket. The last two must exist to be chosen. When none
// is found the error lists every place looked at.
Result<std::string> find_socket(const std::optional<std::string>& explicit_path);

class Client {
 public:
  // Connects to the agent's socket. Errors name the path and suggest starting an agent.
  static Result<Client> connect(const std::string& socket_path);
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();

  // Sends one request and waits up to timeout_ms for its answer. The request's timeout_ms is
  // set to the same deadline so the agent gives up at the same time.
  Result<wire::ClientResponse> call(wire::ClientRequestBody body, uint32_t timeout_ms);

  // Convenience calls; an agent-side error becomes the Error.
  Result<wire::KvGetResponse> kv_get(const std::string& key, uint32_t timeout_ms);
  Result<wire::KvPutResponse> kv_put(const std::string& key, const std::string& value,
                                     uint32_t timeout_ms);
  Result<wire::MembersResponse> members(uint32_t timeout_ms);
  Result<wire::StatusResponse> status(uint32_t timeout_ms);

  // Sends raw bytes as one frame (tests use it to send malformed requests).
  Status send_raw_frame(const std::string& payload);
  // Reads the next response frame.
  Result<wire::ClientResponse> read_response(uint32_t timeout_ms);

 private:
  explicit Client(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status write_all(const std::string& bytes);
  int fd_ = -1;
  std::string path_;
  uint64_t next_request_id_ = 1;
  std::string buffer_;
};

}  // namespace conclave::client
