#include "crypto/replay_window.h"

namespace conclave::crypto {

ReplayWindow::ReplayWindow(int64_t window_ms, size_t max_remembered)
    : window_ms_(window_ms), max_remembered_(max_remembered) {}

void ReplayWindow::forget_expired(int64_t now_ms) {
  // A message sent before now - window is refused by its time alone: its nonce may go.
  while (!by_sent_at_.empty() && by_sent_at_.begin()->first < now_ms - window_ms_) {
    seen_.erase(by_sent_at_.begin()->second);
    by_sent_at_.erase(by_sent_at_.begin());
  }
}

ReplayWindow::Verdict ReplayWindow::check(const Nonce& nonce, int64_t sent_at_ms,
                                          int64_t now_ms) {
  forget_expired(now_ms);
  if (sent_at_ms < now_ms - window_ms_ || sent_at_ms <= floor_ms_) return Verdict::too_old;
  if (sent_at_ms > now_ms + window_ms_) return Verdict::too_new;
  if (!seen_.insert(nonce).second) return Verdict::replayed;
  by_sent_at_.emplace(sent_at_ms, nonce);
  while (seen_.size() > max_remembered_) {
    auto oldest = by_sent_at_.begin();
    floor_ms_ = std::max(floor_ms_, oldest->first);
    seen_.erase(oldest->second);
    by_sent_at_.erase(oldest);
  }
  return Verdict::fresh;
}

const char* verdict_name(ReplayWindow::Verdict verdict) {
  switch (verdict) {
    case ReplayWindow::Verdict::fresh: return "fresh";
    case ReplayWindow::Verdict::replayed: return "replayed";
    case ReplayWindow::Verdict::too_old: return "sent too long ago (or clocks differ)";
    case ReplayWindow::Verdict::too_new: return "sent in the future (clocks differ)";
  }
  return "unknown";
}

}  // namespace conclave::crypto
