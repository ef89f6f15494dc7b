#include "sim/gossip_cluster.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace conclave::sim {

const char* gossip_event_name(gossip::EventType type) {
  switch (type) {
    case gossip::EventType::joined: return "joined";
    case gossip::EventType::updated: return "updated";
    case gossip::EventType::suspected: return "suspected";
    case gossip::EventType::failed: return "failed";
    case gossip::EventType::left: return "left";
    case gossip::EventType::reaped: return "reaped";
  }
  return "unknown";
}

GossipCluster::GossipCluster(uint64_t seed, gossip::Options base_options)
    : GossipCluster(seed, std::move(base_options), Config{}) {}

GossipCluster::GossipCluster(uint64_t seed, gossip::Options base_options, Config config)
    : base_(std::move(base_options)), config_(std::move(config)), prng_(seed),
      by_phase_(kTickMs) {
  if (!config_.packet_bytes) {
    config_.packet_bytes = [](const gossip::Packet& packet) {
      return gossip::packet_size_bound(packet);
    };
  }
}

gossip::Gossip& GossipCluster::start(const std::string& name, uint64_t seed,
                                     const std::vector<std::string>& seeds,
                                     uint64_t initial_incarnation) {
  gossip::Options options = base_;
  options.name = name;
  options.address = address_of(name);
  options.metadata = "client " + name + ":8300";
  options.initial_incarnation = initial_incarnation;
  auto found = index_.find(name);
  size_t index = 0;
  if (found == index_.end()) {
    index = nodes_.size();
    nodes_.emplace_back();
    nodes_[index].name = name;
    nodes_[index].tick_phase_ms = prng_.between(0, kTickMs - 1);
    by_phase_[static_cast<size_t>(nodes_[index].tick_phase_ms)].push_back(index);
    index_[name] = index;
    by_address_[options.address] = index;
  } else {
    index = found->second;
  }
  Node& node = nodes_[index];
  node.gossip = std::make_unique<gossip::Gossip>(options, seed, now_ms_);
  node.running = true;
  node.gossip->join(seeds, now_ms_);
  collect(index);
  return *node.gossip;
}

void GossipCluster::crash(const std::string& name) {
  nodes_.at(index_.at(name)).running = false;
}

void GossipCluster::set_processing_delay(const std::string& name, int64_t max_delay_ms) {
  nodes_.at(index_.at(name)).max_processing_delay_ms = max_delay_ms;
}

void GossipCluster::partition(const std::vector<std::set<std::string>>& groups) {
  group_of_.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    for (const auto& name : groups[i]) group_of_[name] = static_cast<int>(i);
  }
}

bool GossipCluster::connected(const std::string& a, const std::string& b) const {
  if (!isolated_.empty() && (isolated_.count(a) || isolated_.count(b))) return false;
  if (group_of_.empty()) return true;
  auto ga = group_of_.find(a);
  auto gb = group_of_.find(b);
  return ga != group_of_.end() && gb != group_of_.end() && ga->second == gb->second;
}

void GossipCluster::collect(size_t index) {
  Node& node = nodes_[index];
  for (auto& event : node.gossip->take_events()) {
    if (event_callback_) event_callback_(now_ms_, node.name, event);
    if (config_.record_events) {
      events_.push_back(GossipEventRecord{now_ms_, node.name, event.type, event.member.name,
                                          event.member.incarnation});
    }
  }
  node.gossip->take_conflicts();
  for (auto& out : node.gossip->take_outgoing()) {
    ++node.traffic.packets_sent;
    node.traffic.bytes_sent += config_.packet_bytes(out.packet);
    auto to = by_address_.find(out.to_address);
    if (to == by_address_.end()) continue;
    if (loss_ > 0 && prng_.chance(loss_)) continue;
    send(index, to->second, std::move(out.packet), false);
  }
  for (auto& sync : node.gossip->take_tcp_syncs()) {
    ++node.traffic.packets_sent;
    node.traffic.bytes_sent += config_.packet_bytes(sync.packet);
    auto to = index_.find(sync.target);
    if (to == index_.end()) continue;
    send(index, to->second, std::move(sync.packet), true);
  }
}

void GossipCluster::send(size_t from, size_t to, gossip::Packet packet, bool over_tcp) {
  int64_t deliver_at_ms =
      now_ms_ + prng_.between(config_.min_latency_ms, config_.max_latency_ms);
  Node& receiver = nodes_[to];
  if (receiver.max_processing_delay_ms > 0) {
    // A starved receiver reads it late, and never before what it received earlier.
    deliver_at_ms = std::max(receiver.last_read_ms,
                             deliver_at_ms +
                                 prng_.between(0, receiver.max_processing_delay_ms));
    receiver.last_read_ms = deliver_at_ms;
  }
  in_flight_.push(InFlight{deliver_at_ms, next_order_++, from, to, std::move(packet), over_tcp});
}

void GossipCluster::step() {
  ++now_ms_;
  while (!in_flight_.empty() && in_flight_.top().deliver_at_ms <= now_ms_) {
    InFlight packet = in_flight_.top();
    in_flight_.pop();
    Node& to = nodes_[packet.to];
    // Connectivity is judged at delivery, so a cut also loses what was in flight.
    if (!to.running || !connected(nodes_[packet.from].name, to.name)) continue;
    ++packets_delivered_;
    if (packet.over_tcp) {
      to.gossip->step_tcp(packet.packet, now_ms_);
    } else {
      to.gossip->step(address_of(nodes_[packet.from].name), packet.packet, now_ms_);
    }
    collect(packet.to);
  }
  for (size_t index : by_phase_[static_cast<size_t>(now_ms_ % kTickMs)]) {
    Node& node = nodes_[index];
    if (!node.running) continue;
    node.gossip->tick(now_ms_);
    collect(index);
  }
}

void GossipCluster::run_for(int64_t duration_ms) {
  const int64_t end = now_ms_ + duration_ms;
  while (now_ms_ < end) step();
}

GossipTraffic GossipCluster::total_traffic() const {
  GossipTraffic total;
  for (const Node& node : nodes_) {
    total.packets_sent += node.traffic.packets_sent;
    total.bytes_sent += node.traffic.bytes_sent;
  }
  return total;
}

std::vector<std::string> GossipCluster::names() const {
  std::vector<std::string> result;
  for (const auto& [name, index] : index_) result.push_back(name);
  return result;
}

std::optional<gossip::Member> GossipCluster::view(const std::string& observer,
                                                  const std::string& member) {
  for (auto& m : node(observer).members()) {
    if (m.name == member) return m;
  }
  return std::nullopt;
}

bool GossipCluster::all_see_alive(const std::vector<std::string>& members) {
  for (const Node& node : nodes_) {
    if (!node.running) continue;
    for (const auto& member : members) {
      auto m = view(node.name, member);
      if (!m || m->state != gossip::MemberState::alive) return false;
    }
  }
  return true;
}

std::string GossipCluster::transcript() const {
  std::string text;
  char line[256];
  for (const auto& e : events_) {
    std::snprintf(line, sizeof line, "%lld %s %s %s %llu\n", static_cast<long long>(e.at_ms),
                  e.observer.c_str(), gossip_event_name(e.type), e.member.c_str(),
                  static_cast<unsigned long long>(e.incarnation));
    text += line;
  }
  return text;
}

}  // namespace conclave::sim
