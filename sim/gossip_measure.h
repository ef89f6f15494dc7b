// Measurements of the gossip protocol on a simulated cluster (sim/gossip_cluster.h): how fast
// a crash is detected everywhere, how fast a join spreads, what the protocol costs per member,
// and how many healthy members it wrongly declares failed under loss or beside a starved
// member. conclave-gossip-sim prints them (docs/gossip.md); tests/gossip asserts on them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gossip/gossip.h"

namespace conclave::sim {

struct GossipRunSpec {
  size_t members = 10;
  uint64_t seed = 1;
  double loss = 0.0;           // uniform packet loss
  int64_t latency_ms = 1;      // one-way, fixed
  bool lifeguard = true;       // gossip::Options::lifeguard
  bool stall_guard = true;     // gossip::Options::stall_threshold_ms > 0
  double suspicion_multiplier = gossip::Options{}.suspicion_multiplier;
  int suspicion_confirmations = gossip::Options{}.suspicion_confirmations;
  int64_t probe_interval_ms = gossip::Options{}.probe_interval_ms;
  int retransmit_multiplier = gossip::Options{}.retransmit_multiplier;
  bool ring_probes = gossip::Options{}.ring_probes;
  // Bytes of one packet (conclave-gossip-sim passes the real encoder); default: the bound.
  std::function<size_t(const gossip::Packet&)> packet_bytes;
};

struct Percentiles {
  double median_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

// Nearest-rank percentiles of `samples` (empty: zeros).
Percentiles percentiles(std::vector<int64_t> samples);

struct DetectionResult {
  std::vector<int64_t> detection_ms;  // per crash: until every live member marked it failed
  // The same crashes, broken down: until some member first suspected it, and until some
  // member first marked it failed (the rest of detection_ms is spreading that news).
  std::vector<int64_t> first_suspicion_ms;
  std::vector<int64_t> first_failure_ms;
  std::vector<int64_t> join_ms;       // per restart: until 99.9% of the others saw it alive
  size_t undetected = 0;              // crashes not detected everywhere within 30 s
  size_t false_failures = 0;          // failed events about members that were running
  double packets_per_member_s = 0;    // steady state, before the crashes
  double bytes_per_member_s = 0;
};

// Forms a cluster of spec.members, measures steady-state traffic over `steady_ms`, then
// `crashes` times: crashes a random member, waits until every live member marks it failed,
// restarts it (a new incarnation) and waits until 99.9% of the others see it alive again.
DetectionResult measure_detection(const GossipRunSpec& spec, size_t crashes,
                                  int64_t steady_ms);

struct AccuracyResult {
  int64_t simulated_ms = 0;
  size_t false_failures = 0;     // failed events about a healthy member, by any observer
  size_t false_suspicions = 0;   // suspected events about a healthy member
  size_t slow_member_failures = 0;  // failed events about the starved member (if any)
};

// Runs a formed cluster for `duration_ms` under spec.loss; with `max_delay_ms` > 0, one member
// is starved: it reads every packet up to that long late (GossipCluster::set_processing_delay).
AccuracyResult measure_accuracy(const GossipRunSpec& spec, int64_t duration_ms,
                                int64_t max_delay_ms);

gossip::Options gossip_options_for(const GossipRunSpec& spec);

}  // namespace conclave::sim
