// GossipCluster: a whole cluster of gossip cores (no Raft, no agent) over a simulated network,
// in virtual time with 1 ms resolution. Each node ticks every 10 ms at its own phase; packets
// arrive after a seeded random latency, may be lost, and are cut by isolation and partitions.
// A node can be made "slow" (a starved CPU): every packet it receives is read late, by a random
// delay of up to a bound, in arrival order, while its timers still fire on time.
// Push-pull frames the cores hand over for TCP (gossip::TcpSync) arrive with the same latency
// and are never lost (TCP retransmits), but are cut by isolation and partitions like the rest.
// Nodes are addressed "name:7946". One seed drives everything, so a run replays exactly.
//
// Used by the gossip scenario tests (tests/gossip) and by conclave-gossip-sim, which measures
// detection time, dissemination time, accuracy and traffic at N = 10 to 1,000.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "common/prng.h"
#include "gossip/gossip.h"

namespace conclave::sim {

struct GossipEventRecord {
  int64_t at_ms;
  std::string observer;
  gossip::EventType type;
  std::string member;
  uint64_t incarnation;
};

const char* gossip_event_name(gossip::EventType type);

struct GossipTraffic {
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;  // as measured by the cluster's packet_bytes function
};

class GossipCluster {
 public:
  static constexpr int64_t kTickMs = 10;

  struct Config {
    int64_t min_latency_ms = 1;
    int64_t max_latency_ms = 20;
    // Keep every event in events() (the tests' transcripts). Large runs use on_event instead.
    bool record_events = true;
    // Bytes of one packet on the wire; by default the core's encoded-size bound.
    std::function<size_t(const gossip::Packet&)> packet_bytes;
  };

  GossipCluster(uint64_t seed, gossip::Options base_options);
  GossipCluster(uint64_t seed, gossip::Options base_options, Config config);

  static std::string address_of(const std::string& name) { return name + ":7946"; }

  // Starts (or restarts, replacing the old object) node `name` and has it join `seeds`.
  // `initial_incarnation` as an agent would pass its boot time.
  gossip::Gossip& start(const std::string& name, uint64_t seed,
                        const std::vector<std::string>& seeds,
                        uint64_t initial_incarnation = 0);
  // Crash: the node no longer ticks or receives; packets to it are lost.
  void crash(const std::string& name);
  // From now on `name` reads each packet up to `max_delay_ms` late (uniform, never before an
  // earlier one). 0 makes it healthy again.
  void set_processing_delay(const std::string& name, int64_t max_delay_ms);

  void set_loss(double probability) { loss_ = probability; }
  // An isolated node can neither send nor receive.
  void isolate(const std::string& name) { isolated_.insert(name); }
  void reconnect(const std::string& name) { isolated_.erase(name); }
  // Packets cross between groups only when both ends are in the same group.
  void partition(const std::vector<std::set<std::string>>& groups);
  void heal() { group_of_.clear(); }

  // Called for every membership event as it happens (observer, event).
  void on_event(std::function<void(int64_t, const std::string&, const gossip::Event&)> callback) {
    event_callback_ = std::move(callback);
  }

  void run_for(int64_t duration_ms);
  // Runs until `done()` (checked every 10 ms) or `limit_ms` passes; returns whether it became
  // true.
  template <typename Condition>
  bool run_until(Condition done, int64_t limit_ms) {
    const int64_t end = now_ms_ + limit_ms;
    while (now_ms_ < end) {
      if (now_ms_ % kTickMs == 0 && done()) return true;
      step();
    }
    return done();
  }

  int64_t now_ms() const { return now_ms_; }
  gossip::Gossip& node(const std::string& name) { return *nodes_.at(index_.at(name)).gossip; }
  bool running(const std::string& name) const { return nodes_.at(index_.at(name)).running; }
  std::vector<std::string> names() const;
  const GossipTraffic& traffic(const std::string& name) const {
    return nodes_.at(index_.at(name)).traffic;
  }
  // Summed over every node ever started.
  GossipTraffic total_traffic() const;

  // What `observer` believes about `member` (nullopt if unknown).
  std::optional<gossip::Member> view(const std::string& observer, const std::string& member);
  // Every running node sees every name in `members` alive.
  bool all_see_alive(const std::vector<std::string>& members);

  const std::vector<GossipEventRecord>& events() const { return events_; }
  std::string transcript() const;
  uint64_t packets_delivered() const { return packets_delivered_; }

 private:
  struct Node {
    std::string name;
    std::unique_ptr<gossip::Gossip> gossip;
    bool running = false;
    int64_t tick_phase_ms = 0;  // ticks when now % kTickMs == phase
    int64_t max_processing_delay_ms = 0;
    int64_t last_read_ms = 0;   // when the latest packet sent to it will be read
    GossipTraffic traffic;
  };
  struct InFlight {
    int64_t deliver_at_ms;
    uint64_t order;
    size_t from;
    size_t to;
    gossip::Packet packet;
    bool over_tcp = false;  // a TcpSync: never lost (TCP retransmits), only cut off
    bool operator>(const InFlight& other) const {
      return deliver_at_ms != other.deliver_at_ms ? deliver_at_ms > other.deliver_at_ms
                                                  : order > other.order;
    }
  };

  void step();
  void collect(size_t index);
  // Queues `packet` from node `from` to node `to` (a datagram, or a TcpSync over_tcp).
  void send(size_t from, size_t to, gossip::Packet packet, bool over_tcp);
  bool connected(const std::string& a, const std::string& b) const;

  gossip::Options base_;
  Config config_;
  Prng prng_;
  int64_t now_ms_ = 0;
  double loss_ = 0.0;
  uint64_t next_order_ = 0;
  uint64_t packets_delivered_ = 0;
  std::vector<Node> nodes_;
  std::map<std::string, size_t> index_;          // by name
  std::map<std::string, size_t> by_address_;
  std::vector<std::vector<size_t>> by_phase_;    // node indices per tick phase
  std::set<std::string> isolated_;
  std::map<std::string, int> group_of_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> in_flight_;
  std::vector<GossipEventRecord> events_;
  std::function<void(int64_t, const std::string&, const gossip::Event&)> event_callback_;
};

}  // namespace conclave::sim
