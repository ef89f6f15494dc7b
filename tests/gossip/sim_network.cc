#include "tests/gossip/sim_network.h"

#include <algorithm>
#include <cstdio>

namespace conclave::gossip::test {

const char* event_type_name(EventType type) {
  switch (type) {
    case EventType::joined: return "joined";
    case EventType::updated: return "updated";
    case EventType::suspected: return "suspected";
    case EventType::failed: return "failed";
    case EventType::left: return "left";
  }
  return "unknown";
}

SimNetwork::SimNetwork(uint64_t seed, Options base_options)
    : base_(std::move(base_options)), prng_(seed) {}

Gossip& SimNetwork::start(const std::string& name, uint64_t seed,
                          const std::vector<std::string>& seeds) {
  Options options = base_;
  options.name = name;
  options.address = address_of(name);
  options.metadata = "client " + name + ":8300";
  Node& node = nodes_[name];
  node.gossip = std::make_unique<Gossip>(options, seed, now_ms_);
  node.running = true;
  name_by_address_[options.address] = name;
  node.gossip->join(seeds, now_ms_);
  collect(name);
  return *node.gossip;
}

void SimNetwork::crash(const std::string& name) { nodes_.at(name).running = false; }

void SimNetwork::partition(const std::vector<std::set<std::string>>& groups) {
  group_of_.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    for (const auto& name : groups[i]) group_of_[name] = static_cast<int>(i);
  }
}

bool SimNetwork::connected(const std::string& a, const std::string& b) const {
  if (isolated_.count(a) || isolated_.count(b)) return false;
  if (group_of_.empty()) return true;
  auto ga = group_of_.find(a);
  auto gb = group_of_.find(b);
  return ga != group_of_.end() && gb != group_of_.end() && ga->second == gb->second;
}

void SimNetwork::collect(const std::string& name) {
  Node& node = nodes_.at(name);
  for (auto& event : node.gossip->take_events()) {
    events_.push_back(EventRecord{now_ms_, name, event.type, event.member.name,
                                  event.member.incarnation});
  }
  for (auto& out : node.gossip->take_outgoing()) {
    auto it = name_by_address_.find(out.to_address);
    if (it == name_by_address_.end()) continue;
    if (loss_ > 0 && prng_.chance(loss_)) continue;
    const int64_t delay_ms = prng_.between(1, 20);
    in_flight_.push_back(InFlight{now_ms_ + delay_ms, next_order_++, address_of(name),
                                  it->second, std::move(out.packet)});
  }
}

void SimNetwork::step() {
  now_ms_ += kStepMs;
  // Deliver what is due, in (time, send order) order.
  std::vector<InFlight> due;
  std::vector<InFlight> later;
  for (auto& packet : in_flight_) {
    (packet.deliver_at_ms <= now_ms_ ? due : later).push_back(std::move(packet));
  }
  in_flight_ = std::move(later);
  std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) {
    return a.deliver_at_ms != b.deliver_at_ms ? a.deliver_at_ms < b.deliver_at_ms
                                              : a.order < b.order;
  });
  for (auto& packet : due) {
    const std::string from_name = name_by_address_.at(packet.from_address);
    Node& node = nodes_.at(packet.to_name);
    // Connectivity is judged at delivery, so a cut also loses what was in flight.
    if (!node.running || !connected(from_name, packet.to_name)) continue;
    ++packets_delivered_;
    node.gossip->step(packet.from_address, packet.packet, now_ms_);
    collect(packet.to_name);
  }
  for (auto& [name, node] : nodes_) {
    if (!node.running) continue;
    node.gossip->tick(now_ms_);
    collect(name);
  }
}

void SimNetwork::run_for(int64_t duration_ms) {
  const int64_t end = now_ms_ + duration_ms;
  while (now_ms_ < end) step();
}

std::vector<std::string> SimNetwork::names() const {
  std::vector<std::string> result;
  for (const auto& [name, node] : nodes_) result.push_back(name);
  return result;
}

std::optional<Member> SimNetwork::view(const std::string& observer, const std::string& member) {
  for (auto& m : nodes_.at(observer).gossip->members()) {
    if (m.name == member) return m;
  }
  return std::nullopt;
}

bool SimNetwork::all_see_alive(const std::vector<std::string>& members) {
  for (const auto& [name, node] : nodes_) {
    if (!node.running) continue;
    for (const auto& member : members) {
      auto m = view(name, member);
      if (!m || m->state != MemberState::alive) return false;
    }
  }
  return true;
}

std::string SimNetwork::transcript() const {
  std::string text;
  char line[256];
  for (const auto& e : events_) {
    std::snprintf(line, sizeof line, "%lld %s %s %s %llu\n", static_cast<long long>(e.at_ms),
                  e.observer.c_str(), event_type_name(e.type), e.member.c_str(),
                  static_cast<unsigned long long>(e.incarnation));
    text += line;
  }
  return text;
}

}  // namespace conclave::gossip::test
