// A small simulated network for gossip scenario tests: virtual time in 10 ms steps, packets
// delivered after a seeded random delay, optional seeded loss, isolation and partitions.
// Nodes are addressed "name:7946". Everything is driven by one seed, so a run replays exactly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/prng.h"
#include "gossip/gossip.h"

namespace conclave::gossip::test {

struct EventRecord {
  int64_t at_ms;
  std::string observer;
  EventType type;
  std::string member;
  uint64_t incarnation;
};

const char* event_type_name(EventType type);

class SimNetwork {
 public:
  static constexpr int64_t kStepMs = 10;

  SimNetwork(uint64_t seed, Options base_options);

  static std::string address_of(const std::string& name) { return name + ":7946"; }

  // Starts (or restarts, replacing the old object) node `name` and has it join `seeds`.
  Gossip& start(const std::string& name, uint64_t seed, const std::vector<std::string>& seeds);
  // Crash: the node no longer ticks or receives; packets to it are lost.
  void crash(const std::string& name);

  void set_loss(double probability) { loss_ = probability; }
  // An isolated node can neither send nor receive.
  void isolate(const std::string& name) { isolated_.insert(name); }
  void reconnect(const std::string& name) { isolated_.erase(name); }
  // Packets cross between groups only when both ends are in the same group.
  void partition(const std::vector<std::set<std::string>>& groups);
  void heal() { group_of_.clear(); }

  void run_for(int64_t duration_ms);
  // Runs until `done()` or `limit_ms` passes; returns whether it became true.
  template <typename Condition>
  bool run_until(Condition done, int64_t limit_ms) {
    const int64_t end = now_ms_ + limit_ms;
    while (now_ms_ < end) {
      if (done()) return true;
      step();
    }
    return done();
  }

  int64_t now_ms() const { return now_ms_; }
  Gossip& node(const std::string& name) { return *nodes_.at(name).gossip; }
  bool running(const std::string& name) const { return nodes_.at(name).running; }
  std::vector<std::string> names() const;

  // What `observer` believes about `member` (nullopt if unknown).
  std::optional<Member> view(const std::string& observer, const std::string& member);
  // Every running node sees every name in `members` alive.
  bool all_see_alive(const std::vector<std::string>& members);

  const std::vector<EventRecord>& events() const { return events_; }
  std::string transcript() const;
  uint64_t packets_delivered() const { return packets_delivered_; }

 private:
  struct Node {
    std::unique_ptr<Gossip> gossip;
    bool running = false;
  };
  struct InFlight {
    int64_t deliver_at_ms;
    uint64_t order;
    std::string from_address;
    std::string to_name;
    Packet packet;
  };

  void step();
  void collect(const std::string& name);
  bool connected(const std::string& a, const std::string& b) const;

  Options base_;
  Prng prng_;
  int64_t now_ms_ = 0;
  double loss_ = 0.0;
  uint64_t next_order_ = 0;
  uint64_t packets_delivered_ = 0;
  std::map<std::string, Node> nodes_;
  std::map<std::string, std::string> name_by_address_;
  std::set<std::string> isolated_;
  std::map<std::string, int> group_of_;
  std::vector<InFlight> in_flight_;
  std::vector<EventRecord> events_;
};

}  // namespace conclave::gossip::test
