// Process tests for gossip (issue 7, acceptance 3): ten real agents on loopback addresses,
// watched through the client library as `conclave members` shows them.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/process/harness.h"

namespace conclave::testing {
namespace {

// name -> state ("alive", "suspect", "dead", "left") as `asked` lists its members; empty when
// it does not answer.
std::map<std::string, std::string> states_via(const ClusterAgent& asked) {
  std::map<std::string, std::string> states;
  auto client = try_connect(asked.socket);
  if (!client) return states;
  auto members = client->members(500);
  if (!members.ok()) return states;
  for (const wire::MemberInfo& member : members.value().members) {
    states[member.name] = member.state;
  }
  return states;
}

std::string address_via(const ClusterAgent& asked, const std::string& name) {
  auto client = try_connect(asked.socket);
  if (!client) return "";
  auto members = client->members(500);
  if (!members.ok()) return "";
  for (const wire::MemberInfo& member : members.value().members) {
    if (member.name == name) return member.address;
  }
  return "";
}

// Ten client agents (gossip only, no Raft to disturb the timing) on 127.0.0.31..40, each
// joining the first three.
std::vector<ClusterAgent> start_ten(const std::filesystem::path& folder) {
  ClusterSpec spec;
  for (int i = 0; i < 10; ++i) {
    spec.names.push_back("g" + std::to_string(i));
    spec.hosts.push_back("127.0.0." + std::to_string(31 + i));
    spec.servers.push_back(false);
    std::vector<size_t> joins;
    for (size_t j = 0; j < 3; ++j) {
      if (j != static_cast<size_t>(i)) joins.push_back(j);
    }
    spec.joins.push_back(joins);
  }
  return start_cluster(folder, spec);
}

bool everyone_sees(const std::vector<ClusterAgent*>& observers, const std::string& member,
                   const std::string& state) {
  for (const ClusterAgent* observer : observers) {
    auto states = states_via(*observer);
    auto it = states.find(member);
    if (it == states.end() || it->second != state) return false;
  }
  return true;
}

// Every agent in `agents` lists every one of them alive within `limit_ms`.
bool wait_until_all_alive(const std::vector<ClusterAgent*>& agents, int64_t limit_ms) {
  return wait_until(limit_ms, [&] {
           for (const ClusterAgent* agent : agents) {
             if (!everyone_sees(agents, agent->name, "alive")) return false;
           }
           return true;
         }) >= 0;
}

// The running agents other than `name`.
std::vector<ClusterAgent*> all_but(std::vector<ClusterAgent>& agents, const std::string& name) {
  std::vector<ClusterAgent*> result;
  for (ClusterAgent& agent : agents) {
    if (agent.name != name && agent.process->running()) result.push_back(&agent);
  }
  return result;
}

// Polls every observer until each lists `member` in `state`; returns the time until the last
// one did (ms since `since`), or -1 after `limit_ms`. Counts any observer listing it in
// `forbidden_state` meanwhile.
int64_t time_until_all_see(const std::vector<ClusterAgent*>& observers, const std::string& member,
                           const std::string& state, Clock::time_point since, int64_t limit_ms,
                           const std::string& forbidden_state, size_t& forbidden_seen) {
  std::map<std::string, int64_t> seen_at;
  while (elapsed_ms(since) <= limit_ms) {
    for (const ClusterAgent* observer : observers) {
      if (seen_at.count(observer->name)) continue;
      auto states = states_via(*observer);
      auto it = states.find(member);
      if (it == states.end()) continue;
      if (it->second == forbidden_state) ++forbidden_seen;
      if (it->second == state) seen_at[observer->name] = elapsed_ms(since);
    }
    if (seen_at.size() == observers.size()) {
      int64_t last = 0;
      for (const auto& [name, at] : seen_at) last = std::max(last, at);
      return last;
    }
    sleep_ms(10);
  }
  return -1;
}

}  // namespace

TEST_CASE("ten agents: kill -9 one and every survivor lists it failed within 2 s (median of "
          "3 trials <= 1.5 s); SIGTERM one (or `conclave leave`) and every survivor lists it "
          "left within 1 s, never failed") {
  TempFolder folder;
  std::vector<ClusterAgent> agents = start_ten(folder.path());
  INFO(all_logs(agents));
  std::vector<ClusterAgent*> everyone = pointers(agents);
  REQUIRE(wait_until_all_alive(everyone, 10000));

  std::vector<int64_t> detection_ms;
  for (const char* victim_name : {"g4", "g7", "g9"}) {
    ClusterAgent* victim = find_agent(agents, victim_name);
    const std::vector<ClusterAgent*> survivors = all_but(agents, victim_name);
    const auto killed_at = Clock::now();
    victim->process->kill9();
    size_t unused = 0;
    const int64_t took = time_until_all_see(survivors, victim_name, "dead", killed_at, 10000,
                                            "", unused);
    std::printf("[gossip process] kill -9 %s: every survivor lists it failed after %lld ms\n",
                victim_name, static_cast<long long>(took));
    CHECK(took >= 0);
    CHECK(took <= 2000);
    detection_ms.push_back(took < 0 ? 10000 : took);
  }
  std::sort(detection_ms.begin(), detection_ms.end());
  CHECK(detection_ms[1] <= 1500);

  ClusterAgent* leaver = find_agent(agents, "g2");
  const std::vector<ClusterAgent*> live_observers = all_but(agents, "g2");
  const auto signalled_at = Clock::now();
  leaver->process->signal(SIGTERM);
  size_t failed_seen = 0;
  const int64_t took = time_until_all_see(live_observers, "g2", "left", signalled_at, 5000,
                                          "dead", failed_seen);
  std::printf("[gossip process] SIGTERM g2: every survivor lists it left after %lld ms\n",
              static_cast<long long>(took));
  CHECK(took >= 0);
  CHECK(took <= 1000);
  CHECK(leaver->process->wait_at_most(5000) == std::optional<int>(0));
  // And it stays left (never failed) after it is gone.
  sleep_ms(3000);
  CHECK(everyone_sees(live_observers, "g2", "left"));
  CHECK(failed_seen == 0);

  // `conclave leave` does the same as SIGTERM.
  ClusterAgent* asked = find_agent(agents, "g3");
  const CommandResult leave = run_cli(folder.path(), {"leave", "--socket", asked->socket});
  CHECK(leave.exit_code == 0);
  CHECK(leave.out.find("leaving the cluster") != std::string::npos);
  CHECK(asked->process->wait_at_most(5000) == std::optional<int>(0));
  size_t unused = 0;
  CHECK(time_until_all_see(all_but(agents, "g3"), "g3", "left", Clock::now(), 2000, "", unused) >=
        0);
}

TEST_CASE("a second agent under an existing name is refused and exits naming the conflict; "
          "the first stays alive everywhere") {
  TempFolder folder;
  std::vector<ClusterAgent> agents = start_ten(folder.path());
  INFO(all_logs(agents));
  std::vector<ClusterAgent*> everyone = pointers(agents);
  REQUIRE(wait_until_all_alive(everyone, 10000));
  const ClusterAgent& holder = *find_agent(agents, "g5");
  // Another host runs an agent under the same name (its own folder, as on another machine).
  const std::filesystem::path elsewhere = folder.path() / "elsewhere";
  std::filesystem::create_directories(elsewhere);
  ClusterAgent impostor =
      start_agent(elsewhere, "g5", "127.0.0.41", false, {agents[0].gossip_address()});
  const std::optional<int> exit_code = impostor.process->wait_at_most(10000);
  const std::string impostor_log = impostor.process->log();
  INFO(impostor_log);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code != 0);
  CHECK(impostor_log.find("the name 'g5' belongs to another live agent at " +
                          holder.gossip_address()) != std::string::npos);
  CHECK(holder.process->log().find("tried to join under this agent's name 'g5'") !=
        std::string::npos);
  // The first keeps its name and address everywhere, and is never suspected for it.
  sleep_ms(2000);
  for (const ClusterAgent* observer : everyone) {
    INFO(observer->name);
    CHECK(address_via(*observer, "g5") == holder.gossip_address());
  }
  CHECK(everyone_sees(everyone, "g5", "alive"));
}

}  // namespace conclave::testing

