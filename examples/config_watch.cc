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
#include "client/kv_watch.h"

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

// Reads every key under `prefix` (page by page, one linearizable read each) and applies it;
// returns the revision the first page was read at, or 0 on an error.
uint64_t read_all(conclave::client::Client& agent, const std::string& prefix) {
  conclave::wire::KvListRequest list;
  list.prefix = prefix;
  uint64_t read_at = 0;
  std::map<std::string, std::string> fresh;
  for (;;) {
    auto page = agent.kv_list(list, 5000);
    if (!page.ok()) {
      std::fprintf(stderr, "config_watch: %s\n", page.error().message.c_str());
      return 0;
    }
    if (read_at == 0) read_at = page.value().revision;
    for (const auto& entry : page.value().items) {
      fresh[entry.key] = entry.value;
      apply_put(entry.key, entry.value, entry.mod_revision);
    }
    if (!page.value().more || page.value().items.empty()) break;
    list.after = page.value().items.back().key;
  }
  // Keys that are gone since the last full read (after falling behind) are removed too.
  for (auto it = config.begin(); it != config.end();) {
    if (fresh.count(it->first) == 0) {
      std::printf("removed %s (rev %llu)\n", it->first.c_str(),
                  static_cast<unsigned long long>(read_at));
      it = config.erase(it);
    } else {
      ++it;
    }
  }
  std::fflush(stdout);
  return read_at;
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

  // 1. The whole config as of one revision.
  const uint64_t read_at = read_all(agent, prefix);
  if (read_at == 0) return 1;
  std::printf("watching %s from revision %llu\n", prefix.c_str(),
              static_cast<unsigned long long>(read_at + 1));
  std::fflush(stdout);

  // 2. Every change after it, in order.
  conclave::client::KvWatch watch({prefix, true, read_at + 1, 0, 0});
  for (;;) {
    auto step = watch.next(agent);
    if (!step.ok()) {
      std::fprintf(stderr, "config_watch: %s\n", step.error().message.c_str());
      ::usleep(200 * 1000);  // an election, say: the next poll asks from the same revision
      continue;
    }
    if (step.value().fell_behind) {
      // Changes were missed for good (this process was stopped for long, say): read it all
      // again. Changes made after the watch resumed come again through the watch; applying a
      // value twice is harmless.
      std::printf("fell behind; reading %s again\n", prefix.c_str());
      if (read_all(agent, prefix) == 0) return 1;
    }
    for (const auto& event : step.value().events) {
      if (event.type == conclave::wire::KvEventType::put) {
        apply_put(event.entry.key, event.entry.value, event.entry.mod_revision);
      } else {
        apply_delete(event.entry.key, event.entry.mod_revision);
      }
    }
  }
}
