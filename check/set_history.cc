#include "check/set_history.h"

#include <set>

namespace conclave::check {

SetVerdict check_set(const std::vector<SetAdd>& adds, const std::vector<std::string>& final_read) {
  SetVerdict verdict;
  const std::set<std::string> present(final_read.begin(), final_read.end());
  std::set<std::string> attempted;
  for (const SetAdd& add : adds) {
    attempted.insert(add.element);
    const bool found = present.count(add.element) != 0;
    if (add.acknowledged) {
      ++verdict.acknowledged;
      if (!found) verdict.lost.push_back(add.element);
    } else {
      ++verdict.unknown;
      if (found) ++verdict.unknown_present;
    }
  }
  for (const std::string& element : present) {
    if (attempted.count(element) == 0) verdict.unexpected.push_back(element);
  }
  verdict.ok = verdict.lost.empty() && verdict.unexpected.empty();
  return verdict;
}

}  // namespace conclave::check
