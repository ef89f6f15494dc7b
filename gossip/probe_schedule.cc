#include "gossip/probe_schedule.h"

#include <algorithm>
#include <utility>

namespace conclave::gossip {

void ProbeSchedule::add(const std::string& name, Prng& prng) {
  if (std::find(order_.begin(), order_.end(), name) != order_.end()) return;
  const size_t index = static_cast<size_t>(prng.below(order_.size() + 1));
  order_.insert(order_.begin() + static_cast<std::ptrdiff_t>(index), name);
  // Keep pointing at the same next name: an insertion before it shifts it by one.
  if (index < position_) ++position_;
}

void ProbeSchedule::remove(const std::string& name) {
  auto it = std::find(order_.begin(), order_.end(), name);
  if (it == order_.end()) return;
  const size_t index = static_cast<size_t>(it - order_.begin());
  order_.erase(it);
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
  const size_t max_steps = 2 * order_.size();
  for (size_t step = 0; step < max_steps; ++step) {
    if (position_ >= order_.size()) shuffle(prng);
    const std::string& candidate = order_[position_++];
    if (eligible(candidate)) return candidate;
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
