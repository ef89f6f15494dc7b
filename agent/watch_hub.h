// WatchHub: one upstream watch per watched key or prefix, shared by every local watcher of it.
//
// A local client's `kv watch` is a series of long polls (wire::KvWatchRequest), each from the
// revision after the last one it saw. Sent to the leader one by one, N local watchers of the
// same prefix cost the leader N parked watches and the network N copies of each change. The hub
// keeps one stream per (key, prefix) instead: a long poll of its own to the leader, from the
// revision after the last it saw, and a buffer of the matching changes it brought back. A local
// watcher is answered from the buffer:
//
//   stream covers [covered_from, covered_through]: every matching change in it is buffered
//   from <  covered_from          -> not the hub's: the caller forwards it on its own (catch-up
//                                    from the leader's longer history; see below)
//   from in the covered range     -> answered at once with the buffered changes from `from` on
//   from == covered_through + 1   -> parked until the stream brings a change (or its wait ends:
//      (or later, or 0 = "next")     then an empty answer saying how far the stream looked)
//
// The same guarantees as a watch served by the leader: changes in revision order, each once,
// whole revisions (a transaction's changes together), and `watch_revision` means every change
// up to it was looked at. The stream's first poll is from the first watcher's revision (0:
// "from the next change", asked with no wait so the stream learns the current revision at once).
//
// Bounds: at most kMaxStreams streams and kMaxWaiters parked watchers (beyond them, watches are
// forwarded on their own, as without a hub); each buffer keeps the newest kMaxBufferedEvents /
// kMaxBufferedBytes of changes, dropping whole revisions from the front (covered_from moves
// up). A watcher that falls behind the buffer is forwarded on its own and catches up from the
// leader's history (state/kv_history.h); one that falls behind that history too is told so by
// the leader (not_found naming the oldest revision), which the client library turns into a
// "fell behind, resume from revision N" event (client/kv_watch.h). A stream nobody asked for
// in kIdleCloseMs is closed.
//
// Upstream failures: "no longer kept" (the stream itself fell behind the leader's history, say
// after a failover to a freshly restarted server) is passed to every parked watcher and the
// stream is closed, so each starts again on its own terms. Other errors (no leader, timeouts)
// are retried after kRetryAfterMs; a watcher whose wait ends meanwhile gets that error, so a
// watch on a cluster without a leader says so instead of looking merely quiet.
//
// Pure: no I/O, time passed in. Upstream polls go through the Requester with ReplyTo
// {kWatchHubConnection, token}; Node hands their answers back through on_answer.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/local_sessions.h"
#include "agent/requester.h"
#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::agent {

// The Requester connection id of the hub's upstream polls (no client connection has it).
constexpr uint64_t kWatchHubConnection = std::numeric_limits<uint64_t>::max();

struct WatchHubCounters {
  uint64_t upstream_polls = 0;      // long polls sent to the leader
  uint64_t answered_locally = 0;    // local watch polls answered from a stream
  uint64_t forwarded_alone = 0;     // local polls the hub could not serve (forwarded as before)
  uint64_t buffer_revisions_dropped = 0;
};

class WatchHub {
 public:
  static constexpr size_t kMaxStreams = 256;
  static constexpr size_t kMaxWaiters = 10'000;
  static constexpr size_t kMaxBufferedEvents = 10'000;
  static constexpr size_t kMaxBufferedBytes = 8 * 1024 * 1024;
  static constexpr uint32_t kUpstreamWaitMs = 10'000;
  static constexpr uint32_t kUpstreamTimeoutMs = kUpstreamWaitMs + 5'000;
  static constexpr int64_t kRetryAfterMs = 200;
  static constexpr int64_t kIdleCloseMs = 30'000;

  // A local watch poll (request.body is a validated KvWatchRequest; request.timeout_ms is its
  // bounded timeout). True: the hub answers it (through take_replies). False: it cannot (from
  // a revision before what its stream covers, or a limit), and the caller forwards it alone.
  bool on_request(uint64_t connection_id, const wire::ClientRequest& request, int64_t now_ms,
                  Requester& requester);
  // The answer to an upstream poll (reply_to.connection_id == kWatchHubConnection).
  void on_answer(const Requester::Answer& answer, int64_t now_ms, Requester& requester);
  void connection_closed(uint64_t connection_id);
  // Ends waits that are up, retries failed upstream polls, closes idle streams.
  void tick(int64_t now_ms, Requester& requester);

  std::vector<LocalClientReply> take_replies() { return std::exchange(replies_, {}); }
  size_t stream_count() const { return streams_.size(); }
  size_t waiter_count() const;
  const WatchHubCounters& counters() const { return counters_; }

 private:
  struct Waiter {
    uint64_t connection_id = 0;
    uint64_t request_id = 0;
    uint64_t from_revision = 0;  // 0: the next change after what the stream has seen
    uint32_t max_events = 0;
    int64_t answer_by_ms = 0;
  };
  using StreamKey = std::pair<std::string, bool>;  // (key, prefix)
  struct Stream {
    bool known = false;            // covered_* are set (the first answer came, or a from was given)
    uint64_t covered_from = 0;
    uint64_t covered_through = 0;  // covered_from - 1 before anything was covered
    uint64_t oldest_revision = 0;  // the leader's, from its last answer
    std::deque<wire::KvEvent> events;  // matching changes in [covered_from, covered_through]
    size_t buffered_bytes = 0;
    uint64_t upstream_token = 0;   // the poll in flight (0: none)
    int64_t retry_at_ms = -1;      // when to poll again after an error (-1: not waiting)
    std::optional<Error> problem;  // the last upstream error, until a poll succeeds
    int64_t last_asked_ms = 0;
    std::vector<Waiter> waiters;
  };

  void poll_upstream(const StreamKey& key, Stream& stream, int64_t now_ms, Requester& requester);
  // Answers `waiter` from the buffer if it holds a change for it (or `force`: with what there is).
  bool try_answer(const Stream& stream, const Waiter& waiter, bool force);
  void append(Stream& stream, wire::KvWatchResponse answer);
  void reply_error(const Waiter& waiter, const Error& error);

  std::map<StreamKey, Stream> streams_;
  std::map<uint64_t, StreamKey> by_token_;  // upstream polls in flight
  uint64_t next_token_ = 1;
  std::vector<LocalClientReply> replies_;
  WatchHubCounters counters_;
};

}  // namespace conclave::agent
