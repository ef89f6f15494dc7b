// The config-reload pattern: read every key under a prefix, apply it, then apply each change
// as it happens, without polling and without missing one. The list answer says the revision
// it was read at; the watch starts at the revision after it, so nothing that changes between
// the two is lost, and a leader change or an agent restart in between loses nothing either.
//
//   config_watch PREFIX [SOCKET]      e.g.  config_watch app/config/
//
// "Applying" here prints one line per key (`applied KEY=VALUE (rev N)`, `removed KEY (rev
// N)`); a real service would reload its settings there.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "client/client.h"

namespace {

std::map<std::string, std::string> config;  // what the service runs with

void apply_put(const std::string& key, const std::string& value, uint64_t revision) {
  config[key] = value;
  std::printf("applied %s=%s (rev %llu)\n", key.c_str(), value.c_str(),
              static_cast<unsigned long long>(revision));
  std::fflush(stdout);
}

void apply_delete(const std::string& key, uint64_t revision) {
  config.erase(key);
  std::printf("removed %s (rev %llu)\n", key.c_str(), static_cast<unsigned long long>(revision));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: config_watch PREFIX [SOCKET]\n");
    return 2;
  }
  const std::string prefix = argv[1];
  std::optional<std::string> socket;
  if (argc > 2) socket = argv[2];
  auto path = conclave::client::find_socket(socket);
  if (!path.ok()) {
    std::fprintf(stderr, "config_watch: %s\n", path.error().message.c_str());
    return 1;
  }
  auto connected = conclave::client::Client::connect(path.value());
  if (!connected.ok()) {
    std::fprintf(stderr, "config_watch: %s\n", connected.error().message.c_str());
    return 1;
  }
  conclave::client::Client& agent = connected.value();

  // 1. The whole config as of one revision (page by page).
  conclave::wire::KvListRequest list;
  list.prefix = prefix;
  uint64_t read_at = 0;
  for (;;) {
    auto page = agent.kv_list(list, 5000);
    if (!page.ok()) {
      std::fprintf(stderr, "config_watch: %s\n", page.error().message.c_str());
      return 1;
    }
    if (read_at == 0) read_at = page.value().revision;
    for (const auto& entry : page.value().items) apply_put(entry.key, entry.value, entry.mod_revision);
    if (!page.value().more || page.value().items.empty()) break;
    list.after = page.value().items.back().key;
  }
  std::printf("watching %s from revision %llu\n", prefix.c_str(),
              static_cast<unsigned long long>(read_at + 1));
  std::fflush(stdout);

  // 2. Every change after it, in order.
  conclave::wire::KvWatchRequest watch{prefix, true, read_at + 1, 10'000, 0};
  for (;;) {
    auto answer = agent.kv_watch(watch, 15'000);
    if (!answer.ok()) {
      if (answer.error().code == conclave::ErrorCode::not_found) {
        std::fprintf(stderr, "config_watch: %s\n", answer.error().message.c_str());
        return 1;  // fell too far behind: a real service would start over from step 1
      }
      ::usleep(200 * 1000);  // an election, say: ask again from the same revision
      continue;
    }
    for (const auto& event : answer.value().events) {
      if (event.type == conclave::wire::KvEventType::put) {
        apply_put(event.entry.key, event.entry.value, event.entry.mod_revision);
      } else {
        apply_delete(event.entry.key, event.entry.mod_revision);
      }
    }
    watch.from_revision = answer.value().watch_revision + 1;
  }
}
