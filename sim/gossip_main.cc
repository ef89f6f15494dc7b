// conclave-gossip-sim: measures the gossip protocol alone on simulated clusters of any size
// (virtual time, fixed one-way latency, optional loss). Prints one Markdown table row per
// cluster size; docs/gossip.md records the output of scripts/gossip-figures.sh.
//
//   conclave-gossip-sim --members 10,100,1000              # detection, join, traffic
//   conclave-gossip-sim --accuracy --members 100 --loss 0.1 --duration-s 3600
//   conclave-gossip-sim --accuracy --members 100 --max-delay-ms 2000 --no-lifeguard
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "sim/gossip_measure.h"
#include "wire/codec.h"

using namespace conclave;

int main(int argc, char** argv) {
  CLI::App app{"conclave-gossip-sim: gossip detection time, join spread, traffic and accuracy "
               "in simulation. One seed replays one run."};
  std::vector<size_t> sizes = {10, 100, 1000};
  size_t crashes = 20;
  int64_t steady_s = 20;
  bool accuracy = false;
  int64_t duration_s = 3600;
  int64_t max_delay_ms = 0;
  bool no_lifeguard = false;
  bool no_stall_guard = false;
  sim::GossipRunSpec spec;
  app.add_option("--members", sizes, "Cluster sizes to run, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--seed", spec.seed, "Seed (one seed replays one run)")->capture_default_str();
  app.add_option("--crashes", crashes, "Crashes (and restarts) measured per size")
      ->capture_default_str();
  app.add_option("--steady-s", steady_s, "Simulated seconds over which traffic is measured")
      ->capture_default_str();
  app.add_option("--loss", spec.loss, "Uniform packet loss (0 to 1)")->capture_default_str();
  app.add_option("--latency-ms", spec.latency_ms, "One-way latency")->capture_default_str();
  app.add_flag("--accuracy", accuracy,
               "Count false failures over --duration-s instead of measuring detection");
  app.add_option("--duration-s", duration_s, "Simulated seconds of an accuracy run")
      ->capture_default_str();
  app.add_option("--max-delay-ms", max_delay_ms,
                 "Accuracy: one member reads every packet up to this long late (a starved "
                 "CPU)")
      ->capture_default_str();
  app.add_flag("--no-lifeguard", no_lifeguard, "Plain SWIM: no Lifeguard refinements");
  app.add_option("--suspicion-confirmations", spec.suspicion_confirmations,
                 "Independent confirmations that bring a suspicion to its shortest timeout")
      ->capture_default_str();
  app.add_option("--probe-interval-ms", spec.probe_interval_ms, "Probe interval")
      ->capture_default_str();
  app.add_option("--retransmit-multiplier", spec.retransmit_multiplier,
                 "Each update is sent this many times ceil(log10(N + 1))")
      ->capture_default_str();
  bool no_ring_probes = false;
  app.add_flag("--no-ring-probes", no_ring_probes,
               "Round robin probes only (no probes of the ring successor)");
  app.add_option("--suspicion-multiplier", spec.suspicion_multiplier,
                 "Shortest suspicion timeout, in max(1, log10 N) probe intervals")
      ->capture_default_str();
  app.add_flag("--no-stall-guard", no_stall_guard, "No stall guard");
  CLI11_PARSE(app, argc, argv);
  spec.lifeguard = !no_lifeguard;
  spec.ring_probes = !no_ring_probes;
  spec.stall_guard = !no_stall_guard;
  spec.packet_bytes = [](const gossip::Packet& packet) {
    return wire::encode_gossip_packet(packet).size();
  };

  int status = 0;
  if (accuracy) {
    std::printf("| members | loss | starved member delay | lifeguard | stall guard | simulated | false "
                "failures | false suspicions | starved member failed |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
  } else {
    std::printf("| members | detection median | p99 | max | undetected | join to 99.9%% "
                "median | p99 | packets/member/s | bytes/member/s | false failures |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  }
  for (size_t members : sizes) {
    spec.members = members;
    const auto started = std::chrono::steady_clock::now();
    if (accuracy) {
      const sim::AccuracyResult result =
          sim::measure_accuracy(spec, duration_s * 1000, max_delay_ms);
      std::printf("| %zu | %.0f%% | %lld ms | %s | %s | %lld s | %zu | %zu | %zu |\n", members,
                  spec.loss * 100, static_cast<long long>(max_delay_ms),
                  spec.lifeguard ? "on" : "off", spec.stall_guard ? "on" : "off",
                  static_cast<long long>(duration_s), result.false_failures,
                  result.false_suspicions, result.slow_member_failures);
      if (result.false_failures != 0) status = 1;
    } else {
      const sim::DetectionResult result =
          sim::measure_detection(spec, crashes, steady_s * 1000);
      const sim::Percentiles detection = sim::percentiles(result.detection_ms);
      const sim::Percentiles join = sim::percentiles(result.join_ms);
      std::printf("| %zu | %.0f ms | %.0f ms | %.0f ms | %zu | %.0f ms | %.0f ms | %.1f | %.0f "
                  "| %zu |\n",
                  members, detection.median_ms, detection.p99_ms, detection.max_ms,
                  result.undetected, join.median_ms, join.p99_ms, result.packets_per_member_s,
                  result.bytes_per_member_s, result.false_failures);
      const sim::Percentiles suspicion = sim::percentiles(result.first_suspicion_ms);
      const sim::Percentiles failure = sim::percentiles(result.first_failure_ms);
      std::fprintf(stderr,
                   "  (%zu members: first suspicion median %.0f ms, p99 %.0f ms; first failed "
                   "median %.0f ms, p99 %.0f ms)\n",
                   members, suspicion.median_ms, suspicion.p99_ms, failure.median_ms,
                   failure.p99_ms);
      if (result.undetected != 0 || result.false_failures != 0) status = 1;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "  (%zu members: %.1f s of real time, seed %llu)\n", members, seconds,
                 static_cast<unsigned long long>(spec.seed));
    std::fflush(stdout);
  }
  return status;
}