namespace conclave::testing {

TEST_CASE("the seed server killed -9 and restarted with its original command (no -join) is "
          "alive everywhere within 2 s, rejoining the members remembered in its data folder") {
  TempFolder folder;
  ClusterSpec spec;
  spec.names = {"seed", "bravo", "charlie"};
  spec.hosts = {"127.0.0.51", "127.0.0.52", "127.0.0.53"};
  spec.joins = {{}, {0}, {0}};  // the seed is started without -join
  std::vector<ClusterAgent> agents = start_cluster(folder.path(), spec);
  INFO(all_logs(agents));
  REQUIRE_FALSE(wait_for_agreed_leader(pointers(agents), 15000).empty());
  // The members it knows are written at most every 5 s.
  sleep_ms(6000);
  ClusterAgent& seed = agents[0];
  const std::vector<ClusterAgent*> others = {&agents[1], &agents[2]};
  seed.process->kill9();
  REQUIRE(wait_until(10000, [&] { return everyone_sees(others, "seed", "dead"); }) >= 0);
  // Past the 30 s in which the others still gossip to the recently dead: from here on only
  // the restarted agent itself can say it is back, as when a host is down for a while.
  sleep_ms(31000);
  const auto restarted_at = Clock::now();
  seed.process->start();
  size_t unused = 0;
  const int64_t took =
      time_until_all_see(others, "seed", "alive", restarted_at, 10000, "", unused);
  std::printf("[gossip process] seed restarted without -join: alive everywhere after %lld ms\n",
              static_cast<long long>(took));
  CHECK(took >= 0);
  CHECK(took <= 2000);
  CHECK(everyone_sees({&seed}, "bravo", "alive"));
}

}  // namespace conclave::testing

