// The WatchHub on its own: local watchers of one prefix share one upstream poll, are answered
// from its buffer in order without gaps or repeats, and everything it cannot serve (behind the
// buffer, no-wait polls) is handed back to be forwarded alone. The leader is played by hand.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "agent/watch_hub.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

wire::ClientRequest watch_request(uint64_t request_id, uint64_t from_revision,
                                  uint32_t wait_ms = 10'000, std::string key = "app/",
                                  bool prefix = true, uint32_t max_events = 0) {
  wire::ClientRequest request;
  request.request_id = request_id;
  request.timeout_ms = wait_ms + 5000;
  request.body = wire::KvWatchRequest{std::move(key), prefix, from_revision, wait_ms, max_events};
  return request;
}

wire::KvEvent put_event(const std::string& key, uint64_t revision) {
  wire::KvEvent event;
  event.entry.key = key;
  event.entry.value = "v" + std::to_string(revision);
  event.entry.mod_revision = revision;
  return event;
}

struct Fixture {
  Requester requester{RequesterOptions{}};
  WatchHub hub;
  int64_t now_ms = 0;

  Fixture() {
    requester.set_servers({"leader"});
    requester.set_leader("leader", 0);
  }

  // The upstream polls sent since the last call.
  std::vector<Requester::Send> upstream() { return requester.take_sends(); }

  // The leader answers the poll `send` with `events` and having looked up to `watch_revision`.
  void answer(const Requester::Send& send, std::vector<wire::KvEvent> events,
              uint64_t watch_revision, uint64_t oldest_revision = 1) {
    wire::ForwardResponse response;
    response.forward_id = send.forward.forward_id;
    response.leader = "leader";
    response.response.body =
        wire::KvWatchResponse{std::move(events), watch_revision, oldest_revision};
    deliver(response);
  }

  void fail(const Requester::Send& send, ErrorCode code, std::string message) {
    wire::ForwardResponse response;
    response.forward_id = send.forward.forward_id;
    response.leader = "leader";
    response.response.error_code = code;
    response.response.error_message = std::move(message);
    deliver(response);
  }

  void deliver(const wire::ForwardResponse& response) {
    requester.on_response("leader", response, now_ms);
    for (const Requester::Answer& answer : requester.take_answers()) {
      REQUIRE(answer.reply_to.connection_id == kWatchHubConnection);
      hub.on_answer(answer, now_ms, requester);
    }
  }

  void advance_to(int64_t at_ms) {
    now_ms = at_ms;
    hub.tick(now_ms, requester);
  }
};

const wire::KvWatchRequest& watch_of(const Requester::Send& send) {
  return std::get<wire::KvWatchRequest>(send.forward.request.body);
}

const wire::KvWatchResponse& body_of(const LocalClientReply& reply) {
  REQUIRE(reply.response.error_code == ErrorCode::ok);
  return std::get<wire::KvWatchResponse>(reply.response.body);
}

std::vector<uint64_t> revisions(const wire::KvWatchResponse& answer) {
  std::vector<uint64_t> out;
  for (const wire::KvEvent& event : answer.events) out.push_back(event.entry.mod_revision);
  return out;
}

}  // namespace

TEST_CASE("watch hub: watchers of one prefix share one upstream poll and each gets every change") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(2, watch_request(21, 5), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(3, watch_request(31, 5), f.now_ms, f.requester));
  auto polls = f.upstream();
  REQUIRE(polls.size() == 1);
  CHECK(watch_of(polls[0]) == wire::KvWatchRequest{"app/", true, 5, WatchHub::kUpstreamWaitMs,
                                                   wire::kMaxWatchEvents});
  CHECK(f.hub.take_replies().empty());  // parked: nothing yet
  CHECK(f.hub.waiter_count() == 3);

  f.answer(polls[0], {put_event("app/a", 6), put_event("app/b", 8)}, 9);
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 3);
  for (const LocalClientReply& reply : replies) {
    CHECK(revisions(body_of(reply)) == std::vector<uint64_t>{6, 8});
    CHECK(body_of(reply).watch_revision == 9);
  }
  // The stream polls on from 10 at once; the watchers come back from 10 and wait on it.
  polls = f.upstream();
  REQUIRE(polls.size() == 1);
  CHECK(watch_of(polls[0]).from_revision == 10);
  REQUIRE(f.hub.on_request(1, watch_request(12, 10), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(2, watch_request(22, 10), f.now_ms, f.requester));
  CHECK(f.upstream().empty());
  f.answer(polls[0], {put_event("app/a", 12)}, 12);
  replies = f.hub.take_replies();
  REQUIRE(replies.size() == 2);
  CHECK(revisions(body_of(replies[0])) == std::vector<uint64_t>{12});
  CHECK(f.hub.counters().upstream_polls == 3);  // 5.., 10.., 13..
  CHECK(f.hub.stream_count() == 1);
}

