#include "agent/address.h"

#include <arpa/inet.h>
#include <uv.h>

#include <charconv>

namespace conclave::agent {

Result<sockaddr_in> parse_address(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::invalid_argument,
                      "address '" + text + "' has no port; write it as host:port, e.g. "
                                           "127.0.0.1:8301");
  }
  const std::string host = text.substr(0, colon);
  int port = 0;
  const char* port_begin = text.data() + colon + 1;
  const char* port_end = text.data() + text.size();
  auto [end, error] = std::from_chars(port_begin, port_end, port);
  if (error != std::errc() || end != port_end || port < 1 || port > 65535) {
    return make_error(ErrorCode::invalid_argument,
                      "address '" + text + "' has an invalid port (1-65535)");
  }
  sockaddr_in address{};
  if (uv_ip4_addr(host.c_str(), port, &address) != 0) {
    return make_error(ErrorCode::invalid_argument,
                      "address '" + text + "' is not an IPv4 address (host names and IPv6 are "
                                           "not supported yet)");
  }
  return address;
}

std::string format_address(const sockaddr* address) {
  if (address == nullptr || address->sa_family != AF_INET) return "?";
  const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(address);
  char host[INET_ADDRSTRLEN] = {};
  uv_ip4_name(ipv4, host, sizeof(host));
  return std::string(host) + ":" + std::to_string(ntohs(ipv4->sin_port));
}

}  // namespace conclave::agent
