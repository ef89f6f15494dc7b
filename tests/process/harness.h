// Shared helpers for process tests (layer 4): polling, the client path, local clusters of real
// agents on loopback addresses, and a loopback firewall. Every agent is killed and every rule
// removed when its owner goes out of scope, also when a test fails.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "tests/process/agent_process.h"
#include "wire/client_messages.h"

namespace conclave::testing {

using Clock = std::chrono::steady_clock;

inline int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Polls `condition` every 20 ms until it holds or `limit_ms` passes; returns the time it took,
// or -1 when it never held.
template <typename Condition>
int64_t wait_until(int64_t limit_ms, Condition condition) {
  const auto start = Clock::now();
  while (elapsed_ms(start) <= limit_ms) {
    if (condition()) return elapsed_ms(start);
    sleep_ms(20);
  }
  return -1;
}

std::optional<client::Client> try_connect(const std::string& socket);
bool try_put(const std::string& socket, const std::string& key, const std::string& value,
             uint32_t timeout_ms = 1000);
std::optional<std::string> try_get(const std::string& socket, const std::string& key);
std::optional<wire::StatusResponse> try_status(const std::string& socket);
// The named counter of a status answer (fails the test when there is none).
uint64_t counter(const wire::StatusResponse& status, const std::string& name);

// A raw connection to a Unix socket, for clients that misbehave on purpose.
int connect_unix(const std::string& path);
// One client request as the bytes a client writes to the socket.
std::string request_frame(wire::ClientRequestBody body);

// A dev agent on free ports in `folder`, serving kv requests when construction returns.
struct DevAgent {
  explicit DevAgent(const std::filesystem::path& folder);
  int gossip_port;
  int server_port;
  AgentProcess process;
  std::string socket_path;
};

// One agent of a local test cluster, on its own loopback address so a firewall rule can cut it.
struct ClusterAgent {
  std::string name;
  std::string host;
  int gossip_port = 0;
  int server_port = 0;
  std::string socket;
  bool server = true;
  std::unique_ptr<AgentProcess> process;

  std::string gossip_address() const { return host + ":" + std::to_string(gossip_port); }
};

struct ClusterSpec {
  std::vector<std::string> names;
  std::vector<std::string> hosts;   // one per name
  std::vector<bool> servers;        // empty: all servers
  int bootstrap_expect = 0;         // 0: the number of servers
  // Whom each agent joins (indexes into names); empty: every agent joins every other.
  std::vector<std::vector<size_t>> joins;
  std::vector<std::string> extra_args;  // appended to every agent's command line
};

// One more agent for a running cluster: `conclave agent [-server] -node NAME -data-dir NAME
// -bind HOST ... -join J...` plus `extra_args`, with its own free ports and socket. No
// -bootstrap-expect: a server joins the cluster it finds (the autopilot adds it).
ClusterAgent start_agent(const std::filesystem::path& folder, const std::string& name,
                         const std::string& host, bool server,
                         const std::vector<std::string>& joins,
                         const std::vector<std::string>& extra_args = {});

// Starts the agents (`conclave agent -server -bootstrap-expect N -node NAME -data-dir NAME
// -bind HOST ...`, in `folder`), each with its own ports and socket.
std::vector<ClusterAgent> start_cluster(const std::filesystem::path& folder,
                                        const ClusterSpec& spec);
// Three (or more) servers that all join each other, as the README shows.
std::vector<ClusterAgent> start_cluster(const std::filesystem::path& folder,
                                        const std::vector<std::string>& names,
                                        const std::vector<std::string>& hosts);
std::string all_logs(const std::vector<ClusterAgent>& agents);
// `conclave members` through `asked` lists every agent alive.
bool all_alive(const std::filesystem::path& folder, const std::vector<ClusterAgent>& agents,
               const ClusterAgent& asked);
// The leader's name as `asked` knows it (empty when none is known or it does not answer).
std::string leader_seen_by(const ClusterAgent& asked);
ClusterAgent* find_agent(std::vector<ClusterAgent>& agents, const std::string& name);
// The last agent not named `name` (e.g. a follower, given the leader's name).
ClusterAgent* other_than(std::vector<ClusterAgent>& agents, const std::string& name);
// Waits up to `limit_ms` for a leader that every given agent names; returns it ("" if none).
std::string wait_for_agreed_leader(const std::vector<ClusterAgent*>& agents, int64_t limit_ms);
std::vector<ClusterAgent*> pointers(std::vector<ClusterAgent>& agents);

// The complete lines of `text` (each ended by '\n'), without the newline; a last line without
// one is left out (a process may still be writing it).
std::vector<std::string> complete_lines(const std::string& text);

// Drops every packet from or to chosen loopback addresses, in a chain of its own that is
// removed again when the object goes (also when a test fails).
class LoopbackFirewall {
 public:
  LoopbackFirewall();
  ~LoopbackFirewall();
  void isolate(const std::string& host);
  // Drops traffic between two hosts only (both directions).
  void cut(const std::string& a, const std::string& b);
  // Drops UDP only between two hosts (both directions); TCP still passes.
  void cut_udp(const std::string& a, const std::string& b);
  // Drops UDP from `from` to `to` only.
  void cut_udp_one_way(const std::string& from, const std::string& to);
  // Drops every packet from `from` to `to` (TCP and UDP); the other direction still passes.
  void cut_one_way(const std::string& from, const std::string& to);
  // Drops each packet sent by `host` with the given probability (0 to 1), independently.
  void lose(const std::string& host, double probability);
  void heal();

 private:
  std::string chain_;
};

}  // namespace conclave::testing
