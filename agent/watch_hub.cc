#include "agent/watch_hub.h"

#include <algorithm>

#include "common/check.h"
#include "state_machine/kv_history.h"

namespace conclave::agent {
namespace {

uint64_t revision_of(const wire::KvEvent& event) { return event.entry.mod_revision; }

size_t bytes_of(const wire::KvEvent& event) {
  return event.entry.key.size() + event.entry.value.size();
}

}  // namespace

size_t WatchHub::waiter_count() const {
  size_t count = 0;
  for (const auto& [key, stream] : streams_) count += stream.waiters.size();
  return count;
}

bool WatchHub::on_request(uint64_t connection_id, const wire::ClientRequest& request,
                          int64_t now_ms, Requester& requester) {
  const auto& watch = std::get<wire::KvWatchRequest>(request.body);
  const StreamKey key{watch.key, watch.prefix};
  auto it = streams_.find(key);
  // A poll that will not wait is the leader's to answer: only it knows the current revision.
  if (watch.wait_ms == 0 || waiter_count() >= kMaxWaiters ||
      (it == streams_.end() && streams_.size() >= kMaxStreams)) {
    ++counters_.forwarded_alone;
    return false;
  }
  if (it == streams_.end()) {
    Stream stream;
    if (watch.from_revision > 0) {
      stream.known = true;
      stream.covered_from = watch.from_revision;
      stream.covered_through = watch.from_revision - 1;
    }
    it = streams_.emplace(key, std::move(stream)).first;
    poll_upstream(key, it->second, now_ms, requester);
  }
  Stream& stream = it->second;
  Waiter waiter{connection_id, request.request_id, watch.from_revision, watch.max_events,
                now_ms + watch.wait_ms};
  if (stream.known) {
    // "From the next change" means after what the stream has seen when asked.
    if (waiter.from_revision == 0) waiter.from_revision = stream.covered_through + 1;
    if (waiter.from_revision < stream.covered_from) {
      ++counters_.forwarded_alone;
      return false;
    }
  } else if (waiter.from_revision != 0) {
    // The stream does not know yet where it starts (its first answer is on the way).
    ++counters_.forwarded_alone;
    return false;
  }
  stream.last_asked_ms = now_ms;
  if (stream.known && try_answer(stream, waiter, false)) return true;
  stream.waiters.push_back(waiter);
  return true;
}

void WatchHub::poll_upstream(const StreamKey& key, Stream& stream, int64_t now_ms,
                             Requester& requester) {
  CONCLAVE_CHECK(stream.upstream_token == 0, "a stream polls upstream once at a time");
  const uint64_t token = next_token_++;
  wire::ClientRequest request;
  request.request_id = token;
  request.timeout_ms = kUpstreamTimeoutMs;
  // Until the stream knows where it stands, ask without waiting: its first watchers wait for
  // the current revision, not for the next change.
  request.body = wire::KvWatchRequest{key.first, key.second,
                                      stream.known ? stream.covered_through + 1 : 0,
                                      stream.known ? kUpstreamWaitMs : 0, wire::kMaxWatchEvents};
  stream.upstream_token = token;
  stream.retry_at_ms = -1;
  by_token_[token] = key;
  ++counters_.upstream_polls;
  requester.submit(ReplyTo{kWatchHubConnection, token}, std::move(request),
                   now_ms + kUpstreamTimeoutMs, now_ms);
}

bool WatchHub::try_answer(const Stream& stream, const Waiter& waiter, bool force) {
  CONCLAVE_CHECK(stream.known && waiter.from_revision >= stream.covered_from,
                 "a waiter is answered only from what its stream covers");
  const size_t max_events =
      waiter.max_events == 0 ? wire::kDefaultWatchEvents
                             : std::min<size_t>(waiter.max_events, wire::kMaxWatchEvents);
  wire::KvWatchResponse answer;
  answer.oldest_revision = stream.oldest_revision;
  answer.watch_revision = std::max(stream.covered_through, waiter.from_revision - 1);
  auto it = std::lower_bound(stream.events.begin(), stream.events.end(), waiter.from_revision,
                             [](const wire::KvEvent& event, uint64_t revision) {
                               return revision_of(event) < revision;
                             });
  size_t answer_bytes = 0;
  while (it != stream.events.end()) {
    // Whole revisions, as the leader answers (state/kv_history.cc).
    const uint64_t revision = revision_of(*it);
    auto end = it;
    size_t bytes = 0;
    for (; end != stream.events.end() && revision_of(*end) == revision; ++end) {
      bytes += bytes_of(*end);
    }
    const size_t count = static_cast<size_t>(end - it);
    if (!answer.events.empty() && (answer.events.size() + count > max_events ||
                                   answer_bytes + bytes > state::kMaxWatchAnswerBytes)) {
      answer.watch_revision = revision - 1;
      break;
    }
    answer.events.insert(answer.events.end(), it, end);
    answer_bytes += bytes;
    it = end;
  }
  if (answer.events.empty() && !force) return false;
  ++counters_.answered_locally;
  replies_.push_back(LocalClientReply{
      waiter.connection_id,
      wire::ClientResponse{waiter.request_id, ErrorCode::ok, "", false, std::move(answer)}});
  return true;
}

void WatchHub::reply_error(const Waiter& waiter, const Error& error) {
  replies_.push_back(LocalClientReply{
      waiter.connection_id, wire::ClientResponse{waiter.request_id, error.code, error.message,
                                                 false, std::monostate{}}});
}

void WatchHub::append(Stream& stream, wire::KvWatchResponse answer) {
  if (!stream.known) {
    // The first answer to a "from the next change" poll: it covers from its first change (or,
    // with none, from the revision after the one it looked up to).
    stream.known = true;
    stream.covered_from =
        answer.events.empty() ? answer.watch_revision + 1 : revision_of(answer.events.front());
    stream.covered_through = stream.covered_from - 1;
    for (Waiter& waiter : stream.waiters) {
      if (waiter.from_revision == 0) waiter.from_revision = stream.covered_from;
    }
  }
  for (wire::KvEvent& event : answer.events) {
    CONCLAVE_CHECK(revision_of(event) > stream.covered_through,
                   "an upstream answer holds only changes after what the stream covered");
    stream.buffered_bytes += bytes_of(event);
    stream.events.push_back(std::move(event));
  }
  stream.covered_through = std::max(stream.covered_through, answer.watch_revision);
  stream.oldest_revision = answer.oldest_revision;
}

void WatchHub::on_answer(const Requester::Answer& answer, int64_t now_ms, Requester& requester) {
  auto token = by_token_.find(answer.reply_to.request_id);
  if (token == by_token_.end()) return;
  const StreamKey key = token->second;
  by_token_.erase(token);
  auto it = streams_.find(key);
  if (it == streams_.end() || it->second.upstream_token != answer.reply_to.request_id) return;
  Stream& stream = it->second;
  stream.upstream_token = 0;
  const wire::ClientResponse& response = answer.response;
  const auto* body = std::get_if<wire::KvWatchResponse>(&response.body);
  if (response.error_code == ErrorCode::ok && body != nullptr) {
    append(stream, *body);
    stream.problem.reset();
    std::erase_if(stream.waiters,
                  [&](const Waiter& waiter) { return try_answer(stream, waiter, false); });
    // Bound the buffer only after serving: a parked watcher is never left behind it. The
    // newest revision always stays, however large (one transaction's changes).
    while ((stream.events.size() > kMaxBufferedEvents ||
            stream.buffered_bytes > kMaxBufferedBytes) &&
           revision_of(stream.events.front()) != revision_of(stream.events.back())) {
      const uint64_t revision = revision_of(stream.events.front());
      while (revision_of(stream.events.front()) == revision) {
        stream.buffered_bytes -= bytes_of(stream.events.front());
        stream.events.pop_front();
      }
      stream.covered_from = revision + 1;
      ++counters_.buffer_revisions_dropped;
    }
    poll_upstream(key, stream, now_ms, requester);
    return;
  }
  const Error error{response.error_code == ErrorCode::ok ? ErrorCode::internal
                                                         : response.error_code,
                    response.error_code == ErrorCode::ok
                        ? std::string("the leader answered a watch with something else")
                        : response.error_message};
  if (error.code == ErrorCode::not_found || error.code == ErrorCode::invalid_argument ||
      error.code == ErrorCode::too_large) {
    // The stream itself cannot go on: every watcher starts again on its own terms.
    for (const Waiter& waiter : stream.waiters) reply_error(waiter, error);
    streams_.erase(it);
    return;
  }
  stream.problem = error;
  stream.retry_at_ms = now_ms + kRetryAfterMs;
}

void WatchHub::connection_closed(uint64_t connection_id) {
  for (auto& [key, stream] : streams_) {
    std::erase_if(stream.waiters,
                  [&](const Waiter& waiter) { return waiter.connection_id == connection_id; });
  }
}

void WatchHub::tick(int64_t now_ms, Requester& requester) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = it->second;
    std::erase_if(stream.waiters, [&](const Waiter& waiter) {
      if (waiter.answer_by_ms > now_ms) return false;
      if (stream.problem) {
        reply_error(waiter, *stream.problem);
      } else if (!stream.known) {
        reply_error(waiter, Error{ErrorCode::timed_out,
                                  "the watch had no answer from the leader within its wait"});
      } else {
        try_answer(stream, waiter, true);
      }
      return true;
    });
    if (stream.retry_at_ms >= 0 && now_ms >= stream.retry_at_ms) {
      poll_upstream(it->first, stream, now_ms, requester);
    }
    if (stream.waiters.empty() && now_ms - stream.last_asked_ms >= kIdleCloseMs) {
      if (stream.upstream_token != 0) {
        requester.abandon(ReplyTo{kWatchHubConnection, stream.upstream_token});
        by_token_.erase(stream.upstream_token);
      }
      it = streams_.erase(it);
      continue;
    }
    ++it;
  }
}

}  // namespace conclave::agent
