// Process tests for Raft production depth (issue 6, acceptance 3 a, c, d, e): real agents on
// loopback addresses, used through the real CLI and client library.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "tests/process/harness.h"

namespace conclave::testing {
namespace {

// The leader's view of the membership (`conclave raft peers -format json` through `asked`).
std::optional<wire::RaftPeersResponse> peers_via(const ClusterAgent& asked) {
  auto client = try_connect(asked.socket);
  if (!client) return std::nullopt;
  auto peers = client->raft_peers(1000);
  if (!peers.ok()) return std::nullopt;
  return peers.value();
}

// name -> "voter" | "learner", as the leader sees it through `asked`.
std::map<std::string, std::string> roles_via(const ClusterAgent& asked) {
  std::map<std::string, std::string> roles;
  if (auto peers = peers_via(asked)) {
    for (const wire::RaftPeer& peer : peers->peers) {
      roles[peer.name.empty() ? peer.server_id : peer.name] = peer.voter ? "voter" : "learner";
    }
  }
  return roles;
}

TEST_CASE("a follower isolated for 3 s and healed changes neither the leader nor the term "
          "(pre-vote, check-quorum)") {
  TempFolder folder;
  std::vector<ClusterAgent> agents = start_cluster(
      folder.path(), {"alpha", "bravo", "charlie"}, {"127.0.0.21", "127.0.0.22", "127.0.0.23"});
  INFO(all_logs(agents));
  const std::string leader = wait_for_agreed_leader(pointers(agents), 15000);
  REQUIRE_FALSE(leader.empty());
  REQUIRE(try_put(find_agent(agents, leader)->socket, "k", "before", 3000));
  const uint64_t term = try_status(find_agent(agents, leader)->socket)->term;
  ClusterAgent* follower = other_than(agents, leader);
  LoopbackFirewall firewall;
  firewall.isolate(follower->host);
  REQUIRE(try_put(find_agent(agents, leader)->socket, "k", "during", 3000));
  // Cut off, the follower cannot confirm a linearizable read, but answers `-stale` from its
  // own (older) state at once.
  const auto asked = Clock::now();
  CommandResult stale =
      run_cli(folder.path(), {"kv", "get", "k", "-stale", "--socket", follower->socket});
  CHECK(stale.exit_code == 0);
  CHECK(stale.out == "before\n");
  CHECK(elapsed_ms(asked) < 1000);
  CommandResult linearizable = run_cli(
      folder.path(), {"kv", "get", "k", "--socket", follower->socket, "--timeout", "1000"});
  CHECK(linearizable.exit_code != 0);
  sleep_ms(1500);
  firewall.heal();
  // Give it time to come back and catch up (or, without pre-vote, to force an election).
  REQUIRE(wait_until(5000, [&] { return try_get(follower->socket, "k") == "during"; }) >= 0);
  sleep_ms(1000);
  for (ClusterAgent& agent : agents) {
    auto status = try_status(agent.socket);
    REQUIRE(status);
    INFO(agent.name);
    CHECK(status->leader_name == leader);
    CHECK(status->term == term);
  }
}

TEST_CASE("1000 linearizable gets add no entries to the log (ReadIndex)") {
  TempFolder folder;
  std::vector<ClusterAgent> agents = start_cluster(
      folder.path(), {"alpha", "bravo", "charlie"}, {"127.0.0.1", "127.0.0.1", "127.0.0.1"});
  INFO(all_logs(agents));
  const std::string leader = wait_for_agreed_leader(pointers(agents), 15000);
  REQUIRE_FALSE(leader.empty());
  const ClusterAgent& through = *find_agent(agents, leader == "alpha" ? "bravo" : "alpha");
  REQUIRE(try_put(through.socket, "config", "v1", 3000));
  auto client = try_connect(through.socket);
  REQUIRE(client);
  // Settle: the put and the commit that follows it are in every log.
  sleep_ms(500);
  const uint64_t last_before = try_status(find_agent(agents, leader)->socket)->last_log_index;
  for (int i = 0; i < 1000; ++i) {
    auto got = client->kv_get("config", 3000);
    REQUIRE(got.ok());
    REQUIRE(got.value().value == "v1");
  }
  const auto after = try_status(find_agent(agents, leader)->socket);
  REQUIRE(after);
  CHECK(after->last_log_index == last_before);
  // Served by the follower the client asked, after the leader confirmed each (ReadIndex).
  auto follower = try_status(through.socket);
  REQUIRE(follower);
  CHECK(counter(*follower, "follower_reads_served") + counter(*after, "leader_reads_served") >=
        1000);
  std::printf("reads: 1000 gets through a follower: %llu served by it, %llu forwarded\n",
              static_cast<unsigned long long>(counter(*follower, "follower_reads_served")),
              static_cast<unsigned long long>(counter(*follower, "follower_reads_forwarded")));
  CHECK(counter(*follower, "follower_reads_served") >= 900);
}

TEST_CASE("a new server joins a running cluster through gossip alone and is promoted") {
  TempFolder folder;
  std::vector<ClusterAgent> agents = start_cluster(
      folder.path(), {"alpha", "bravo", "charlie"}, {"127.0.0.1", "127.0.0.1", "127.0.0.1"});
  const std::string leader = wait_for_agreed_leader(pointers(agents), 15000);
  REQUIRE_FALSE(leader.empty());
  REQUIRE(try_put(agents[0].socket, "before", "1", 3000));
  // No -bootstrap-expect: it finds the cluster through -join and waits to be added.
  agents.push_back(start_agent(folder.path(), "delta", "127.0.0.1", /*server=*/true,
                               {agents[1].gossip_address()}));
  INFO(all_logs(agents));
  ClusterAgent& delta = agents.back();
  const int64_t promoted_ms = wait_until(20000, [&] {
    return roles_via(agents[0])["delta"] == "voter";
  });
  REQUIRE(promoted_ms >= 0);
  std::printf("membership: a new server was promoted to voter %lld ms after it started\n",
              static_cast<long long>(promoted_ms));
  // It holds the whole log and serves requests like any member.
  REQUIRE(wait_until(5000, [&] { return try_get(delta.socket, "before") == "1"; }) >= 0);
  CHECK(try_put(delta.socket, "after", "2", 3000));
  auto status = try_status(delta.socket);
  REQUIRE(status);
  CHECK(std::count(status->voters.begin(), status->voters.end(), "delta") == 1);
  CHECK(status->voters.size() == 4);
  // `conclave raft peers` shows it to people too.
  CommandResult peers = run_cli(folder.path(), {"raft", "peers", "--socket", delta.socket});
  CHECK(peers.exit_code == 0);
  CHECK(peers.out.find("delta") != std::string::npos);
  CHECK(peers.out.find("voter") != std::string::npos);
}

TEST_CASE("five servers: a killed server is removed after the threshold and comes back as a "
          "voter; with three down, writes stop with a no-quorum error and nobody is removed") {
  TempFolder folder;
  ClusterSpec spec;
  spec.names = {"s1", "s2", "s3", "s4", "s5"};
  spec.hosts = std::vector<std::string>(5, "127.0.0.1");
  spec.extra_args = {"-autopilot-dead-server", "3s"};
  std::vector<ClusterAgent> agents = start_cluster(folder.path(), spec);
  INFO(all_logs(agents));
  std::string leader = wait_for_agreed_leader(pointers(agents), 20000);
  REQUIRE_FALSE(leader.empty());
  REQUIRE(try_put(find_agent(agents, leader)->socket, "a", "1", 3000));

  // 1. kill -9 a follower: the autopilot removes it once gossip has shown it failed for 3 s.
  ClusterAgent* victim = other_than(agents, leader);
  const auto killed_at = Clock::now();
  victim->process->kill9();
  ClusterAgent* survivor = find_agent(agents, leader);
  const int64_t removed_ms = wait_until(20000, [&] {
    auto roles = roles_via(*survivor);
    return !roles.empty() && roles.count(victim->name) == 0;
  });
  REQUIRE(removed_ms >= 0);
  const int64_t removed_after_ms = elapsed_ms(killed_at);
  std::printf("membership: a killed server was removed %lld ms after kill -9 (threshold 3 s)\n",
              static_cast<long long>(removed_after_ms));
  CHECK(removed_after_ms >= 3000);  // not before the threshold
  CHECK(roles_via(*survivor).size() == 4);
  CHECK(try_put(survivor->socket, "b", "2", 3000));

  // 2. Restarted with its data folder, it is added again and promoted.
  victim->process->start();
  const int64_t back_ms = wait_until(30000, [&] {
    return roles_via(*survivor)[victim->name] == "voter";
  });
  REQUIRE(back_ms >= 0);
  REQUIRE(wait_until(5000, [&] { return try_get(victim->socket, "b") == "2"; }) >= 0);

  // 3. Three of five down (the one that came back and two more): no quorum. Writes stop with an
  // error that says so, and the cluster does not shrink itself around the survivors.
  leader = wait_for_agreed_leader(pointers(agents), 10000);
  REQUIRE_FALSE(leader.empty());
  std::vector<ClusterAgent*> down = {victim};
  for (ClusterAgent& agent : agents) {
    if (down.size() < 3 && &agent != victim && agent.name != leader) down.push_back(&agent);
  }
  for (ClusterAgent* agent : down) agent->process->kill9();
  ClusterAgent* left = nullptr;
  for (ClusterAgent& agent : agents) {
    if (std::find(down.begin(), down.end(), &agent) == down.end()) left = &agent;
  }
  sleep_ms(5000);  // beyond the removal threshold
  CommandResult put = run_cli(folder.path(), {"kv", "put", "c", "3", "--socket", left->socket,
                                              "--timeout", "2000"});
  CHECK(put.exit_code != 0);
  INFO(put.err);
  CHECK(put.err.find("quorum") != std::string::npos);
  auto status = try_status(left->socket);
  REQUIRE(status);
  CHECK(status->voters.size() == 5);
}

}  // namespace
}  // namespace conclave::testing

