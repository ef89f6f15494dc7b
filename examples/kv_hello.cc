// The smallest program built on the installed client library: write a key through the local
// agent, read it back (linearizable), and print it with its revisions.
//
//   c++ -std=c++20 kv_hello.cc $(pkg-config --cflags --libs conclave) -o kv_hello
// (in this repository the test suite builds it against the build tree, and against an
// installed copy: tests/install/install_test.sh)
//   ./kv_hello [SOCKET] [KEY] [VALUE]
//
// SOCKET defaults to what `conclave` itself looks for: $CONCLAVE_SOCKET, then
// ./conclave-data/agent.sock, then /run/conclave/agent.sock.
#include "client/client.h"

#include <cstdio>
#include <optional>
#include <string>

int main(int argc, char** argv) {
  std::optional<std::string> socket;
  if (argc > 1) socket = argv[1];
  const std::string key = argc > 2 ? argv[2] : "hello";
  const std::string value = argc > 3 ? argv[3] : "world";

  auto path = conclave::client::find_socket(socket);
  if (!path.ok()) {
    std::fprintf(stderr, "kv_hello: %s\n", path.error().message.c_str());
    return 1;
  }
  auto client = conclave::client::Client::connect(path.value());
  if (!client.ok()) {
    std::fprintf(stderr, "kv_hello: %s\n", client.error().message.c_str());
    return 1;
  }
  auto put = client.value().kv_put(key, value, 5000);
  if (!put.ok()) {
    std::fprintf(stderr, "kv_hello: put: %s\n", put.error().message.c_str());
    return 1;
  }
  auto got = client.value().kv_get(key, 5000);
  if (!got.ok() || !got.value().found) {
    std::fprintf(stderr, "kv_hello: get: %s\n",
                 got.ok() ? "the key is gone" : got.error().message.c_str());
    return 1;
  }
  std::printf("%s = %s (create_revision %llu, mod_revision %llu, version %llu)\n", key.c_str(),
              got.value().value.c_str(),
              static_cast<unsigned long long>(got.value().create_revision),
              static_cast<unsigned long long>(got.value().mod_revision),
              static_cast<unsigned long long>(got.value().version));
  return 0;
}
