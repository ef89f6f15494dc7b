// LeaderService on its own, with a one-voter RawNode: when it ends other agents' sessions.
#include <catch2/catch.hpp>

#include "agent/leader_service.h"
#include "agent/lock_timing.h"
#include "wire/codec.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

struct Harness {
  raft::RawNode raft{[] {
    raft::Config config;
    config.id = 1;
    config.voters = {1};
    return config;
  }(), raft::Recovered{}};
  state::StateMachine state_machine;
  LeaderService leader{"s1"};

  Harness() {
    raft.campaign();
    REQUIRE(raft.role() == raft::Role::leader);
    drain();
    // Agent d (boot 5) owns a session.
    wire::Command create;
    create.client_id = 5;
    create.sequence = 1;
    create.op = wire::SessionCreateCommand{"d", 5, 0, "holder"};
    state_machine.apply(raft::Entry{1, 1, wire::encode_command(create)});
    leader.on_elected(0, state_machine);
  }

  // Commands the leader proposed since the last call.
  std::vector<wire::Command> drain() {
    std::vector<wire::Command> proposed;
    while (raft.has_ready()) {
      raft::Ready ready = raft.ready();
      for (const raft::Entry& entry : ready.entries) {
        if (entry.data.empty()) continue;
        auto command = wire::decode_command(entry.data);
        REQUIRE(command.ok());
        proposed.push_back(command.value());
      }
      raft.advance(ready);
    }
    return proposed;
  }

  std::vector<wire::SessionEndReason> invalidations(int64_t now_ms,
                                                    const std::map<std::string, MemberView>& m) {
    leader.tick(now_ms, raft, state_machine, m);
    std::vector<wire::SessionEndReason> reasons;
    for (const wire::Command& command : drain()) {
      if (auto* invalidate = std::get_if<wire::InvalidateNodeCommand>(&command.op)) {
        CHECK(invalidate->node == "d");
        reasons.push_back(invalidate->reason);
      }
    }
    return reasons;
  }
};

}  // namespace

TEST_CASE("leader service: a failed agent's sessions end only after the contact grace") {
  Harness h;
  const std::map<std::string, MemberView> failed = {
      {"s1", MemberView{gossip::MemberState::alive, 1}},
      {"d", MemberView{gossip::MemberState::dead, 5}}};
  CHECK(h.invalidations(kSessionContactGraceMs - 1, failed).empty());
  CHECK(h.invalidations(kSessionContactGraceMs, failed) ==
        std::vector<wire::SessionEndReason>{wire::SessionEndReason::node_failed});
}

TEST_CASE("leader service: an agent restarted with a new boot id loses its sessions once silent") {
  Harness h;
  const std::map<std::string, MemberView> restarted = {
      {"s1", MemberView{gossip::MemberState::alive, 1}},
      {"d", MemberView{gossip::MemberState::alive, 6}}};
  CHECK(h.invalidations(kSessionContactGraceMs - 1, restarted).empty());
  CHECK(h.invalidations(kSessionContactGraceMs, restarted) ==
        std::vector<wire::SessionEndReason>{wire::SessionEndReason::node_restarted});
}

TEST_CASE("leader service: gossip that lags behind a restart never ends the new run's sessions") {
  // Seed 100134 of the lock simulation: the leader's gossip still showed d's previous boot (4)
  // while d's current boot (5) held a lock; taking 5 for the dead run released the lock
  // under a live holder.
  Harness h;
  const std::map<std::string, MemberView> stale = {
      {"s1", MemberView{gossip::MemberState::alive, 1}},
      {"d", MemberView{gossip::MemberState::alive, 4}}};
  for (int64_t now = 0; now < 5000; now += 200) {
    wire::ForwardRequest keepalive;  // what boot 5's keepalives look like to the leader
    keepalive.forward_id = static_cast<uint64_t>(now + 1);
    keepalive.client_id = 5;
    keepalive.timeout_ms = 1000;
    keepalive.request.body = wire::KvGetRequest{"k"};
    h.leader.on_forward("d", keepalive, now, h.raft, h.state_machine);
    CHECK(h.invalidations(now, stale).empty());
  }
  // Once boot 5 falls silent too, its sessions end after the grace.
  CHECK(h.invalidations(4800 + kSessionContactGraceMs, stale) ==
        std::vector<wire::SessionEndReason>{wire::SessionEndReason::node_restarted});
}