namespace conclave::testing {

TEST_CASE("a client agent given -join addresses in two clusters is refused by the second, and "
          "neither pool lists the other's members") {
  TempFolder folder;
  std::vector<ClusterAgent> first = start_cluster(
      folder.path(), {"a1", "a2", "a3"}, {"127.0.0.61", "127.0.0.62", "127.0.0.63"});
  std::vector<ClusterAgent> second = start_cluster(
      folder.path(), {"b1", "b2", "b3"}, {"127.0.0.64", "127.0.0.65", "127.0.0.66"});
  INFO(all_logs(first) + all_logs(second));
  REQUIRE_FALSE(wait_for_agreed_leader(pointers(first), 15000).empty());
  REQUIRE_FALSE(wait_for_agreed_leader(pointers(second), 15000).empty());
  ClusterAgent joiner = start_agent(folder.path(), "joiner", "127.0.0.67", false,
                                    {first[0].gossip_address(), second[0].gossip_address()});
  INFO(joiner.process->log());

  auto names_in = [](const std::vector<ClusterAgent>& pool) {
    std::set<std::string> names;
    for (const ClusterAgent& agent : pool) {
      for (const auto& [name, state] : states_via(agent)) names.insert(name);
    }
    return names;
  };
  auto lists_any_of = [](const std::set<std::string>& names, const std::string& prefix) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& name) { return name.rfind(prefix, 0) == 0; });
  };
  // The joiner ends up in exactly one pool; nobody lists a member of the other cluster.
  const int64_t settled = wait_until(10000, [&] {
    const std::set<std::string> in_first = names_in(first);
    const std::set<std::string> in_second = names_in(second);
    return !lists_any_of(in_first, "b") && !lists_any_of(in_second, "a") &&
           (in_first.count("joiner") + in_second.count("joiner")) == 1;
  });
  CHECK(settled >= 0);
  const std::set<std::string> joiner_sees = [&] {
    std::set<std::string> names;
    for (const auto& [name, state] : states_via(joiner)) names.insert(name);
    return names;
  }();
  CHECK((lists_any_of(joiner_sees, "a") != lists_any_of(joiner_sees, "b")));
  // It says so, naming both clusters and the -join address that was refused.
  const std::string log = joiner.process->log();
  CHECK(log.find("(a -join address) belongs to cluster") != std::string::npos);
  CHECK(log.find("this agent to cluster") != std::string::npos);
  // Both pools keep working on their own.
  CHECK(try_put(first[0].socket, "k", "first", 3000));
  CHECK(try_put(second[0].socket, "k", "second", 3000));
  CHECK(try_get(first[1].socket, "k") == "first");
  CHECK(try_get(second[1].socket, "k") == "second");
}

}  // namespace conclave::testing

