// host:port strings <-> socket addresses (IPv4 for now).
#pragma once

#include <netinet/in.h>

#include <string>

#include "common/result.h"

namespace conclave::agent {

// Parses "a.b.c.d:port". Errors name the text and what is wrong with it.
Result<sockaddr_in> parse_address(const std::string& text);
std::string format_address(const sockaddr* address);

}  // namespace conclave::agent
