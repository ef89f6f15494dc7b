// Sessions: create (id = entry index, TTL bounds), renew, destroy, TTL expiry driven by later
// entries' stamps, and InvalidateNodeCommand by node and boot id.
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

namespace {

std::vector<uint64_t> ids(const StateMachine& sm) {
  std::vector<uint64_t> out;
  for (const wire::SessionInfo& info : sm.list_sessions().sessions) out.push_back(info.id);
  return out;
}

}  // namespace

// A session's id is the Raft index of the entry that created it; the record keeps its node,
// boot id, TTL, description and the creation time (the machine's clock).
TEST_CASE("sessions: create answers the entry index as the session id") {
  Harness h;
  h.now_ms = 20'000;
  h.put("k", "v");  // index 1
  Applied created = h.leader(create_op("alpha", 42, 5'000, "web server"));  // index 2
  CHECK(describe(created.outcome) == "session=2");
  const wire::SessionRecord* record = h.sm.session(2);
  REQUIRE(record != nullptr);
  CHECK(*record ==
        wire::SessionRecord{2, "alpha", 42, 5'000, 20'000, 20'000, "web server", {}, {}});

  h.put("k", "w");  // index 3
  CHECK(h.create_session("alpha", 42) == 4);
  CHECK(ids(h.sm) == std::vector<uint64_t>{2, 4});
}

// TTL 0 means none; otherwise it must be 1000 ms to 24 h. A session needs a node. A refused
// create leaves no session behind.
TEST_CASE("sessions: TTL bounds and a missing node are refused with invalid_argument") {
  Harness h;
  CHECK(describe(h.leader(create_op("alpha", 1, 0)).outcome) == "session=1");
  CHECK(describe(h.leader(create_op("alpha", 1, 1'000)).outcome) == "session=2");
  CHECK(describe(h.leader(create_op("alpha", 1, 86'400'000)).outcome) == "session=3");

  Applied too_short = h.leader(create_op("alpha", 1, 999));
  CHECK(describe(too_short.outcome) ==
        "invalid_argument: a session TTL must be 0 (none) or from 1000 ms to 24 h; got 999 ms");
  Applied too_long = h.leader(create_op("alpha", 1, 86'400'001));
  CHECK(describe(too_long.outcome) ==
        "invalid_argument: a session TTL must be 0 (none) or from 1000 ms to 24 h; got "
        "86400001 ms");
  Applied one = h.leader(create_op("alpha", 1, 1));
  CHECK(one.outcome.code == ErrorCode::invalid_argument);
  Applied no_node = h.leader(create_op("", 1, 0));
  CHECK(describe(no_node.outcome) == "invalid_argument: a session needs an owning node");

  CHECK(ids(h.sm) == std::vector<uint64_t>{1, 2, 3});
  CHECK(h.sm.session(4) == nullptr);
  CHECK(h.sm.session(7) == nullptr);
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(10'000 + 1'000));
}

// A renewal restarts the TTL from the renewal's time; renewing an unknown (or ended) session
// is not_found. A session without TTL can be renewed too and still never expires.
TEST_CASE("sessions: renew moves the TTL deadline; an unknown session is not_found") {
  Harness h;
  h.now_ms = 10'000;
  const uint64_t ttl_session = h.create_session("alpha", 1, 5'000);  // 1
  const uint64_t plain = h.create_session("alpha", 1, 0);            // 2
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(15'000));

  h.now_ms = 13'000;
  CHECK(describe(h.leader(renew_op(ttl_session)).outcome) == "ok");
  CHECK(session_of(h.sm, ttl_session).renewed_ms == 13'000);
  CHECK(session_of(h.sm, ttl_session).created_ms == 10'000);
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(18'000));

  CHECK(describe(h.leader(renew_op(plain)).outcome) == "ok");
  CHECK(session_of(h.sm, plain).renewed_ms == 13'000);

  CHECK(describe(h.leader(renew_op(77)).outcome) ==
        "not_found: session 77 does not exist (it ended)");

  // Past the old deadline, within the new one: alive.
  CHECK(h.tick_at(17'999).ended_sessions.empty());
  CHECK(h.sm.session(ttl_session) != nullptr);
  // Past the new one: gone; renewing it now is not_found.
  CHECK(h.tick_at(18'001).ended_sessions == std::vector<uint64_t>{ttl_session});
  CHECK(describe(h.leader(renew_op(ttl_session)).outcome) ==
        "not_found: session 1 does not exist (it ended)");
  CHECK(h.sm.session(plain) != nullptr);
  CHECK_FALSE(h.sm.next_deadline_ms());

  // Time alone never ends a session without a TTL.
  h.tick_at(10'000'000);
  CHECK(h.sm.session(plain) != nullptr);
}

// Destroy ends the session (reported in ended_sessions); destroying it again, or any unknown
// id, is not_found.
TEST_CASE("sessions: destroy ends a session; an unknown session is not_found") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");
  const uint64_t s2 = h.create_session("alpha", 1, 3'000);
  Applied destroyed = h.leader(destroy_op(s1));
  CHECK(describe(destroyed.outcome) == "ok");
  CHECK(destroyed.ended_sessions == std::vector<uint64_t>{s1});
  CHECK(h.sm.session(s1) == nullptr);
  CHECK(ids(h.sm) == std::vector<uint64_t>{s2});

  Applied again = h.leader(destroy_op(s1));
  CHECK(describe(again.outcome) == "not_found: session 1 does not exist");
  CHECK(again.ended_sessions.empty());
  CHECK(describe(h.leader(destroy_op(999)).outcome) == "not_found: session 999 does not exist");

  // Destroying a TTL session also drops its deadline.
  REQUIRE(h.sm.next_deadline_ms());
  CHECK(h.leader(destroy_op(s2)).ended_sessions == std::vector<uint64_t>{s2});
  CHECK_FALSE(h.sm.next_deadline_ms());
  CHECK(ids(h.sm).empty());
}

// TTL expiry is driven only by the stamps of later entries (any command): the session ends in
// the first entry whose stamp passes renewed + ttl, and that entry's own command still applies.
TEST_CASE("sessions: a TTL session expires at the first entry stamped past renewed + ttl") {
  Harness h;
  h.now_ms = 10'000;
  const uint64_t session = h.create_session("alpha", 1, 2'000);
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(12'000));

  h.now_ms = 11'999;
  CHECK(h.leader(put_op("a", "1")).ended_sessions.empty());
  CHECK(h.sm.session(session) != nullptr);

  // A no-op entry carries no stamp: it cannot expire anything.
  CHECK(h.apply_data("").ended_sessions.empty());
  CHECK(h.sm.session(session) != nullptr);

  h.now_ms = 12'001;
  Applied put = h.leader(put_op("b", "2"));
  CHECK(put.ended_sessions == std::vector<uint64_t>{session});
  CHECK(describe(put.outcome) == "put revision=2");
  CHECK(h.sm.session(session) == nullptr);
  CHECK(ids(h.sm).empty());
}

// Timers run before the command of the entry: a renewal stamped after the deadline is too
// late, the session ends in that very entry.
TEST_CASE("sessions: a renewal stamped past the deadline finds the session ended") {
  Harness h;
  h.now_ms = 10'000;
  const uint64_t session = h.create_session("alpha", 1, 2'000);
  h.now_ms = 12'500;
  Applied late = h.leader(renew_op(session));
  CHECK(late.ended_sessions == std::vector<uint64_t>{session});
  CHECK(describe(late.outcome) == "not_found: session 1 does not exist (it ended)");
}

// Several sessions due at once end in one entry, earliest deadline first.
TEST_CASE("sessions: sessions due together expire earliest deadline first") {
  Harness h;
  h.now_ms = 10'000;
  const uint64_t late = h.create_session("alpha", 1, 3'000);    // due 13'000
  const uint64_t early = h.create_session("beta", 1, 1'000);    // due 11'000
  const uint64_t middle = h.create_session("gamma", 1, 2'000);  // due 12'000
  const uint64_t keep = h.create_session("delta", 1, 60'000);
  Applied tick = h.tick_at(20'000);
  CHECK(tick.ended_sessions == std::vector<uint64_t>{early, middle, late});
  CHECK(ids(h.sm) == std::vector<uint64_t>{keep});
  CHECK(describe(tick.outcome) == "ok");
}

// InvalidateNodeCommand ends the sessions of the node in that boot only; boot id 0 means every
// boot of the node. Other nodes are untouched; an unknown node is not an error.
TEST_CASE("sessions: InvalidateNodeCommand ends only that node's sessions of that boot") {
  Harness h;
  const uint64_t a = h.create_session("n1", 1);  // 1
  const uint64_t b = h.create_session("n1", 1);  // 2
  const uint64_t c = h.create_session("n1", 2);  // 3
  const uint64_t d = h.create_session("n2", 1);  // 4
  CHECK(h.sm.session_owners() ==
        std::vector<std::pair<std::string, uint64_t>>{{"n1", 1}, {"n1", 2}, {"n2", 1}});
  CHECK(h.sm.sessions_of("n1", 1) == std::vector<uint64_t>{a, b});
  CHECK(h.sm.sessions_of("n1", 0) == std::vector<uint64_t>{a, b, c});
  CHECK(h.sm.sessions_of("n3", 0).empty());

  Applied first = h.leader(invalidate_op("n1", 1, wire::SessionEndReason::node_restarted));
  CHECK(describe(first.outcome) == "ok");
  CHECK(first.ended_sessions == std::vector<uint64_t>{a, b});
  CHECK(ids(h.sm) == std::vector<uint64_t>{c, d});

  CHECK(h.leader(invalidate_op("n1", 7)).ended_sessions.empty());
  CHECK(h.leader(invalidate_op("n3", 0)).ended_sessions.empty());
  CHECK(ids(h.sm) == std::vector<uint64_t>{c, d});

  Applied every_boot = h.leader(invalidate_op("n1", 0, wire::SessionEndReason::node_left));
  CHECK(every_boot.ended_sessions == std::vector<uint64_t>{c});
  CHECK(ids(h.sm) == std::vector<uint64_t>{d});
  CHECK(h.sm.session_owners() == std::vector<std::pair<std::string, uint64_t>>{{"n2", 1}});
}
