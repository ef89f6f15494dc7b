// conclave-sim: runs the deterministic simulator over many seeds (soak) or replays one.
//
//   conclave-sim --seeds 1000                 # seeds 1..1000, prints failing seeds
//   conclave-sim --seed 1234 --verbose        # replay one seed, narrating every event
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "sim/simulation.h"

int main(int argc, char** argv) {
  CLI::App app{"conclave-sim: whole-cluster deterministic simulation. One seed replays one run."};
  uint64_t first_seed = 1;
  uint64_t seed_count = 100;
  std::optional<uint64_t> single_seed;
  conclave::sim::SimOptions options;
  app.add_option("--first-seed", first_seed, "First seed of a soak run")->capture_default_str();
  app.add_option("--seeds", seed_count, "How many seeds to run")->capture_default_str();
  app.add_option("--seed", single_seed, "Run (replay) exactly this seed");
  app.add_option("--nodes", options.node_count, "Agents in the cluster")->capture_default_str();
  app.add_option("--chaos-ms", options.chaos_ms, "Virtual ms of chaos")->capture_default_str();
  app.add_option("--heal-ms", options.heal_ms, "Virtual ms to converge after healing")
      ->capture_default_str();
  app.add_option("--max-loss", options.max_loss, "Highest packet loss rate during chaos")
      ->capture_default_str();
  app.add_flag("--verbose", options.verbose, "Narrate the run on stderr");
  app.add_option("--extra-servers", options.extra_servers,
                 "Servers started beyond -bootstrap-expect (they must never form a second "
                 "cluster)")
      ->capture_default_str();
  app.add_option("--lock-clients", options.lock_clients,
                 "Programs taking locks through the agents")
      ->capture_default_str();
  app.add_option("--client-agents", options.client_agents, "Agents without -server")
      ->capture_default_str();
  app.add_flag("--inject-stale-reads", options.inject_stale_reads,
               "Planted bug: servers answer every get from their own state (must be caught)");
  app.add_flag("--inject-skip-dedup", options.inject_skip_dedup,
               "Fault injection: retried writes apply again (the checkers must object)");
  app.add_flag("--inject-no-lock-delay", options.inject_no_lock_delay,
               "Fault injection: a failed holder's slot is freed at once (the checkers must "
               "object)");
  bool no_disk_faults = false;
  app.add_flag("--no-disk-faults", no_disk_faults, "No lost or rolled-back disks");
  app.add_flag("--inject-forget-votes", options.inject_forget_votes,
               "Fault injection: disks forget votes (the checkers must object)");
  bool no_pre_vote = false;
  bool lease_reads = false;
  app.add_flag("--lease-reads", lease_reads,
               "Leader lease reads instead of ReadIndex rounds (the simulated clocks never "
               "drift, so the history checker must still pass)");
  app.add_flag("--no-pre-vote", no_pre_vote, "Raft without pre-vote (more elections)");
  CLI11_PARSE(app, argc, argv);
  options.disk_faults = !no_disk_faults;
  options.pre_vote = !no_pre_vote;
  options.lease_reads = lease_reads;

  if (single_seed) {
    first_seed = *single_seed;
    seed_count = 1;
  }
  uint64_t failures = 0;
  for (uint64_t seed = first_seed; seed < first_seed + seed_count; ++seed) {
    options.seed = seed;
    const conclave::sim::SimResult result = conclave::sim::run_simulation(options);
    if (!result.violations.empty()) {
      ++failures;
      std::printf("FAILED %s\n", result.summary().c_str());
      for (const std::string& violation : result.violations) std::printf("  %s\n", violation.c_str());
      std::printf("  replay: conclave-sim --seed %llu --verbose\n",
                  static_cast<unsigned long long>(seed));
    } else if (seed_count == 1 || options.verbose) {
      std::printf("%s\n", result.summary().c_str());
    }
  }
  std::printf("%llu seeds, %llu failed\n", static_cast<unsigned long long>(seed_count),
              static_cast<unsigned long long>(failures));
  return failures == 0 ? 0 : 1;
}