TEST_CASE("watch hub: a late watcher is answered at once from the buffer, then waits with the rest") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5), f.now_ms, f.requester));
  auto polls = f.upstream();
  f.answer(polls[0], {put_event("app/a", 6), put_event("app/b", 7), put_event("app/c", 9)}, 9);
  f.hub.take_replies();
  // Watcher 3 was slower: it asks from 7 and gets 7 and 9 straight from the buffer.
  REQUIRE(f.hub.on_request(3, watch_request(31, 7), f.now_ms, f.requester));
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].connection_id == 3);
  CHECK(revisions(body_of(replies[0])) == std::vector<uint64_t>{7, 9});
  // At most max_events per answer, stopping between revisions; it resumes where it stopped.
  REQUIRE(f.hub.on_request(4, watch_request(41, 5, 10'000, "app/", true, 2), f.now_ms,
                           f.requester));
  replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(revisions(body_of(replies[0])) == std::vector<uint64_t>{6, 7});
  CHECK(body_of(replies[0]).watch_revision == 8);  // up to the next change, 9
}

TEST_CASE("watch hub: a transaction's changes stay together in one answer") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5, 10'000, "app/", true, 2), f.now_ms,
                           f.requester));
  auto polls = f.upstream();
  f.answer(polls[0], {put_event("app/a", 6), put_event("app/b", 6), put_event("app/c", 6)}, 6);
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(revisions(body_of(replies[0])) == std::vector<uint64_t>{6, 6, 6});  // over 2, but whole
}

TEST_CASE("watch hub: a watcher from before what the stream covers is forwarded alone") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 50), f.now_ms, f.requester));
  f.upstream();
  CHECK_FALSE(f.hub.on_request(2, watch_request(21, 10), f.now_ms, f.requester));
  CHECK(f.hub.counters().forwarded_alone == 1);
  // A poll that does not wait is the leader's to answer.
  CHECK_FALSE(f.hub.on_request(3, watch_request(31, 50, 0), f.now_ms, f.requester));
  CHECK(f.hub.waiter_count() == 1);
}

TEST_CASE("watch hub: a wait that ends is answered with how far the stream looked") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5, 1000), f.now_ms, f.requester));
  auto polls = f.upstream();
  f.answer(polls[0], {}, 20);  // the leader's own wait ended: nothing matched up to 20
  CHECK(f.hub.take_replies().empty());
  f.advance_to(999);
  CHECK(f.hub.take_replies().empty());
  f.advance_to(1000);
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(body_of(replies[0]).events.empty());
  CHECK(body_of(replies[0]).watch_revision == 20);
}

TEST_CASE("watch hub: a \"from the next change\" stream learns the revision first, without waiting") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 0), f.now_ms, f.requester));
  auto polls = f.upstream();
  REQUIRE(polls.size() == 1);
  CHECK(watch_of(polls[0]).from_revision == 0);
  CHECK(watch_of(polls[0]).wait_ms == 0);
  // Until it knows, only other "from the next change" watchers can join it.
  CHECK_FALSE(f.hub.on_request(2, watch_request(21, 30), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(3, watch_request(31, 0), f.now_ms, f.requester));
  f.answer(polls[0], {}, 41);
  CHECK(f.hub.take_replies().empty());
  polls = f.upstream();
  REQUIRE(polls.size() == 1);
  CHECK(watch_of(polls[0]).from_revision == 42);
  CHECK(watch_of(polls[0]).wait_ms == WatchHub::kUpstreamWaitMs);
  f.answer(polls[0], {put_event("app/x", 42)}, 42);
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 2);
  CHECK(revisions(body_of(replies[0])) == std::vector<uint64_t>{42});
  CHECK(revisions(body_of(replies[1])) == std::vector<uint64_t>{42});
  // A later "from the next change" watcher starts after what the stream has seen: it waits.
  REQUIRE(f.hub.on_request(4, watch_request(41, 0), f.now_ms, f.requester));
  CHECK(f.hub.take_replies().empty());
  polls = f.upstream();
  f.answer(polls[0], {put_event("app/y", 43)}, 43);
  replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(revisions(body_of(replies[0])) == std::vector<uint64_t>{43});
}

