// The gossip acceptance figures, asserted on the simulated cluster (sim/gossip_measure.h):
// detection and join times and per-member traffic at N = 10 and 100, and accuracy at N = 100
// over one simulated hour. The same code prints docs/gossip.md (scripts/gossip-figures.sh).
#include <catch2/catch.hpp>

#include <cstdio>

#include "sim/gossip_measure.h"

using namespace conclave::sim;

TEST_CASE("N = 10 and 100: crashes detected everywhere fast, joins spread, traffic flat",
          "[gossip][figures]") {
  GossipRunSpec spec;
  spec.seed = 11;
  spec.members = 10;
  const DetectionResult ten = measure_detection(spec, 100, 300000);
  spec.members = 100;
  const DetectionResult hundred = measure_detection(spec, 20, 300000);
  for (const DetectionResult* result : {&ten, &hundred}) {
    const Percentiles detection = percentiles(result->detection_ms);
    const Percentiles join = percentiles(result->join_ms);
    std::printf("[gossip] N = %zu: detection median %.0f ms, p99 %.0f ms; join to 99.9%% "
                "median %.0f ms; %.1f packets and %.0f bytes per member per second\n",
                result == &ten ? size_t{10} : size_t{100}, detection.median_ms,
                detection.p99_ms, join.median_ms, result->packets_per_member_s,
                result->bytes_per_member_s);
    CHECK(result->undetected == 0);
    CHECK(result->false_failures == 0);
    CHECK(join.p99_ms <= 2000);
  }
  // The goals: median and p99 <= 1.5 s at N = 10 (and every crash within 2 s, as the process
  // test asks); N = 100 lies between that and the 3 s goal at N = 1,000. (Without the ring
  // probes, the N = 10 p99 is 1.6-1.7 s: gossip/DESIGN.md.)
  CHECK(percentiles(ten.detection_ms).median_ms <= 1500);
  CHECK(percentiles(ten.detection_ms).p99_ms <= 1500);
  CHECK(percentiles(ten.detection_ms).max_ms <= 2000);
  CHECK(percentiles(hundred.detection_ms).median_ms <= 2500);
  CHECK(percentiles(hundred.detection_ms).p99_ms <= 2500);
  // Flat within ±25% from 10 to 100 members.
  CHECK(hundred.packets_per_member_s <= 1.25 * ten.packets_per_member_s);
  CHECK(hundred.packets_per_member_s >= 0.75 * ten.packets_per_member_s);
  CHECK(hundred.bytes_per_member_s <= 1.25 * ten.bytes_per_member_s);
  CHECK(hundred.bytes_per_member_s >= 0.75 * ten.bytes_per_member_s);
}

TEST_CASE("N = 100, one simulated hour at 10% packet loss: no false failure",
          "[gossip][accuracy]") {
  GossipRunSpec spec;
  spec.members = 100;
  spec.loss = 0.10;
  const AccuracyResult result = measure_accuracy(spec, 3600 * 1000, 0);
  std::printf("[gossip] N = 100, 1 h at 10%% loss: %zu false failures (%zu suspected events)\n",
              result.false_failures, result.false_suspicions);
  CHECK(result.false_failures == 0);
}

TEST_CASE("N = 100 beside a starved member (reads up to 2 s late): no false failure with "
          "Lifeguard, many without",
          "[gossip][accuracy]") {
  GossipRunSpec spec;
  spec.members = 100;
  const AccuracyResult with_lifeguard = measure_accuracy(spec, 3600 * 1000, 2000);
  spec.lifeguard = false;
  const AccuracyResult without = measure_accuracy(spec, 600 * 1000, 2000);
  std::printf("[gossip] N = 100 beside a starved member: %zu false failures in 1 h with "
              "Lifeguard, %zu in 10 min without\n",
              with_lifeguard.false_failures, without.false_failures);
  CHECK(with_lifeguard.false_failures == 0);
  // The control: without Lifeguard the starved member condemns healthy ones, or this test
  // would not be testing anything.
  CHECK(without.false_failures > 0);
}
