// Small helpers shared by the gossip unit tests that drive one node by hand.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "gossip/gossip.h"

namespace conclave::gossip::test {

inline MemberUpdate make_update(const std::string& name, uint64_t incarnation,
                                MemberState state, const std::string& address = "") {
  MemberUpdate update;
  update.name = name;
  update.address = address.empty() ? name + ":7946" : address;
  update.incarnation = incarnation;
  update.state = state;
  return update;
}

inline Options make_options(const std::string& name) {
  Options options;
  options.name = name;
  options.address = name + ":7946";
  return options;
}

template <typename T>
std::vector<T> messages_of(const std::vector<Outgoing>& outgoing) {
  std::vector<T> found;
  for (const auto& out : outgoing) {
    for (const auto& message : out.packet.messages) {
      if (auto* body = std::get_if<T>(&message)) found.push_back(*body);
    }
  }
  return found;
}

}  // namespace conclave::gossip::test
