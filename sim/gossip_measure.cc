#include "sim/gossip_measure.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "sim/gossip_cluster.h"

namespace conclave::sim {

namespace {

std::string member_name(size_t index) { return "m" + std::to_string(index); }

GossipCluster make_cluster(const GossipRunSpec& spec) {
  GossipCluster::Config config;
  config.min_latency_ms = spec.latency_ms;
  config.max_latency_ms = spec.latency_ms;
  config.record_events = false;
  config.packet_bytes = spec.packet_bytes;
  return GossipCluster(spec.seed, gossip_options_for(spec), config);
}

// Whether `holds` is true of every member's gossip node.
template <typename Predicate>
bool every_member(GossipCluster& cluster, const GossipRunSpec& spec, Predicate holds) {
  for (size_t i = 0; i < spec.members; ++i) {
    if (!holds(cluster.node(member_name(i)))) return false;
  }
  return true;
}

// Starts spec.members nodes, ten every 100 ms, each joining through up to three earlier ones,
// and runs until every node counts them all alive. Returns false if that takes over 60 s.
bool form(GossipCluster& cluster, const GossipRunSpec& spec, Prng& prng) {
  for (size_t i = 0; i < spec.members; ++i) {
    std::vector<std::string> seeds;
    for (size_t k = 0; k < std::min<size_t>(i, 3); ++k) {
      seeds.push_back(GossipCluster::address_of(member_name(prng.below(i))));
    }
    cluster.start(member_name(i), prng.next(), seeds);
    if (i % 10 == 9) cluster.run_for(100);
  }
  return cluster.run_until(
      [&] {
        return every_member(cluster, spec, [&](const gossip::Gossip& node) {
          return node.alive_count() == spec.members;
        });
      },
      60000);
}

}  // namespace

gossip::Options gossip_options_for(const GossipRunSpec& spec) {
  gossip::Options options;  // the LAN defaults
  options.lifeguard = spec.lifeguard;
  options.suspicion_multiplier = spec.suspicion_multiplier;
  options.suspicion_confirmations = spec.suspicion_confirmations;
  options.probe_interval_ms = spec.probe_interval_ms;
  options.retransmit_multiplier = spec.retransmit_multiplier;
  options.ring_probes = spec.ring_probes;
  if (!spec.stall_guard) options.stall_threshold_ms = 0;
  return options;
}

Percentiles percentiles(std::vector<int64_t> samples) {
  Percentiles result;
  if (samples.empty()) return result;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double fraction) {
    const size_t index = static_cast<size_t>(
        std::ceil(fraction * static_cast<double>(samples.size())));
    return static_cast<double>(samples[std::clamp<size_t>(index, 1, samples.size()) - 1]);
  };
  result.median_ms = rank(0.5);
  result.p99_ms = rank(0.99);
  result.max_ms = static_cast<double>(samples.back());
  return result;
}

