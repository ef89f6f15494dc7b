// The Requester on its own: exactly-once identity, routing to the leader, re-sends, deadlines.
#include <catch2/catch.hpp>

#include <set>

#include "agent/requester.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

wire::ClientRequest put(uint64_t id) {
  wire::ClientRequest request;
  request.request_id = id;
  request.body = wire::KvPutRequest{"k", "v", "", 0};
  return request;
}

wire::ClientRequest get(uint64_t id) {
  wire::ClientRequest request;
  request.request_id = id;
  request.body = wire::KvGetRequest{"k"};
  return request;
}

// `leader`: the leader as the answering server names it (the leader itself when it answers ok).
wire::ForwardResponse answer(uint64_t forward_id, ErrorCode code = ErrorCode::ok,
                             std::string leader = "a") {
  wire::ForwardResponse response;
  response.forward_id = forward_id;
  response.leader = std::move(leader);
  response.response.error_code = code;
  if (code == ErrorCode::ok) response.response.body = wire::KvPutResponse{7};
  return response;
}

Requester make() {
  RequesterOptions options;
  options.client_id = 99;
  return Requester(options);
}

}  // namespace

TEST_CASE("requester: writes get sequence numbers, reads do not; ack_below trails the oldest") {
  Requester requester = make();
  requester.set_servers({"a", "b"});
  requester.set_leader("a", 0);
  requester.submit(ReplyTo{1, 1}, put(1), 5000, 0);
  requester.submit(ReplyTo{1, 2}, get(2), 5000, 0);
  requester.submit(ReplyTo{1, 3}, put(3), 5000, 0);
  auto sends = requester.take_sends();
  REQUIRE(sends.size() == 3);
  CHECK(sends[0].to == "a");
  CHECK(sends[0].forward.client_id == 99);
  CHECK(sends[0].forward.sequence == 1);
  CHECK(sends[1].forward.sequence == 0);
  CHECK(sends[2].forward.sequence == 2);
  CHECK(sends[2].forward.ack_below == 1);  // 1 is still unanswered
  requester.on_response("a", answer(sends[0].forward.forward_id), 10);
  requester.submit(ReplyTo{1, 4}, put(4), 5000, 10);
  auto later = requester.take_sends();
  REQUIRE(later.size() == 1);
  CHECK(later[0].forward.ack_below == 2);
  auto answers = requester.take_answers();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].reply_to == ReplyTo{1, 1});
  CHECK(answers[0].response.request_id == 1);
  CHECK(answers[0].confirmed);
  CHECK(answers[0].sent_at_ms == 0);
}

TEST_CASE("requester: a new leader gets every request at once, with the same sequence") {
  Requester requester = make();
  requester.set_servers({"a", "b", "c"});
  requester.set_leader("a", 0);
  requester.submit(ReplyTo{1, 1}, put(1), 5000, 0);
  const auto first = requester.take_sends();
  requester.set_leader("b", 700);
  const auto resent = requester.take_sends();
  REQUIRE(resent.size() == 1);
  CHECK(resent[0].to == "b");
  CHECK(resent[0].forward.sequence == first[0].forward.sequence);
  CHECK(resent[0].forward.forward_id != first[0].forward.forward_id);
  // The old attempt's late answer still counts (the same request, applied once).
  requester.on_response("a", answer(first[0].forward.forward_id), 710);
  const auto answers = requester.take_answers();
  REQUIRE(answers.size() == 1);
  // Contact is proven only as of the answered attempt's send (0), not the latest one (700):
  // crediting 700 would stretch a lock holder's validity past what the leader saw.
  CHECK(answers[0].sent_at_ms == 0);
  CHECK(requester.outstanding() == 0);
}

TEST_CASE("requester: redirects are followed, then paced when servers bounce a request") {
  Requester requester = make();
  requester.set_servers({"a", "b"});
  requester.submit(ReplyTo{1, 1}, put(1), 5000, 0);
  auto sends = requester.take_sends();
  REQUIRE(sends.size() == 1);
  // a and b each name the other as the leader: at most two hops at once, then a back-off.
  std::string from = sends[0].to;
  uint64_t forward_id = sends[0].forward.forward_id;
  int immediate = 0;
  for (int hop = 0; hop < 10; ++hop) {
    requester.on_response(from, answer(forward_id, ErrorCode::not_leader, from == "a" ? "b" : "a"),
                          5);
    auto next = requester.take_sends();
    if (next.empty()) break;
    ++immediate;
    from = next[0].to;
    forward_id = next[0].forward.forward_id;
  }
  CHECK(immediate == 2);
  requester.tick(60);  // after the back-off it goes again
  CHECK(requester.take_sends().size() == 1);
}

