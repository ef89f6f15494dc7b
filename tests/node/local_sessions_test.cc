// LocalSessions on its own, driven through a real Requester: the validity it gives a holder.
#include <catch2/catch.hpp>

#include "agent/local_sessions.h"
#include "agent/lock_timing.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

struct Harness {
  Requester requester{[] {
    RequesterOptions options;
    options.client_id = 7;
    return options;
  }()};
  LocalSessions sessions;

  Harness() {
    requester.set_servers({"a"});
    requester.set_leader("a", 0);
  }

  // Answers every pending forward with `body` (ok), as the leader would.
  void answer_all(const wire::ClientResponseBody& body, int64_t now_ms) {
    for (const Requester::Send& send : requester.take_sends()) {
      wire::ForwardResponse response;
      response.forward_id = send.forward.forward_id;
      response.leader = "a";  // the leader answers, naming itself
      response.response.error_code = ErrorCode::ok;
      response.response.body = body;
      requester.on_response("a", response, now_ms);
    }
    for (const Requester::Answer& answer : requester.take_answers()) {
      if (answer.confirmed) sessions.on_contact_confirmed(answer.sent_at_ms);
      sessions.on_answer(answer, now_ms, requester);
    }
  }

  void request(wire::ClientRequestBody body, uint64_t request_id, int64_t now_ms) {
    wire::ClientRequest request;
    request.request_id = request_id;
    request.timeout_ms = 5000;
    request.body = std::move(body);
    sessions.on_request(/*connection_id=*/1, request, now_ms, requester);
  }

  // Session 42 is created (at 100 ms) and takes lock "L", granted with `token` at 210 ms.
  void hold_lock_l(uint64_t token) {
    request(wire::SessionCreateRequest{0, "s", true}, 1, 100);
    answer_all(wire::SessionCreateResponse{42}, 110);
    request(wire::LockAcquireRequest{"L", 42, 1, 0, 0}, 2, 200);
    answer_all(wire::LockEvent{"L", 42, token, wire::LockEventKind::granted, 0, ""}, 210);
  }

  std::vector<wire::LockEvent> events() {
    std::vector<wire::LockEvent> found;
    for (LocalClientReply& reply : sessions.take_replies()) {
      if (auto* event = std::get_if<wire::LockEvent>(&reply.response.body)) {
        found.push_back(*event);
      }
    }
    return found;
  }
};

}  // namespace

TEST_CASE("local sessions: a TTL session's lock is valid no longer than its TTL allows") {
  Harness h;
  const int64_t ttl_ms = 2000;
  const int64_t lock_delay_ms = 0;
  h.request(wire::SessionCreateRequest{ttl_ms, "ttl", false}, 1, 100);
  h.answer_all(wire::SessionCreateResponse{42}, 110);
  h.sessions.take_replies();
  h.request(wire::LockAcquireRequest{"L", 42, 1, 0, static_cast<int32_t>(lock_delay_ms)}, 2, 200);
  h.answer_all(wire::LockEvent{"L", 42, 9, wire::LockEventKind::granted, 0, ""}, 210);
  std::vector<wire::LockEvent> granted = h.events();
  REQUIRE(granted.size() == 1);
  // Contact (the acquire, sent at 200) bounds it for now.
  CHECK(granted[0].valid_until_ms == lock_valid_until_ms(200, lock_delay_ms));

  // Keepalives keep contact fresh, but the session (created, sent, at 100) is never renewed:
  // the cluster may end it at 100 + ttl, so the holder must hear "lost" before that + delay.
  int64_t now = 210;
  bool lost = false;
  while (now < 100 + ttl_ms + 1000 && !lost) {
    now += 50;
    h.sessions.tick(now, h.requester);
    h.answer_all(wire::SessionKeepaliveResponse{{42}}, now);
    for (const wire::LockEvent& event : h.events()) {
      if (event.kind == wire::LockEventKind::lost) {
        lost = true;
        CHECK(event.message.find("TTL") != std::string::npos);
      }
    }
  }
  CHECK(lost);
  CHECK(now >= ttl_lock_valid_until_ms(100, ttl_ms, lock_delay_ms));
  CHECK(now < ttl_lock_valid_until_ms(100, ttl_ms, lock_delay_ms) + 50);
}

TEST_CASE("local sessions: renewing a TTL session moves its locks' validity") {
  Harness h;
  const int64_t ttl_ms = 2000;
  h.request(wire::SessionCreateRequest{ttl_ms, "ttl", false}, 1, 100);
  h.answer_all(wire::SessionCreateResponse{42}, 110);
  h.request(wire::LockAcquireRequest{"L", 42, 1, 0, 1000}, 2, 200);
  h.answer_all(wire::LockEvent{"L", 42, 9, wire::LockEventKind::granted, 0, ""}, 210);
  h.sessions.take_replies();
  h.request(wire::SessionRenewRequest{42}, 3, 1500);
  h.answer_all(std::monostate{}, 1510);
  h.sessions.tick(1520, h.requester);
  std::vector<wire::LockEvent> renewed = h.events();
  REQUIRE_FALSE(renewed.empty());
  CHECK(renewed.back().kind == wire::LockEventKind::renewed);
  // Without the renewal the TTL would bound it at 2800; now contact (the renewal's send) does.
  CHECK(ttl_lock_valid_until_ms(100, ttl_ms, 1000) == 2800);
  CHECK(renewed.back().valid_until_ms == lock_valid_until_ms(1500, 1000));
}

TEST_CASE("local sessions: one connection holds at most kMaxSessionsPerConnection sessions") {
  Harness h;
  for (uint64_t i = 1; i <= LocalSessions::kMaxSessionsPerConnection; ++i) {
    h.request(wire::SessionCreateRequest{}, i, 0);
  }
  CHECK(h.sessions.take_replies().empty());  // all sent to the leader, none refused
  h.request(wire::SessionCreateRequest{}, 1000, 0);
  auto replies = h.sessions.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.request_id == 1000);
  CHECK(replies[0].response.error_code == ErrorCode::too_large);
  CHECK(replies[0].response.error_message.find("64 sessions") != std::string::npos);
}

TEST_CASE("local sessions: the release of a lock lost by timeout names that hold's token") {
  // A hold lost by timeout is given back in the background; the same session may take the
  // lock again before that release is applied. The release must name the old hold's token so
  // that, applied late, it cannot end the new hold (two holders at once; the nemesis found it).
  Harness h;
  h.hold_lock_l(9);
  h.sessions.take_replies();
  // No contact from here on: the hold runs out and is released in the background.
  int64_t now = 210;
  std::vector<Requester::Send> releases;
  while (now < 5000 && releases.empty()) {
    now += 50;
    h.sessions.tick(now, h.requester);
    for (Requester::Send& send : h.requester.take_sends()) {
      if (std::holds_alternative<wire::LockReleaseRequest>(send.forward.request.body)) {
        releases.push_back(std::move(send));
      }
    }
  }
  REQUIRE(releases.size() == 1);
  const auto& release = std::get<wire::LockReleaseRequest>(releases[0].forward.request.body);
  CHECK(release.session == 42);
  CHECK(release.name == "L");
  CHECK(release.token == 9);
}

TEST_CASE("local sessions: a client's release names the token of the hold the agent knows") {
  Harness h;
  h.hold_lock_l(11);
  h.request(wire::LockReleaseRequest{"L", 42, 0}, 3, 300);
  const std::vector<Requester::Send> sends = h.requester.take_sends();
  REQUIRE(sends.size() == 1);
  CHECK(std::get<wire::LockReleaseRequest>(sends[0].forward.request.body).token == 11);
}