namespace conclave::testing {

TEST_CASE("-tag key=value shows in `conclave members` everywhere, and a changed tag spreads "
          "after a restart") {
  TempFolder folder;
  ClusterAgent observer = start_agent(folder.path(), "observer", "127.0.0.71", false, {});
  ClusterAgent tagged = start_agent(folder.path(), "tagged", "127.0.0.72", false,
                                    {observer.gossip_address()}, {"-tag", "role=web", "-tag",
                                                                  "zone=eu-1a"});
  INFO(observer.process->log() + tagged.process->log());
  auto tags_seen = [&]() -> std::map<std::string, std::string> {
    auto client = try_connect(observer.socket);
    if (!client) return {};
    auto members = client->members(500);
    if (!members.ok()) return {};
    for (const wire::MemberInfo& member : members.value().members) {
      if (member.name == "tagged") return member.tags;
    }
    return {};
  };
  const std::map<std::string, std::string> first = {{"role", "web"}, {"zone", "eu-1a"}};
  REQUIRE(wait_until(5000, [&] { return tags_seen() == first; }) >= 0);
  const CommandResult table = run_cli(folder.path(), {"members", "--socket", observer.socket});
  CHECK(table.out.find("role=web,zone=eu-1a") != std::string::npos);
  const CommandResult json =
      run_cli(folder.path(), {"members", "--socket", observer.socket, "-format", "json"});
  CHECK(json.out.find("\"role\": \"web\"") != std::string::npos);
  // Filters: by tag (all must match) and by state.
  const CommandResult web = run_cli(
      folder.path(), {"members", "--socket", observer.socket, "-tag", "role=web", "-tag",
                      "zone=eu-1a"});
  CHECK(web.exit_code == 0);
  CHECK(web.out.find("tagged") != std::string::npos);
  CHECK(web.out.find("observer") == std::string::npos);
  const CommandResult none = run_cli(
      folder.path(), {"members", "--socket", observer.socket, "-tag", "role=db"});
  CHECK(none.out.find("tagged") == std::string::npos);
  const CommandResult alive = run_cli(
      folder.path(), {"members", "--socket", observer.socket, "-status", "alive"});
  CHECK(alive.out.find("observer") != std::string::npos);
  CHECK(alive.out.find("tagged") != std::string::npos);
  const CommandResult failed = run_cli(
      folder.path(), {"members", "--socket", observer.socket, "-status", "failed"});
  CHECK(failed.out.find("tagged") == std::string::npos);
  CHECK(run_cli(folder.path(), {"members", "--socket", observer.socket, "-tag", "novalue"})
            .exit_code == 2);

  // The same agent restarted with another tag: its new record replaces the old everywhere.
  tagged.process->signal(SIGTERM);
  REQUIRE(tagged.process->wait_at_most(5000).has_value());
  AgentProcess retagged(folder.path(),
                        {"-node", "tagged", "-data-dir", "tagged", "-bind", "127.0.0.72",
                         "-gossip-port", std::to_string(tagged.gossip_port), "-server-port",
                         std::to_string(tagged.server_port), "-socket", tagged.socket, "-join",
                         observer.gossip_address(), "-tag", "role=db"});
  const std::map<std::string, std::string> second = {{"role", "db"}};
  const int64_t took = wait_until(5000, [&] { return tags_seen() == second; });
  CHECK(took >= 0);
  CHECK(took <= 2000);

  const CommandResult bad = run_cli(folder.path(), {"agent", "-dev", "-tag", "no-equals"});
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("expected key=value") != std::string::npos);
}

}  // namespace conclave::testing

namespace conclave::testing {

TEST_CASE("two agents whose UDP to each other is dropped while TCP passes are never declared "
          "failed (TCP fallback probe)") {
  TempFolder folder;
  ClusterAgent first = start_agent(folder.path(), "udp1", "127.0.0.81", false, {});
  ClusterAgent second =
      start_agent(folder.path(), "udp2", "127.0.0.82", false, {first.gossip_address()});
  INFO(first.process->log() + second.process->log());
  const std::vector<ClusterAgent*> both = {&first, &second};
  REQUIRE(wait_until_all_alive(both, 5000));
  LoopbackFirewall firewall;
  firewall.cut_udp(first.host, second.host);
  // Long enough for many probes and the longest suspicion timeout (6 x 500 ms) several times.
  size_t not_alive_seen = 0;
  const auto cut_at = Clock::now();
  while (elapsed_ms(cut_at) < 10000) {
    for (const ClusterAgent* observer : both) {
      for (const auto& [name, state] : states_via(*observer)) {
        if (state == "dead") ++not_alive_seen;
      }
    }
    sleep_ms(100);
  }
  CHECK(not_alive_seen == 0);
  CHECK(everyone_sees(both, "udp1", "alive"));
  CHECK(everyone_sees(both, "udp2", "alive"));
  // The fallback did the work: both sides asked over TCP.
  for (const ClusterAgent* agent : both) {
    auto status = try_status(agent->socket);
    REQUIRE(status);
    CHECK(counter(*status, "gossip_tcp_probes_answered") > 0);
  }
}

}  // namespace conclave::testing

