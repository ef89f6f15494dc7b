#include "agent/bootstrap.h"

#include <algorithm>

namespace conclave::agent {
namespace {

std::string names_of(const std::vector<ServerView>& servers) {
  std::string names;
  for (const ServerView& server : servers) names += (names.empty() ? "" : ", ") + server.name;
  return names;
}

std::string names_of(const std::vector<store::ServerRecord>& servers) {
  std::string names;
  for (const store::ServerRecord& server : servers) {
    names += (names.empty() ? "" : ", ") + server.name;
  }
  return names;
}

BootstrapDecision wait(std::string report = {}, bool refusal = false) {
  BootstrapDecision decision;
  decision.report = std::move(report);
  decision.refusal = refusal;
  return decision;
}

}  // namespace

uint64_t server_set_digest(const std::vector<store::ServerRecord>& servers) {
  std::vector<uint64_t> ids;
  for (const store::ServerRecord& server : servers) ids.push_back(server.server_id);
  std::sort(ids.begin(), ids.end());
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a 64 over the sorted ids
  for (uint64_t id : ids) {
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (id >> (8 * byte)) & 0xff;
      hash *= 0x100000001b3ULL;
    }
  }
  return hash == 0 ? 1 : hash;
}

BootstrapDecision BootstrapPlanner::decide(const BootstrapInput& input) {
  std::vector<ServerView> servers = input.alive_servers;
  std::sort(servers.begin(), servers.end(),
            [](const ServerView& a, const ServerView& b) { return a.server_id < b.server_id; });

  // A server of our own promised set may already have started (it saw every promise before
  // we did): its cluster id is our set's digest, and it counts as having promised it.
  const uint64_t own_digest =
      input.own_promise ? server_set_digest(input.own_promise->servers) : 0;

  // A cluster that already exists is joined, never founded again.
  std::vector<ServerView> in_other_cluster;
  for (const ServerView& server : servers) {
    if (server.cluster_id != 0 && server.cluster_id != own_digest) {
      in_other_cluster.push_back(server);
    }
  }
  if (!in_other_cluster.empty() && input.own_promise) {
    // Bound to its promise (it is never taken back), it can neither join that cluster nor
    // be added to it: only an operator can free it.
    return wait("not bootstrapping: a cluster already exists (servers " +
                    names_of(in_other_cluster) + "), but this server promised to start one "
                    "with " + names_of(input.own_promise->servers) +
                    " and never takes a promise back, so it cannot join it. To add this "
                    "server to that cluster, stop it, empty its data folder and start it again",
                /*refusal=*/true);
  }
  if (!in_other_cluster.empty()) {
    return wait("not bootstrapping: a cluster already exists (servers " +
                    names_of(in_other_cluster) +
                    "); this server is not one of its voters and waits to be added to it",
                /*refusal=*/true);
  }
  for (const ServerView& server : servers) {
    if (server.bootstrap_expect != 0 && server.bootstrap_expect != input.expect) {
      return wait("refusing to bootstrap: server " + server.name +
                      " was started with -bootstrap-expect " +
                      std::to_string(server.bootstrap_expect) + " and this one with " +
                      std::to_string(input.expect) +
                      "; start every server of a new cluster with the same -bootstrap-expect",
                  /*refusal=*/true);
    }
  }

  if (input.own_promise) {
    const store::BootstrapPromise& promise = *input.own_promise;
    BootstrapDecision start;
    start.action = BootstrapAction::start;
    start.promise = promise;
    start.cluster_id = own_digest;
    // A member that already runs our set proves that every member promised it, so we may start
    // without seeing the others again (one may have lost its disk and come back as a stranger).
    const bool set_started = std::any_of(servers.begin(), servers.end(), [&](const ServerView& s) {
      return s.server_id != input.self_server_id && s.cluster_id == own_digest;
    });
    if (set_started) return start;
    for (const store::ServerRecord& member : promise.servers) {
      auto seen = std::find_if(servers.begin(), servers.end(), [&](const ServerView& server) {
        return server.server_id == member.server_id;
      });
      if (seen == servers.end()) {
        return wait("waiting for " + member.name + " (promised bootstrap set: " +
                    names_of(promise.servers) + ") to be alive");
      }
      if (seen->cluster_id == own_digest) continue;  // started with this very set
      if (seen->promise_digest != 0 && seen->promise_digest != own_digest) {
        return wait("refusing to bootstrap: this server promised to start a cluster with " +
                        names_of(promise.servers) + ", but " + seen->name +
                        " promised a different set; no cluster can start from these promises. "
                        "Stop the servers, empty their data folders, and start them all with "
                        "the same -bootstrap-expect equal to their number",
                    /*refusal=*/true);
      }
      if (seen->promise_digest != own_digest) {
        if (servers.size() > static_cast<size_t>(input.expect)) {
          // It will not promise while it sees more servers than expected, and this server
          // never takes its promise back.
          return wait("refusing to bootstrap: this server promised to start a cluster with " +
                          names_of(promise.servers) + ", but " +
                          std::to_string(servers.size()) + " servers are alive now (" +
                          names_of(servers) + ") and " + seen->name +
                          " will not promise while it sees more than -bootstrap-expect " +
                          std::to_string(input.expect) +
                          "; stop the servers outside that set, or empty the data folders and "
                          "start every server with -bootstrap-expect equal to their number",
                      /*refusal=*/true);
        }
        return wait("waiting for " + seen->name + " to promise the bootstrap set " +
                    names_of(promise.servers));
      }
    }
    return start;
  }

  if (input.waiting_to_join) return wait("waiting to reach a -join address");
  const size_t expected = static_cast<size_t>(input.expect);
  if (servers.size() < expected) {
    stable_digest_ = 0;
    return wait("waiting for " + std::to_string(expected) + " servers (" +
                std::to_string(servers.size()) + " alive: " + names_of(servers) + ")");
  }
  if (servers.size() > expected) {
    stable_digest_ = 0;
    return wait("refusing to bootstrap: " + std::to_string(servers.size()) +
                    " servers are alive (" + names_of(servers) + ") but -bootstrap-expect is " +
                    std::to_string(expected) +
                    "; start every server of a new cluster with the same -bootstrap-expect "
                    "equal to their number",
                /*refusal=*/true);
  }
  store::BootstrapPromise candidate;
  candidate.expect = input.expect;
  for (const ServerView& server : servers) {
    candidate.servers.push_back(store::ServerRecord{server.server_id, server.name});
  }
  const uint64_t digest = server_set_digest(candidate.servers);
  for (const ServerView& server : servers) {
    if (server.promise_digest != 0 && server.promise_digest != digest) {
      return wait("refusing to bootstrap: " + server.name +
                      " already promised a different server set than the one alive now (" +
                      names_of(servers) + ")",
                  /*refusal=*/true);
    }
  }
  if (digest != stable_digest_) {
    stable_digest_ = digest;
    stable_since_ms_ = input.now_ms;
  }
  if (input.now_ms - stable_since_ms_ < settle_ms_) {
    return wait("waiting for the set of servers (" + names_of(servers) + ") to settle");
  }
  BootstrapDecision promise;
  promise.action = BootstrapAction::promise;
  promise.promise = std::move(candidate);
  return promise;
}

}  // namespace conclave::agent