TEST_CASE("leader service: an agent gossip never lists loses its sessions after a long silence") {
  // E.g. every server restarted while d was down: nobody lists d, and nothing would ever end
  // its sessions, so its locks would be held forever.
  Harness h;
  const std::map<std::string, MemberView> unknown = {
      {"s1", MemberView{gossip::MemberState::alive, 1}}};
  const std::map<std::string, MemberView> alive = {
      {"s1", MemberView{gossip::MemberState::alive, 1}},
      {"d", MemberView{gossip::MemberState::alive, 5}}};
  CHECK(h.invalidations(kUnknownOwnerGraceMs - 1, unknown).empty());
  CHECK(h.invalidations(kUnknownOwnerGraceMs, alive).empty());  // listed alive: kept
  CHECK(h.invalidations(kUnknownOwnerGraceMs + 1, unknown) ==
        std::vector<wire::SessionEndReason>{wire::SessionEndReason::node_unknown});
}

namespace {

// Confirms every pending ReadIndex read (one voter: at once) and serves what is servable.
void confirm_reads(Harness& h) {
  std::vector<raft::ReadState> reads;
  while (h.raft.has_ready()) {
    raft::Ready ready = h.raft.ready();
    reads.insert(reads.end(), ready.read_states.begin(), ready.read_states.end());
    h.raft.advance(ready);
  }
  h.leader.on_read_states(reads);
  h.leader.serve_reads(h.state_machine);
}

wire::ForwardRequest watch_request(uint64_t forward_id, uint64_t from_revision) {
  wire::ForwardRequest forward;
  forward.forward_id = forward_id;
  forward.client_id = 9;
  forward.timeout_ms = 15000;
  forward.request.body = wire::KvWatchRequest{"w/", true, from_revision, 5000, 0};
  return forward;
}

const wire::KvWatchResponse& watch_answer(const LeaderService::Reply& reply) {
  REQUIRE(reply.response.response.error_code == ErrorCode::ok);
  return std::get<wire::KvWatchResponse>(reply.response.response.body);
}

}  // namespace

TEST_CASE("leader service: a watch with nothing yet waits for the next matching change") {
  Harness h;
  // "From the next change" (0): nothing yet, so the watch waits...
  h.leader.on_forward("c1", watch_request(1, 0), 1000, h.raft, h.state_machine);
  confirm_reads(h);
  CHECK(h.leader.take_replies().empty());
  // ...through changes it does not match...
  wire::Command other;
  other.op = wire::PutCommand{"other", "x", "", 0};
  h.state_machine.apply(raft::Entry{1, h.state_machine.applied_index() + 1,
                                    wire::encode_command(other)});
  h.leader.serve_reads(h.state_machine);
  CHECK(h.leader.take_replies().empty());
  // ...and is answered by the first one it matches, applied after it began (revision 2: the
  // watch looked up to revision 0 when it began, so "the next change" stays pinned there).
  wire::Command put;
  put.op = wire::PutCommand{"w/a", "1", "", 0};
  h.state_machine.apply(raft::Entry{1, h.state_machine.applied_index() + 1,
                                    wire::encode_command(put)});
  h.leader.serve_reads(h.state_machine);
  auto replies = h.leader.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].to == "c1");
  const wire::KvWatchResponse& answer = watch_answer(replies[0]);
  REQUIRE(answer.events.size() == 1);
  CHECK(answer.events[0].entry.key == "w/a");
  CHECK(answer.events[0].entry.mod_revision == 2);
  CHECK(answer.watch_revision == 2);

  // A watch whose wait runs out gets what there is: nothing, and how far it looked.
  h.leader.on_forward("c1", watch_request(2, 3), 2000, h.raft, h.state_machine);
  confirm_reads(h);
  const std::map<std::string, MemberView> members = {
      {"s1", MemberView{gossip::MemberState::alive, 1}},
      {"d", MemberView{gossip::MemberState::alive, 5}}};
  h.leader.tick(6999, h.raft, h.state_machine, members);
  CHECK(h.leader.take_replies().empty());
  h.leader.tick(7000, h.raft, h.state_machine, members);
  replies = h.leader.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(watch_answer(replies[0]).events.empty());
  CHECK(watch_answer(replies[0]).watch_revision == 2);

  // Deposed: a waiting watch is told to ask the new leader.
  h.leader.on_forward("c1", watch_request(3, 3), 8000, h.raft, h.state_machine);
  confirm_reads(h);
  h.leader.on_deposed("s2");
  replies = h.leader.take_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.response.error_code == ErrorCode::not_leader);
}