namespace conclave::testing {

TEST_CASE("a joiner gets the whole member list over TCP, even when every datagram from its "
          "seed is dropped (push-pull over TCP)") {
  TempFolder folder;
  std::vector<ClusterAgent> agents;
  agents.push_back(start_agent(folder.path(), "pp1", "127.0.0.91", false, {}));
  for (const char* name : {"pp2", "pp3"}) {
    const std::string host = std::string("127.0.0.9") + name[2];
    agents.push_back(start_agent(folder.path(), name, host, false,
                                 {agents.front().gossip_address()}));
  }
  std::vector<ClusterAgent*> formed = pointers(agents);
  REQUIRE(wait_until_all_alive(formed, 5000));
  // The seed's datagrams to the joiner are all lost; the joiner's Sync reaches the seed.
  LoopbackFirewall firewall;
  firewall.cut_udp_one_way(agents.front().host, "127.0.0.94");
  agents.push_back(start_agent(folder.path(), "pp4", "127.0.0.94", false,
                               {agents.front().gossip_address()}));
  const ClusterAgent& joiner = agents.back();
  INFO(joiner.process->log());
  // The seed's answer (every member) came in one frame over TCP: the joiner lists everyone
  // at once, instead of waiting for some member's next push-pull (15 s).
  const int64_t took = wait_until(5000, [&] {
    const auto states = states_via(joiner);
    return states.size() == 4 &&
           std::all_of(states.begin(), states.end(),
                       [](const auto& entry) { return entry.second == "alive"; });
  });
  CHECK(took >= 0);
  CHECK(took <= 2000);
  auto status = try_status(joiner.socket);
  REQUIRE(status);
  CHECK(counter(*status, "gossip_tcp_syncs_received") > 0);
}

}  // namespace conclave::testing

namespace conclave::testing {

TEST_CASE("conclave members -watch reports a kill -9 as failed and the restart as joined") {
  TempFolder folder;
  std::vector<ClusterAgent> agents;
  agents.push_back(start_agent(folder.path(), "w1", "127.0.0.101", false, {}));
  agents.push_back(start_agent(folder.path(), "w2", "127.0.0.102", false,
                               {agents.front().gossip_address()}));
  agents.push_back(start_agent(folder.path(), "w3", "127.0.0.103", false,
                               {agents.front().gossip_address()}));
  std::vector<ClusterAgent*> all = pointers(agents);
  REQUIRE(wait_until_all_alive(all, 5000));
  auto watcher = AgentProcess::command(
      folder.path(), "watch", {"members", "-watch", "-format", "json", "--socket",
                               agents.front().socket});
  INFO(watcher->log());
  // Each line is one JSON object; the watch starts with the three members.
  auto lines_with = [&](const std::string& type, const std::string& name) {
    size_t count = 0;
    for (const std::string& text : complete_lines(watcher->log())) {
      const auto event = nlohmann::json::parse(text, nullptr, false);
      if (!event.is_discarded() && event.value("type", "") == type &&
          event.value("name", "") == name) {
        ++count;
      }
    }
    return count;
  };
  REQUIRE(wait_until(3000, [&] {
            return lines_with("member", "w1") == 1 && lines_with("member", "w2") == 1 &&
                   lines_with("member", "w3") == 1;
          }) >= 0);
  ClusterAgent& victim = agents.back();
  victim.process->kill9();
  CHECK(wait_until(5000, [&] { return lines_with("failed", "w3") == 1; }) >= 0);
  victim.process->start();  // its original command
  CHECK(wait_until(5000, [&] { return lines_with("joined", "w3") >= 1; }) >= 0);
  CHECK(lines_with("failed", "w1") == 0);
  CHECK(lines_with("failed", "w2") == 0);
}

}  // namespace conclave::testing