TEST_CASE("requester: one unreachable notice per attempt re-routes once, not once per attempt") {
  // Found by the simulator: each refused attempt's notice re-routed every request aimed at that
  // server, and each re-routed request drew its own notice: the traffic grew without bound.
  // Both servers are down: every attempt is refused, and each refusal is a notice.
  Requester requester = make();
  requester.set_servers({"a", "b"});
  requester.set_leader("a", 0);
  for (uint64_t id = 1; id <= 50; ++id) requester.submit(ReplyTo{1, id}, put(id), 5000, 0);
  std::vector<Requester::Send> in_flight = requester.take_sends();
  size_t total = in_flight.size();
  for (int round = 0; round < 6 && !in_flight.empty(); ++round) {
    for (const auto& send : in_flight) requester.on_unreachable(send.to, 1);
    in_flight = requester.take_sends();
    total += in_flight.size();
  }
  // Each request is re-routed at most once per server within the avoidance window.
  CHECK(total <= 50 * 3);
}

TEST_CASE("requester: the deadline is the only ambiguous end, and says so for writes") {
  Requester requester = make();
  requester.submit(ReplyTo{1, 1}, put(1), 1000, 0);  // no server known at all
  requester.submit(ReplyTo{1, 2}, get(2), 1000, 0);
  CHECK(requester.take_sends().empty());
  requester.set_servers({"a"});
  requester.tick(100);
  CHECK(requester.take_sends().size() == 2);
  requester.tick(1000);
  auto answers = requester.take_answers();
  REQUIRE(answers.size() == 2);
  for (const auto& answer : answers) CHECK(answer.response.error_code == ErrorCode::timed_out);
  CHECK_THAT(answers[0].response.error_message, Catch::Contains("may still be applied"));
  CHECK_THAT(answers[1].response.error_message, !Catch::Contains("may still be applied"));
}

TEST_CASE("requester: beyond its limit a request is refused at once") {
  RequesterOptions options;
  options.max_outstanding = 2;
  Requester requester(options);
  requester.submit(ReplyTo{1, 1}, put(1), 1000, 0);
  requester.submit(ReplyTo{1, 2}, put(2), 1000, 0);
  requester.submit(ReplyTo{1, 3}, put(3), 1000, 0);
  auto answers = requester.take_answers();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].reply_to == ReplyTo{1, 3});
  CHECK(answers[0].response.error_code == ErrorCode::unavailable);
}

TEST_CASE("requester: a linearizable read goes first to any server; a follower's answer names "
          "the leader but confirms no contact with it") {
  Requester requester = make();
  requester.set_servers({"a", "b", "c"});
  requester.set_leader("a", 0);
  std::set<std::string> targets;
  for (uint64_t id = 1; id <= 6; ++id) requester.submit(ReplyTo{1, id}, get(id), 5000, 0);
  auto sends = requester.take_sends();
  REQUIRE(sends.size() == 6);
  for (const auto& send : sends) targets.insert(send.to);
  CHECK(targets.size() == 3);  // spread over the servers, not all to the leader
  // Writes still go to the leader.
  requester.submit(ReplyTo{1, 7}, put(7), 5000, 0);
  CHECK(requester.take_sends()[0].to == "a");
  // Served by follower b (after the leader's ReadIndex), which names a as the leader.
  const auto* to_b = &sends[0];
  for (const auto& send : sends) {
    if (send.to == "b") to_b = &send;
  }
  REQUIRE(to_b->to == "b");
  requester.on_response("b", answer(to_b->forward.forward_id, ErrorCode::ok, "a"), 10);
  auto answers = requester.take_answers();
  REQUIRE(answers.size() == 1);
  CHECK_FALSE(answers[0].confirmed);  // b is not the leader
  CHECK(requester.leader() == "a");
}

TEST_CASE("requester: a watch's long poll is not sent again before its wait is over") {
  Requester requester = make();
  requester.set_servers({"a"});
  requester.set_leader("a", 0);
  wire::ClientRequest watch;
  watch.request_id = 1;
  watch.body = wire::KvWatchRequest{"app/", true, 5, 10'000, 0};
  requester.submit(ReplyTo{1, 1}, watch, 20'000, 0);
  requester.submit(ReplyTo{1, 2}, get(2), 20'000, 0);
  REQUIRE(requester.take_sends().size() == 2);
  requester.tick(1000);  // the get is resent after resend_after_ms; the watch is parked
  auto resent = requester.take_sends();
  REQUIRE(resent.size() == 1);
  CHECK(std::holds_alternative<wire::KvGetRequest>(resent[0].forward.request.body));
  requester.tick(10'999);
  for (const auto& send : requester.take_sends()) {
    CHECK_FALSE(std::holds_alternative<wire::KvWatchRequest>(send.forward.request.body));
  }
  requester.tick(11'000);  // its wait plus resend_after_ms: no answer means it was lost
  bool watch_resent = false;
  for (const auto& send : requester.take_sends()) {
    watch_resent |= std::holds_alternative<wire::KvWatchRequest>(send.forward.request.body);
  }
  CHECK(watch_resent);
}
