#include "check/lock_history.h"

#include <algorithm>
#include <map>

namespace conclave::check {

namespace {

// Stops a broken run from printing thousands of lines; the first ones show the bug.
constexpr size_t kMaxViolationsReported = 10;

void report(LockHistoryVerdict& verdict, std::string sentence) {
  verdict.ok = false;
  if (verdict.violations.size() < kMaxViolationsReported) {
    verdict.violations.push_back(std::move(sentence));
  }
}

}  // namespace

int64_t LockGrant::entitled_until_ms() const {
  return gave_up_ms ? std::min(valid_until_ms, *gave_up_ms) : valid_until_ms;
}

std::string format_grant(const LockGrant& grant) {
  return "client " + std::to_string(grant.client) + " token " + std::to_string(grant.token) +
         " acquire [" + std::to_string(grant.invoke_ms) + ", " +
         std::to_string(grant.granted_ms) + "] ms, entitled until " +
         std::to_string(grant.entitled_until_ms()) + " ms" +
         (grant.context.empty() ? "" : " (" + grant.context + ")");
}

LockHistoryVerdict check_lock_history(const std::vector<LockGrant>& grants,
                                      const std::vector<FencedWrite>& accepted_writes) {
  LockHistoryVerdict verdict;
  verdict.grants = grants.size();
  verdict.fenced_writes = accepted_writes.size();

  // 1. Unique tokens.
  std::map<uint64_t, const LockGrant*> by_token;
  for (const LockGrant& grant : grants) {
    auto [at, inserted] = by_token.emplace(grant.token, &grant);
    if (!inserted) {
      report(verdict, "token granted twice: " + format_grant(*at->second) + "; " +
                          format_grant(grant));
    }
  }

  // 2. Real-time order. In token order, every grant must not have been answered before an
  // earlier-token grant was invoked: walk by token and keep the latest invoke seen so far.
  std::vector<const LockGrant*> ordered;
  for (const auto& [token, grant] : by_token) ordered.push_back(grant);
  const LockGrant* latest_invoked = nullptr;
  for (const LockGrant* grant : ordered) {
    if (latest_invoked != nullptr &&
        grant->granted_ms + kClockSlackMs < latest_invoked->invoke_ms) {
      report(verdict, "tokens out of real-time order: " + format_grant(*grant) +
                          " was answered before " + format_grant(*latest_invoked) +
                          " was invoked, yet has the larger token");
    }
    if (latest_invoked == nullptr || grant->invoke_ms > latest_invoked->invoke_ms) {
      latest_invoked = grant;
    }
  }

  // 3. Exclusion: entitlement intervals [granted_ms, entitled_until_ms] must not overlap.
  std::vector<const LockGrant*> by_grant_time;
  for (const LockGrant& grant : grants) by_grant_time.push_back(&grant);
  std::sort(by_grant_time.begin(), by_grant_time.end(),
            [](const LockGrant* a, const LockGrant* b) { return a->granted_ms < b->granted_ms; });
  const LockGrant* longest = nullptr;  // the earlier grant whose entitlement ends last
  for (const LockGrant* grant : by_grant_time) {
    if (longest != nullptr &&
        longest->entitled_until_ms() > grant->granted_ms + kClockSlackMs) {
      report(verdict, "two holders at once: " + format_grant(*longest) + "; but " +
                          format_grant(*grant));
    }
    if (longest == nullptr || grant->entitled_until_ms() > longest->entitled_until_ms()) {
      longest = grant;
    }
  }

  // The fenced counter's log.
  for (size_t i = 0; i < accepted_writes.size(); ++i) {
    const FencedWrite& write = accepted_writes[i];
    if (i > 0 && write.token < accepted_writes[i - 1].token) {
      report(verdict, "out-of-order fenced write: token " + std::to_string(write.token) +
                          " (client " + std::to_string(write.client) + ") accepted after token " +
                          std::to_string(accepted_writes[i - 1].token));
    }
    const int64_t expected = static_cast<int64_t>(i) + 1;
    if (write.value != expected) {
      report(verdict, "lost update at the fenced counter: accepted write " +
                          std::to_string(expected) + " (client " + std::to_string(write.client) +
                          ", token " + std::to_string(write.token) + ") wrote " +
                          std::to_string(write.value) + ", not " + std::to_string(expected));
    }
  }
  return verdict;
}

std::vector<std::string> check_fenced_register(const FencedRegisterHistory& history) {
  std::vector<std::string> violations;
  std::map<int64_t, size_t> times_written;
  int64_t largest = 0;
  for (int64_t value : history.acknowledged_values) {
    if (++times_written[value] == 2 && violations.size() < kMaxViolationsReported) {
      violations.push_back("lost update at the in-cluster fenced counter: two acknowledged "
                           "fenced writes both wrote " + std::to_string(value));
    }
    largest = std::max(largest, value);
  }
  if (history.final_value < largest) {
    violations.push_back("an acknowledged fenced write is lost: the counter ended at " +
                         std::to_string(history.final_value) + ", but " +
                         std::to_string(largest) + " was acknowledged");
  }
  const uint64_t could_apply = history.acknowledged_values.size() + history.unknown;
  if (history.final_value > static_cast<int64_t>(could_apply)) {
    violations.push_back("the in-cluster fenced counter ended at " +
                         std::to_string(history.final_value) + ", more than the " +
                         std::to_string(could_apply) + " writes that could have been applied");
  }
  return violations;
}

}  // namespace conclave::check
