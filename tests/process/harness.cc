#include "tests/process/harness.h"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>

#include "wire/codec.h"
#include "wire/framing.h"

namespace conclave::testing {

std::optional<client::Client> try_connect(const std::string& socket) {
  auto connected = client::Client::connect(socket);
  if (!connected.ok()) return std::nullopt;
  return std::move(connected).value();
}

bool try_put(const std::string& socket, const std::string& key, const std::string& value,
             uint32_t timeout_ms) {
  auto agent = try_connect(socket);
  return agent && agent->kv_put(key, value, timeout_ms).ok();
}

std::optional<std::string> try_get(const std::string& socket, const std::string& key) {
  auto agent = try_connect(socket);
  if (!agent) return std::nullopt;
  auto got = agent->kv_get(key, 1000);
  if (!got.ok() || !got.value().found) return std::nullopt;
  return got.value().value;
}

std::optional<wire::StatusResponse> try_status(const std::string& socket) {
  auto agent = try_connect(socket);
  if (!agent) return std::nullopt;
  auto status = agent->status(1000);
  if (!status.ok()) return std::nullopt;
  return status.value();
}

uint64_t counter(const wire::StatusResponse& status, const std::string& name) {
  for (const auto& entry : status.counters) {
    if (entry.name == name) return entry.value;
  }
  FAIL("no counter named " << name);
  return 0;
}

int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  return fd;
}

std::string request_frame(wire::ClientRequestBody body) {
  wire::ClientRequest request;
  request.request_id = 1;
  request.body = std::move(body);
  return wire::frame(wire::encode_client_request(request));
}

DevAgent::DevAgent(const std::filesystem::path& folder)
    : gossip_port(free_port()),
      server_port(free_port()),
      process(folder, {"-dev", "-gossip-port", std::to_string(gossip_port), "-server-port",
                       std::to_string(server_port)}),
      socket_path((folder / "conclave-data" / "agent.sock").string()) {
  INFO(process.log());
  REQUIRE(wait_until(5000, [&] { return try_put(socket_path, "ready", "yes", 500); }) >= 0);
}

std::vector<ClusterAgent> start_cluster(const std::filesystem::path& folder,
                                        const ClusterSpec& spec) {
  std::vector<ClusterAgent> agents;
  std::set<int> ports;
  size_t server_count = 0;
  for (size_t i = 0; i < spec.names.size(); ++i) {
    ClusterAgent agent;
    agent.name = spec.names[i];
    agent.host = spec.hosts[i];
    agent.server = spec.servers.empty() || spec.servers[i];
    server_count += agent.server ? 1 : 0;
    do agent.gossip_port = free_port(); while (!ports.insert(agent.gossip_port).second);
    do agent.server_port = free_port(); while (!ports.insert(agent.server_port).second);
    agent.socket = (folder / (agent.name + ".sock")).string();
    agents.push_back(std::move(agent));
  }
  const int expect =
      spec.bootstrap_expect != 0 ? spec.bootstrap_expect : static_cast<int>(server_count);
  for (size_t i = 0; i < agents.size(); ++i) {
    ClusterAgent& agent = agents[i];
    std::vector<std::string> args = {"-node", agent.name, "-data-dir", agent.name, "-bind",
                                     agent.host, "-gossip-port",
                                     std::to_string(agent.gossip_port), "-server-port",
                                     std::to_string(agent.server_port), "-socket", agent.socket};
    if (agent.server) {
      args.insert(args.begin(), {"-server", "-bootstrap-expect", std::to_string(expect)});
    }
    std::vector<size_t> joins;
    if (spec.joins.empty()) {
      for (size_t j = 0; j < agents.size(); ++j) {
        if (j != i) joins.push_back(j);
      }
    } else {
      joins = spec.joins[i];
    }
    for (size_t j : joins) {
      args.push_back("-join");
      args.push_back(agents[j].gossip_address());
    }
    args.insert(args.end(), spec.extra_args.begin(), spec.extra_args.end());
    agent.process = std::make_unique<AgentProcess>(folder, args);
  }
  return agents;
}

