#include "agent/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace conclave::agent {

Status notify_service_manager(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return Status();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const size_t length = std::strlen(path);
  if (length >= sizeof(address.sun_path)) {
    return make_error(ErrorCode::invalid_argument,
                      std::string("NOTIFY_SOCKET is too long for a Unix socket path: ") + path);
  }
  std::memcpy(address.sun_path, path, length);
  if (path[0] == '@') address.sun_path[0] = '\0';  // the abstract namespace
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return make_error(ErrorCode::unavailable,
                      std::string("socket for NOTIFY_SOCKET: ") + std::strerror(errno));
  }
  const socklen_t address_length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&address), address_length);
  const int error = errno;
  ::close(fd);
  if (sent < 0) {
    return make_error(ErrorCode::unavailable, std::string("notifying systemd at ") + path +
                                                  ": " + std::strerror(error));
  }
  return Status();
}

}  // namespace conclave::agent
