// ReplayWindow: refuses a sealed message it has accepted before, or one sent too long ago (or
// too far in the future) to judge. A sealed gossip datagram carries its sender's wall-clock
// send time and a random nonce (crypto/datagram_seal.h): within window_ms of now the nonce is
// remembered, so a copy is refused; outside it the message is refused whatever it carries.
// So agents' clocks must agree within window_ms (NTP does far better); a refusal for the time
// says by how much they differ.
//
// Bounded: at most max_remembered nonces. When full, the nonce closest to expiring is
// forgotten and, so that it cannot be replayed, every message sent at or before its time is
// refused from then on (`floor`): a flood can cost packets, never let a replay through.
//
// Pure: time passed in.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

#include "crypto/datagram_seal.h"

namespace conclave::crypto {

class ReplayWindow {
 public:
  static constexpr int64_t kDefaultWindowMs = 60'000;
  static constexpr size_t kDefaultMaxRemembered = 100'000;

  explicit ReplayWindow(int64_t window_ms = kDefaultWindowMs,
                        size_t max_remembered = kDefaultMaxRemembered);

  enum class Verdict : uint8_t { fresh, replayed, too_old, too_new };
  // Accepts (and remembers) a message sent at sent_at_ms with `nonce`, or says why not.
  Verdict check(const Nonce& nonce, int64_t sent_at_ms, int64_t now_ms);

  size_t remembered() const { return seen_.size(); }

 private:
  void forget_expired(int64_t now_ms);

  int64_t window_ms_;
  size_t max_remembered_;
  std::set<Nonce> seen_;
  std::multimap<int64_t, Nonce> by_sent_at_;
  int64_t floor_ms_ = INT64_MIN;  // messages sent at or before this are refused
};

const char* verdict_name(ReplayWindow::Verdict verdict);

}  // namespace conclave::crypto
