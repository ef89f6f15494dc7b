#include "gossip/probe_schedule.h"

#include <algorithm>
#include <utility>

#include "common/hash.h"

namespace conclave::gossip {

namespace {

std::pair<uint64_t, std::string> ring_position(const std::string& name) {
  return {fnv1a64(name), name};
}

}  // namespace

ProbeSchedule::ProbeSchedule(std::string own_name) {
  if (!own_name.empty()) own_position_ = ring_position(own_name);
}

void ProbeSchedule::add(const std::string& name, Prng& prng) {
  if (std::find(order_.begin(), order_.end(), name) != order_.end()) return;
  const size_t index = static_cast<size_t>(prng.below(order_.size() + 1));
  order_.insert(order_.begin() + static_cast<std::ptrdiff_t>(index), name);
  ring_.insert(ring_position(name));
  // Keep pointing at the same next name: an insertion before it shifts it by one.
  if (index < position_) ++position_;
}

void ProbeSchedule::remove(const std::string& name) {
  auto it = std::find(order_.begin(), order_.end(), name);
  if (it == order_.end()) return;
  const size_t index = static_cast<size_t>(it - order_.begin());
  order_.erase(it);
  ring_.erase(ring_position(name));
  if (index < position_) --position_;
  if (urgent_ == name) urgent_.reset();
}

std::optional<std::string> ProbeSchedule::next(
    Prng& prng, const std::function<bool(const std::string&)>& eligible) {
  if (urgent_) {
    std::string name = std::move(*urgent_);
    urgent_.reset();
    if (eligible(name)) return name;
  }
  if (own_position_) {
    ring_turn_ = !ring_turn_;
    if (!ring_turn_) {  // it was the ring's turn
      if (auto successor = ring_successor(eligible)) return successor;
    }
  }
  const size_t max_steps = 2 * order_.size();
  for (size_t step = 0; step < max_steps; ++step) {
    if (position_ >= order_.size()) shuffle(prng);
    const std::string& candidate = order_[position_++];
    if (eligible(candidate)) return candidate;
  }
  return std::nullopt;
}

std::optional<std::string> ProbeSchedule::ring_successor(
    const std::function<bool(const std::string&)>& eligible) const {
  if (ring_.empty()) return std::nullopt;
  auto it = ring_.upper_bound(*own_position_);
  for (size_t step = 0; step < ring_.size(); ++step, ++it) {
    if (it == ring_.end()) it = ring_.begin();  // wrap around
    if (eligible(it->second)) return it->second;
  }
  return std::nullopt;
}

void ProbeSchedule::shuffle(Prng& prng) {
  // Fisher-Yates with the seeded generator, so a seed replays the same probe order.
  for (size_t i = order_.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(prng.below(i));
    std::swap(order_[i - 1], order_[j]);
  }
  position_ = 0;
}

}  // namespace conclave::gossip
