#include "sim/history_checker.h"

#include <map>

namespace conclave::sim {
namespace {

std::string describe(const Operation& op) {
  return std::string(op.is_put ? "put" : "get") + "(" + op.key + (op.is_put ? "=" + op.value : "") +
         ") by client " + std::to_string(op.client) + " [" + std::to_string(op.invoke_ms) + ", " +
         std::to_string(op.response_ms) + "] ms, revision " + std::to_string(op.revision);
}

}  // namespace

std::vector<std::string> check_history(const std::vector<Operation>& history) {
  std::vector<std::string> violations;
  std::map<std::string, const Operation*> put_by_value;  // values are unique per put
  std::vector<const Operation*> acked_puts;
  for (const Operation& op : history) {
    if (!op.is_put) continue;
    put_by_value[op.key + "\n" + op.value] = &op;
    if (op.ok) acked_puts.push_back(&op);
  }

  // Acknowledged puts in real-time order get increasing revisions.
  for (const Operation* first : acked_puts) {
    for (const Operation* second : acked_puts) {
      if (first->response_ms < second->invoke_ms && first->revision >= second->revision) {
        violations.push_back("revision order: " + describe(*first) + " finished before " +
                             describe(*second) + " started but has a revision not below it");
      }
    }
  }

  for (const Operation& get : history) {
    if (get.is_put || !get.ok) continue;
    if (get.found) {
      auto writer = put_by_value.find(get.key + "\n" + get.value);
      if (writer == put_by_value.end()) {
        violations.push_back("phantom read: " + describe(get) + " returned '" + get.value +
                             "', which no put wrote");
        continue;
      }
      const Operation& put = *writer->second;
      if (put.invoke_ms > get.response_ms) {
        violations.push_back("read from the future: " + describe(get) + " read a value of " +
                             describe(put));
      }
      if (put.ok && put.revision != get.revision) {
        violations.push_back("revision mismatch: " + describe(get) + " read the value of " +
                             describe(put));
      }
    }
    for (const Operation* put : acked_puts) {
      if (put->key == get.key && put->response_ms < get.invoke_ms &&
          put->revision > get.revision) {
        violations.push_back("stale read: " + describe(get) + " missed " + describe(*put) +
                             ", which finished before the get started");
      }
    }
  }
  return violations;
}

}  // namespace conclave::sim