ClusterAgent start_agent(const std::filesystem::path& folder, const std::string& name,
                         const std::string& host, bool server,
                         const std::vector<std::string>& joins,
                         const std::vector<std::string>& extra_args) {
  ClusterAgent agent;
  agent.name = name;
  agent.host = host;
  agent.server = server;
  agent.gossip_port = free_port();
  do agent.server_port = free_port(); while (agent.server_port == agent.gossip_port);
  agent.socket = (folder / (name + ".sock")).string();
  std::vector<std::string> args = {"-node", name, "-data-dir", name, "-bind", host,
                                   "-gossip-port", std::to_string(agent.gossip_port),
                                   "-server-port", std::to_string(agent.server_port),
                                   "-socket", agent.socket};
  if (server) args.insert(args.begin(), "-server");
  for (const std::string& join : joins) {
    args.push_back("-join");
    args.push_back(join);
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  agent.process = std::make_unique<AgentProcess>(folder, args);
  return agent;
}

std::vector<ClusterAgent> start_cluster(const std::filesystem::path& folder,
                                        const std::vector<std::string>& names,
                                        const std::vector<std::string>& hosts) {
  ClusterSpec spec;
  spec.names = names;
  spec.hosts = hosts;
  return start_cluster(folder, spec);
}

std::string all_logs(const std::vector<ClusterAgent>& agents) {
  std::string all;
  for (const ClusterAgent& agent : agents) all += "---- " + agent.name + "\n" + agent.process->log();
  return all;
}

bool all_alive(const std::filesystem::path& folder, const std::vector<ClusterAgent>& agents,
               const ClusterAgent& asked) {
  CommandResult members =
      run_cli(folder, {"members", "--socket", asked.socket, "--format", "json"});
  if (members.exit_code != 0) return false;
  for (const ClusterAgent& other : agents) {
    if (members.out.find("\"name\": \"" + other.name + "\"") == std::string::npos) return false;
  }
  size_t alive = 0;
  for (size_t at = 0; (at = members.out.find("\"status\": \"alive\"", at)) != std::string::npos;
       ++at) {
    ++alive;
  }
  return alive == agents.size();
}

std::string leader_seen_by(const ClusterAgent& asked) {
  auto status = try_status(asked.socket);
  return status ? status->leader_name : "";
}

ClusterAgent* other_than(std::vector<ClusterAgent>& agents, const std::string& name) {
  ClusterAgent* found = nullptr;
  for (ClusterAgent& agent : agents) {
    if (agent.name != name) found = &agent;
  }
  return found;
}

std::string wait_for_agreed_leader(const std::vector<ClusterAgent*>& agents, int64_t limit_ms) {
  std::string leader;
  wait_until(limit_ms, [&] {
    std::string seen;
    for (const ClusterAgent* agent : agents) {
      const std::string name = leader_seen_by(*agent);
      if (name.empty() || (!seen.empty() && name != seen)) return false;
      seen = name;
    }
    leader = seen;
    return true;
  });
  return leader;
}

std::vector<ClusterAgent*> pointers(std::vector<ClusterAgent>& agents) {
  std::vector<ClusterAgent*> out;
  for (ClusterAgent& agent : agents) out.push_back(&agent);
  return out;
}

ClusterAgent* find_agent(std::vector<ClusterAgent>& agents, const std::string& name) {
  for (ClusterAgent& agent : agents) {
    if (agent.name == name) return &agent;
  }
  return nullptr;
}

namespace {

void run_iptables(const std::string& command) {
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

}  // namespace

LoopbackFirewall::LoopbackFirewall() : chain_("CONCLAVE_TEST_" + std::to_string(getpid())) {
  run_iptables("iptables -w -N " + chain_ + " 2>/dev/null || iptables -w -F " + chain_);
  run_iptables("iptables -w -I INPUT -j " + chain_);
}

LoopbackFirewall::~LoopbackFirewall() {
  std::system(("iptables -w -D INPUT -j " + chain_ + " 2>/dev/null").c_str());
  std::system(("iptables -w -F " + chain_ + " 2>/dev/null").c_str());
  std::system(("iptables -w -X " + chain_ + " 2>/dev/null").c_str());
}

void LoopbackFirewall::isolate(const std::string& host) {
  run_iptables("iptables -w -A " + chain_ + " -s " + host + " -j DROP");
  run_iptables("iptables -w -A " + chain_ + " -d " + host + " -j DROP");
}

void LoopbackFirewall::cut(const std::string& a, const std::string& b) {
  run_iptables("iptables -w -A " + chain_ + " -s " + a + " -d " + b + " -j DROP");
  run_iptables("iptables -w -A " + chain_ + " -s " + b + " -d " + a + " -j DROP");
}

std::vector<std::string> complete_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    const size_t end = text.find('\n', start);
    if (end == std::string::npos) break;
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

void LoopbackFirewall::cut_udp(const std::string& a, const std::string& b) {
  cut_udp_one_way(a, b);
  cut_udp_one_way(b, a);
}

void LoopbackFirewall::cut_udp_one_way(const std::string& from, const std::string& to) {
  run_iptables("iptables -w -A " + chain_ + " -p udp -s " + from + " -d " + to + " -j DROP");
}

void LoopbackFirewall::cut_one_way(const std::string& from, const std::string& to) {
  run_iptables("iptables -w -A " + chain_ + " -s " + from + " -d " + to + " -j DROP");
}

void LoopbackFirewall::lose(const std::string& host, double probability) {
  run_iptables("iptables -w -A " + chain_ + " -s " + host +
               " -m statistic --mode random --probability " + std::to_string(probability) +
               " -j DROP");
}

void LoopbackFirewall::heal() { run_iptables("iptables -w -F " + chain_); }

}  // namespace conclave::testing