DetectionResult measure_detection(const GossipRunSpec& spec, size_t crashes,
                                  int64_t steady_ms) {
  DetectionResult result;
  Prng prng(spec.seed * 7919 + 1);
  GossipCluster cluster = make_cluster(spec);
  std::string victim;
  bool victim_down = false;
  int64_t crashed_at = 0;
  int64_t first_suspicion_at = -1;
  int64_t first_failure_at = -1;
  std::set<std::string> saw_failed;
  std::set<std::string> saw_joined;
  cluster.on_event([&](int64_t now_ms, const std::string& observer,
                       const gossip::Event& event) {
    if (event.type == gossip::EventType::suspected && victim_down &&
        event.member.name == victim && first_suspicion_at < 0) {
      first_suspicion_at = now_ms;
    }
    if (event.type == gossip::EventType::failed) {
      if (victim_down && event.member.name == victim) {
        if (first_failure_at < 0) first_failure_at = now_ms;
        saw_failed.insert(observer);
      } else {
        ++result.false_failures;
      }
    } else if (event.type == gossip::EventType::joined && !victim_down &&
               event.member.name == victim) {
      saw_joined.insert(observer);
    }
  });
  if (!form(cluster, spec, prng)) {
    result.undetected = crashes;
    return result;
  }
  // The mass join leaves every node with N updates to retransmit: let that drain first, so
  // the traffic measured is the steady state.
  cluster.run_until(
      [&] {
        return every_member(cluster, spec,
                            [](const gossip::Gossip& node) { return node.queued_updates() == 0; });
      },
      300000);
  const GossipTraffic before = cluster.total_traffic();
  cluster.run_for(steady_ms);
  const GossipTraffic after = cluster.total_traffic();
  const double member_seconds =
      static_cast<double>(spec.members) * static_cast<double>(steady_ms) / 1000.0;
  result.packets_per_member_s =
      static_cast<double>(after.packets_sent - before.packets_sent) / member_seconds;
  result.bytes_per_member_s =
      static_cast<double>(after.bytes_sent - before.bytes_sent) / member_seconds;

  const size_t others = spec.members - 1;
  const size_t join_quorum = static_cast<size_t>(std::ceil(0.999 * static_cast<double>(others)));
  for (size_t trial = 0; trial < crashes; ++trial) {
    cluster.run_for(prng.between(0, 999));
    victim = member_name(prng.below(spec.members));
    saw_failed.clear();
    first_suspicion_at = -1;
    first_failure_at = -1;
    victim_down = true;
    cluster.crash(victim);
    crashed_at = cluster.now_ms();
    if (cluster.run_until([&] { return saw_failed.size() >= others; }, 30000)) {
      result.detection_ms.push_back(cluster.now_ms() - crashed_at);
      result.first_suspicion_ms.push_back(
          (first_suspicion_at < 0 ? first_failure_at : first_suspicion_at) - crashed_at);
      result.first_failure_ms.push_back(first_failure_at - crashed_at);
    } else {
      ++result.undetected;
    }
    // Back, as a new process would be: a new incarnation, joining through one member.
    saw_joined.clear();
    victim_down = false;
    const std::string seed = member_name((prng.below(others) + 1 +
                                          std::stoul(victim.substr(1))) % spec.members);
    cluster.start(victim, prng.next(), {GossipCluster::address_of(seed)},
                  static_cast<uint64_t>(cluster.now_ms()));
    const int64_t restarted_at = cluster.now_ms();
    if (cluster.run_until([&] { return saw_joined.size() >= join_quorum; }, 30000)) {
      result.join_ms.push_back(cluster.now_ms() - restarted_at);
    }
    // Let everyone see it alive again before the next crash.
    cluster.run_until([&] { return saw_joined.size() >= others; }, 30000);
  }
  return result;
}

AccuracyResult measure_accuracy(const GossipRunSpec& spec, int64_t duration_ms,
                                int64_t max_delay_ms) {
  AccuracyResult result;
  Prng prng(spec.seed * 7919 + 2);
  GossipCluster cluster = make_cluster(spec);
  const std::string slow = max_delay_ms > 0 ? member_name(spec.members / 2) : std::string();
  bool measuring = false;
  cluster.on_event([&](int64_t, const std::string&, const gossip::Event& event) {
    if (!measuring) return;
    const bool about_slow = !slow.empty() && event.member.name == slow;
    if (event.type == gossip::EventType::failed) {
      ++(about_slow ? result.slow_member_failures : result.false_failures);
    } else if (event.type == gossip::EventType::suspected && !about_slow) {
      ++result.false_suspicions;
    }
  });
  if (!form(cluster, spec, prng)) {
    result.false_failures = spec.members;  // could not even form: count it as a failure
    return result;
  }
  measuring = true;
  cluster.set_loss(spec.loss);
  if (!slow.empty()) cluster.set_processing_delay(slow, max_delay_ms);
  cluster.run_for(duration_ms);
  result.simulated_ms = duration_ms;
  return result;
}

}  // namespace conclave::sim
