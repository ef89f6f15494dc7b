#include "client/kv_watch.h"

#include <algorithm>
#include <utility>

namespace conclave::client {

KvWatch::KvWatch(wire::KvWatchRequest start) : request_(std::move(start)) {
  if (request_.wait_ms == 0) request_.wait_ms = kWaitMs;
}

Result<KvWatchStep> KvWatch::next(Client& client) {
  const uint32_t timeout_ms = std::max(kTimeoutMs, request_.wait_ms + 5'000);
  return next([&](const wire::KvWatchRequest& request) {
    return client.kv_watch(request, timeout_ms);
  });
}

Result<KvWatchStep> KvWatch::next(const Poll& poll) {
  Result<wire::KvWatchResponse> answer = poll(request_);
  if (answer.ok()) {
    answered_once_ = true;
    request_.from_revision = answer.value().watch_revision + 1;
    return KvWatchStep{std::move(answer).value().events, std::nullopt};
  }
  if (answer.error().code != ErrorCode::not_found || !answered_once_) return answer.error();
  // A running watch asked for changes the history no longer holds. Ask (without waiting)
  // where it starts now, and go on from there.
  wire::KvWatchRequest probe{request_.key, request_.prefix, 0, 0, 1};
  Result<wire::KvWatchResponse> now = poll(probe);
  if (!now.ok()) return now.error();
  // (Asked of another server after a failover, the history may reach back again: then there
  // is nothing to report, and the next poll goes on as before.)
  if (now.value().oldest_revision <= request_.from_revision) return KvWatchStep{};
  FellBehind behind{request_.from_revision, now.value().oldest_revision};
  request_.from_revision = behind.resume_revision;
  return KvWatchStep{{}, behind};
}

}  // namespace conclave::client
