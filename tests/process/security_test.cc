// Process tests of the cluster key (agent/traffic_keys.h): real agents on loopback addresses.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crypto/datagram_seal.h"
#include "crypto/keyring.h"
#include "crypto/stream_seal.h"
#include "tests/process/harness.h"
#include "wire/codec.h"
#include "wire/framing.h"

namespace conclave::testing {
namespace {

std::optional<wire::StatusResponse> status_of(const ClusterAgent& agent) {
  auto client = client::Client::connect(agent.socket);
  if (!client.ok()) return std::nullopt;
  auto status = client.value().status(1000);
  if (!status.ok()) return std::nullopt;
  return status.value();
}

sockaddr_in loopback(const std::string& host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  return address;
}

void send_udp(const std::string& host, int port, const std::string& bytes) {
  const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address = loopback(host, port);
  ::sendto(udp, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&address),
           sizeof address);
  ::close(udp);
}

// Connects to an agent's TCP port, sends `frames` (each length-prefixed) and closes.
void send_tcp_frames(const std::string& host, int port, const std::vector<std::string>& frames) {
  const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(host, port);
  REQUIRE(::connect(tcp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  for (const std::string& payload : frames) {
    const std::string framed = wire::frame(payload);
    REQUIRE(::send(tcp, framed.data(), framed.size(), 0) == static_cast<ssize_t>(framed.size()));
  }
  sleep_ms(200);
  ::close(tcp);
}

int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::set<std::string> alive_members(const ClusterAgent& agent) {
  std::set<std::string> names;
  auto client = client::Client::connect(agent.socket);
  if (!client.ok()) return names;
  auto members = client.value().members(1000);
  if (!members.ok()) return names;
  for (const auto& member : members.value().members) {
    if (member.state == "alive") names.insert(member.name);
  }
  return names;
}

}  // namespace

TEST_CASE("with a cluster key, agents without it cannot join, add a member or send a Raft "
          "message, and forged, replayed and stale packets are dropped and counted") {
  TempFolder folder;
  const std::string key = crypto::encode_key(crypto::generate_key());
  ClusterSpec spec;
  spec.names = {"k1", "k2", "k3"};
  spec.hosts = {"127.0.0.121", "127.0.0.122", "127.0.0.123"};
  spec.extra_args = {"-encrypt", key};
  std::vector<ClusterAgent> agents = start_cluster(folder.path(), spec);
  INFO(all_logs(agents));
  const std::string leader = wait_for_agreed_leader(pointers(agents), 15000);
  REQUIRE_FALSE(leader.empty());
  REQUIRE(wait_until(10000, [&] { return try_put(agents[0].socket, "sealed", "yes", 1000); }) >= 0);
  const uint64_t term_before = status_of(*find_agent(agents, leader))->term;

  // Two would-be members: one with another key, one with none.
  std::vector<ClusterAgent> intruders;
  intruders.push_back(start_agent(folder.path(), "wrong-key", "127.0.0.124", false,
                                  {agents[0].gossip_address()},
                                  {"-encrypt", crypto::encode_key(crypto::generate_key())}));
  intruders.push_back(start_agent(folder.path(), "no-key", "127.0.0.125", false,
                                  {agents[0].gossip_address()}));
  INFO(all_logs(intruders));

  // A Raft message straight to the leader's TCP port, in plaintext and with a forged hello.
  const ClusterAgent& leading = *find_agent(agents, leader);
  wire::PeerMessage vote;
  vote.from_name = "k9";
  raft::Message request;
  request.type = raft::MessageType::vote_request;
  request.from = 99;
  request.to = 1;
  request.term = term_before + 1000;
  vote.payload = request;
  send_tcp_frames(leading.host, leading.server_port, {wire::encode_peer_message(vote)});
  crypto::StreamSealer other_key(crypto::generate_key(), wall_clock_ms());
  send_tcp_frames(leading.host, leading.server_port,
                  {other_key.hello(), other_key.seal(wire::encode_peer_message(vote))});

  // Sealed under the cluster key by the test (which knows it): accepted once, then a copy is a
  // replay; one sealed two minutes ago is refused by its time. (The payload itself is not a
  // gossip packet: the first copy is then counted malformed, which shows it got that far.)
  crypto::Keyring ring;
  REQUIRE(ring.install(crypto::parse_key(key).value()).ok());
  const std::string sealed = crypto::seal_datagram(ring.primary(), "not gossip", wall_clock_ms());
  send_udp(agents[0].host, agents[0].gossip_port, sealed);
  send_udp(agents[0].host, agents[0].gossip_port, sealed);
  send_udp(agents[0].host, agents[0].gossip_port,
           crypto::seal_datagram(ring.primary(), "not gossip", wall_clock_ms() - 120'000));
  // And a tampered copy of a fresh one.
  std::string tampered = crypto::seal_datagram(ring.primary(), "not gossip", wall_clock_ms());
  tampered[tampered.size() - 3] = static_cast<char>(tampered[tampered.size() - 3] ^ 1);
  send_udp(agents[0].host, agents[0].gossip_port, tampered);

  sleep_ms(3000);  // several probe and push-pull rounds: long enough to have joined
  const std::set<std::string> servers = {"k1", "k2", "k3"};
  for (const ClusterAgent& agent : agents) CHECK(alive_members(agent) == servers);
  CHECK(alive_members(intruders[0]) == std::set<std::string>{"wrong-key"});
  CHECK(alive_members(intruders[1]) == std::set<std::string>{"no-key"});

  auto seed = status_of(agents[0]);
  REQUIRE(seed);
  std::printf("cluster key: seed counted %llu unauthenticated, %llu plaintext, %llu replayed "
              "packets, %llu refused connections\n",
              static_cast<unsigned long long>(counter(*seed, "gossip_packets_unauthenticated")),
              static_cast<unsigned long long>(counter(*seed, "gossip_packets_plaintext_refused")),
              static_cast<unsigned long long>(counter(*seed, "gossip_packets_replayed")),
              static_cast<unsigned long long>(counter(*seed, "peer_connections_unauthenticated")));
  CHECK(counter(*seed, "gossip_packets_unauthenticated") >= 2);  // wrong key, tampered
  CHECK(counter(*seed, "gossip_packets_plaintext_refused") >= 1);
  CHECK(counter(*seed, "gossip_packets_replayed") == 2);  // the copy, and the stale one
  CHECK(counter(*seed, "gossip_packets_malformed") == 1);  // the first copy got through
  auto leader_status = status_of(leading);
  REQUIRE(leader_status);
  CHECK(counter(*leader_status, "peer_connections_unauthenticated") >= 2);
  CHECK(leader_status->term == term_before);  // the forged vote request changed nothing
  CHECK(leader_status->leader_name == leader);
  const std::string seed_log = agents[0].process->log();
  CHECK(seed_log.find("dropped a gossip packet from 127.0.0.124") != std::string::npos);
  CHECK(seed_log.find("dropped a gossip packet from 127.0.0.125") != std::string::npos);
  CHECK(leading.process->log().find("refused an agent connection from") != std::string::npos);
  // The cluster still serves.
  CHECK(try_get(agents[2].socket, "sealed") == std::optional<std::string>("yes"));
}

}  // namespace conclave::testing