TEST_CASE("watch hub: the buffer is bounded; a watcher left behind it is forwarded alone") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 1), f.now_ms, f.requester));
  uint64_t revision = 1;
  // Upstream answers of 1,000 changes each, with nobody reading: 12,000 changes in all.
  for (int round = 0; round < 12; ++round) {
    auto polls = f.upstream();
    REQUIRE(polls.size() == 1);
    std::vector<wire::KvEvent> events;
    for (int i = 0; i < 1000; ++i, ++revision) events.push_back(put_event("app/k", revision));
    f.answer(polls[0], std::move(events), revision - 1);
  }
  f.hub.take_replies();
  CHECK(f.hub.counters().buffer_revisions_dropped == 2000);
  CHECK_FALSE(f.hub.on_request(2, watch_request(21, 2000), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(3, watch_request(31, 2001), f.now_ms, f.requester));
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(revisions(body_of(replies[0])).front() == 2001);
}

TEST_CASE("watch hub: a revision the leader no longer keeps ends the stream for its watchers") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(2, watch_request(21, 5), f.now_ms, f.requester));
  auto polls = f.upstream();
  f.fail(polls[0], ErrorCode::not_found, "revision 5 is no longer kept; the oldest ... is 90");
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 2);
  for (const LocalClientReply& reply : replies) {
    CHECK(reply.response.error_code == ErrorCode::not_found);
    CHECK(reply.response.error_message.find("oldest") != std::string::npos);
  }
  CHECK(f.hub.stream_count() == 0);
}

TEST_CASE("watch hub: other upstream errors are retried, and a wait that ends says what failed") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5, 2000), f.now_ms, f.requester));
  auto polls = f.upstream();
  f.now_ms = 100;
  f.fail(polls[0], ErrorCode::timed_out, "no answer before the deadline");
  CHECK(f.upstream().empty());
  f.advance_to(100 + WatchHub::kRetryAfterMs);
  polls = f.upstream();
  REQUIRE(polls.size() == 1);
  CHECK(watch_of(polls[0]).from_revision == 5);
  f.advance_to(2000);
  auto replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_code == ErrorCode::timed_out);
  // A success clears it: the next wait that ends is an ordinary empty answer.
  f.answer(polls[0], {}, 7);
  REQUIRE(f.hub.on_request(1, watch_request(12, 8, 1000), f.now_ms, f.requester));
  f.advance_to(3000);
  replies = f.hub.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(body_of(replies[0]).watch_revision == 7);
}

TEST_CASE("watch hub: closed connections lose their waits; an idle stream is closed") {
  Fixture f;
  REQUIRE(f.hub.on_request(1, watch_request(11, 5), f.now_ms, f.requester));
  REQUIRE(f.hub.on_request(2, watch_request(21, 5, 10'000, "other"), f.now_ms, f.requester));
  CHECK(f.hub.stream_count() == 2);  // key "other" and prefix "app/" are separate streams
  f.hub.connection_closed(1);
  f.hub.connection_closed(2);
  CHECK(f.hub.waiter_count() == 0);
  f.advance_to(WatchHub::kIdleCloseMs - 1);
  CHECK(f.hub.stream_count() == 2);
  f.advance_to(WatchHub::kIdleCloseMs);
  CHECK(f.hub.stream_count() == 0);
  CHECK(f.requester.outstanding() == 0);  // their upstream polls were abandoned
  CHECK(f.hub.take_replies().empty());
}