namespace conclave::testing {
namespace {

TEST_CASE("a follower down while the log is compacted catches up by a snapshot install on "
          "restart") {
  TempFolder folder;
  std::vector<ClusterAgent> agents = start_cluster(
      folder.path(), {"alpha", "bravo", "charlie"}, {"127.0.0.1", "127.0.0.1", "127.0.0.1"});
  INFO(all_logs(agents));
  const std::string leader = wait_for_agreed_leader(pointers(agents), 15000);
  REQUIRE_FALSE(leader.empty());
  ClusterAgent* follower = other_than(agents, leader);
  REQUIRE(try_put(follower->socket, "first", "1", 3000));
  follower->process->kill9();
  // More than a compaction's worth of entries (8192) while it is down.
  CommandResult bench =
      run_cli(folder.path(), {"bench", "put", "-clients", "32", "-ops", "12000", "-keys", "500",
                              "--socket", find_agent(agents, leader)->socket});
  REQUIRE(bench.exit_code == 0);
  REQUIRE(try_put(find_agent(agents, leader)->socket, "last", "2", 3000));
  auto leader_status = try_status(find_agent(agents, leader)->socket);
  REQUIRE(leader_status);
  CHECK(counter(*leader_status, "raft_log_start") > 0);  // compacted past what it lacks

  follower->process->start();
  const int64_t caught_up_ms = wait_until(20000, [&] {
    auto got = run_cli(folder.path(), {"kv", "get", "last", "-stale", "--socket", follower->socket});
    return got.exit_code == 0 && got.out == "2\n";
  });
  REQUIRE(caught_up_ms >= 0);
  std::printf("snapshot: a restarted follower caught up %lld ms after its restart\n",
              static_cast<long long>(caught_up_ms));
  auto status = try_status(follower->socket);
  REQUIRE(status);
  CHECK(counter(*status, "snapshots_installed") >= 1);
  CHECK(status->raft_role == "follower");
  // Its own state (not the leader's answer) holds what was written before and while it was down.
  CommandResult first =
      run_cli(folder.path(), {"kv", "get", "first", "-stale", "--socket", follower->socket});
  CHECK(first.out == "1\n");
  // Restarted again, it starts from the installed snapshot on its disk.
  follower->process->kill9();
  follower->process->start();
  REQUIRE(wait_until(10000, [&] {
            auto got =
                run_cli(folder.path(), {"kv", "get", "last", "-stale", "--socket", follower->socket});
            return got.exit_code == 0 && got.out == "2\n";
          }) >= 0);
  for (ClusterAgent& agent : agents) CHECK(agent.process->running());
}

}  // namespace
}  // namespace conclave::testing
