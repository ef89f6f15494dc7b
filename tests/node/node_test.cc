#include <catch2/catch.hpp>

#include "agent/node.h"
#include "wire/codec.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

NodeOptions single_server_options() {
  NodeOptions options;
  options.name = "solo";
  options.server = true;
  options.gossip_address = "127.0.0.1:8301";
  options.rpc_address = "127.0.0.1:8300";
  options.bootstrap_expect = 1;
  options.random_seed = 99;
  return options;
}

// Plays the runtime's part for a node that talks to nobody: persist (nothing to do here),
// collect replies, advance; repeated until the node is idle.
std::vector<ClientReply> drain(Node& node, int64_t now_ms) {
  std::vector<ClientReply> replies = node.take_immediate_replies();
  for (int round = 0; round < 100 && node.has_ready(); ++round) {
    NodeReady ready = node.ready();
    for (auto& reply : ready.replies) replies.push_back(std::move(reply));
    node.advance();
    for (auto& reply : node.take_immediate_replies()) replies.push_back(std::move(reply));
    node.tick(now_ms);
  }
  return replies;
}

wire::ClientRequest request(uint64_t id, wire::ClientRequestBody body) {
  wire::ClientRequest result;
  result.request_id = id;
  result.body = std::move(body);
  return result;
}

}  // namespace

TEST_CASE("a single server bootstraps at once and answers puts and gets in order") {
  Node node(single_server_options(), store::RecoveredState{}, 0);
  node.tick(0);
  drain(node, 0);
  REQUIRE(node.raft() != nullptr);
  CHECK(node.raft()->role() == raft::Role::leader);
  CHECK(node.leader_name() == "solo");

  node.receive_client(7, request(1, wire::KvPutRequest{"a", "1"}), 10);
  node.receive_client(7, request(2, wire::KvPutRequest{"a", "2"}), 10);
  node.receive_client(7, request(3, wire::KvGetRequest{"a"}), 10);
  node.receive_client(7, request(4, wire::KvGetRequest{"missing"}), 10);
  auto replies = drain(node, 10);
  REQUIRE(replies.size() == 4);
  for (const auto& reply : replies) CHECK(reply.connection_id == 7);
  CHECK(std::get<wire::KvPutResponse>(replies[0].response.body).revision == 1);
  CHECK(std::get<wire::KvPutResponse>(replies[1].response.body).revision == 2);
  const auto& got = std::get<wire::KvGetResponse>(replies[2].response.body);
  CHECK(got.found);
  CHECK(got.value == "2");
  CHECK(got.create_revision == 1);
  CHECK(got.mod_revision == 2);
  CHECK_FALSE(std::get<wire::KvGetResponse>(replies[3].response.body).found);
}

TEST_CASE("the first ready records the voters, and batches carry state changes") {
  Node node(single_server_options(), store::RecoveredState{}, 0);
  node.tick(0);
  REQUIRE(node.has_ready());
  NodeReady first = node.ready();
  CHECK(first.batch.voters == std::vector<std::string>{"solo"});
  node.advance();
  node.receive_client(1, request(1, wire::KvPutRequest{"k", "v"}), 5);
  store::Batch combined;
  for (int round = 0; round < 10 && node.has_ready(); ++round) {
    NodeReady ready = node.ready();
    for (auto& upsert : ready.batch.state.upserts) combined.state.upserts.push_back(upsert);
    if (ready.batch.state.applied_index) combined.state.applied_index = ready.batch.state.applied_index;
    node.advance();
  }
  REQUIRE(combined.state.upserts.size() == 1);
  CHECK(combined.state.upserts[0] == store::KvRecord{"k", "v", 1, 1});
  CHECK(combined.state.applied_index == node.state_machine().applied_index());
}

TEST_CASE("a restarted node recovers its state and keeps answering") {
  store::RecoveredState disk;
  {
    Node node(single_server_options(), disk, 0);
    node.tick(0);
    node.receive_client(1, request(1, wire::KvPutRequest{"k", "v1"}), 1);
    for (int round = 0; round < 20 && node.has_ready(); ++round) {
      NodeReady ready = node.ready();
      // A tiny in-test disk: the batch semantics of store::Store.
      if (ready.batch.hard_state) disk.hard_state = *ready.batch.hard_state;
      if (!ready.batch.entries.empty()) {
        disk.entries.resize(ready.batch.entries.front().index - 1);
        for (auto& entry : ready.batch.entries) disk.entries.push_back(entry);
      }
      if (!ready.batch.voters.empty()) disk.voters = ready.batch.voters;
      if (ready.batch.state.applied_index) {
        for (auto& row : ready.batch.state.upserts) disk.kv = {row};
        disk.applied_index = ready.batch.state.applied_index;
        disk.revision = ready.batch.state.revision;
      }
      node.advance();
    }
  }
  // Each boot draws a new request id base (NodeOptions::request_id_base).
  NodeOptions second_boot = single_server_options();
  second_boot.request_id_base = 1'000'000;
  Node restarted(second_boot, disk, 1000);
  REQUIRE(restarted.raft() != nullptr);
  CHECK(restarted.state_machine().get("k")->value == "v1");
  restarted.tick(1000);
  drain(restarted, 1000);
  restarted.receive_client(2, request(5, wire::KvGetRequest{"k"}), 1001);
  auto replies = drain(restarted, 1001);
  REQUIRE(replies.size() == 1);
  CHECK(std::get<wire::KvGetResponse>(replies[0].response.body).value == "v1");
}

TEST_CASE("bad kv requests are refused at once with a clear error") {
  Node node(single_server_options(), store::RecoveredState{}, 0);
  node.tick(0);
  drain(node, 0);
  node.receive_client(1, request(1, wire::KvGetRequest{""}), 1);
  node.receive_client(1, request(2, wire::KvPutRequest{std::string(wire::kMaxKeyBytes + 1, 'k'), "v"}), 1);
  node.receive_client(1, request(3, wire::KvPutRequest{"k", std::string(wire::kMaxValueBytes + 1, 'v')}), 1);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 3);
  CHECK(replies[0].response.error_code == ErrorCode::invalid_argument);
  CHECK(replies[1].response.error_code == ErrorCode::invalid_argument);
  CHECK(replies[2].response.error_code == ErrorCode::too_large);
  CHECK(replies[2].response.error_message.find("limit") != std::string::npos);
  CHECK(node.counters().client_requests_rejected == 3);
}

TEST_CASE("a server waiting for its peers says what it waits for") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 3;
  Node node(options, store::RecoveredState{}, 0);
  node.tick(0);
  CHECK(node.raft() == nullptr);
  node.receive_client(1, request(1, wire::KvPutRequest{"a", "1"}), 1);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_code == ErrorCode::no_leader);
  CHECK(replies[0].response.error_message.find("waiting for 3 servers") != std::string::npos);
}

TEST_CASE("members and status are answered locally") {
  Node node(single_server_options(), store::RecoveredState{}, 0);
  node.tick(0);
  drain(node, 0);
  node.receive_client(3, request(1, wire::MembersRequest{}), 1);
  node.receive_client(3, request(2, wire::StatusRequest{}), 1);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 2);
  const auto& members = std::get<wire::MembersResponse>(replies[0].response.body);
  REQUIRE(members.members.size() == 1);
  CHECK(members.members[0].name == "solo");
  CHECK(members.members[0].state == "alive");
  CHECK(members.members[0].role == "server");
  CHECK(members.members[0].rpc_address == "127.0.0.1:8300");
  const auto& status = std::get<wire::StatusResponse>(replies[1].response.body);
  CHECK(status.raft_role == "leader");
  CHECK(status.leader_name == "solo");
  CHECK(status.voters == std::vector<std::string>{"solo"});
}

TEST_CASE("state machine: revisions, limits and hashes") {
  StateMachine machine(store::RecoveredState{});
  auto entry = [](raft::Index index, wire::Command command) {
    return raft::Entry{1, index, wire::encode_command(command)};
  };
  Applied put = machine.apply(entry(1, wire::Command{1, 1, 0, wire::PutCommand{"a", "x"}}));
  CHECK(std::get<wire::KvPutResponse>(put.result).revision == 1);
  Applied noop = machine.apply(raft::Entry{1, 2, ""});
  CHECK_FALSE(noop.command.has_value());
  Applied garbage = machine.apply(raft::Entry{1, 3, "not a command"});
  CHECK(garbage.error_code == ErrorCode::malformed);
  CHECK(machine.undecodable_entries() == 1);
  CHECK(machine.applied_index() == 3);

  StateMachine other(store::RecoveredState{});
  other.apply(entry(1, wire::Command{2, 9, 5, wire::PutCommand{"a", "x"}}));
  other.apply(raft::Entry{1, 2, ""});
  other.apply(raft::Entry{1, 3, "also not a command"});
  CHECK(other.state_hash() == machine.state_hash());
  other.apply(entry(4, wire::Command{2, 10, 5, wire::PutCommand{"a", "y"}}));
  CHECK(other.state_hash() != machine.state_hash());
}

TEST_CASE("a command that reaches the log twice takes effect once, also after a restart") {
  auto entry = [](raft::Index index, wire::Command command) {
    return raft::Entry{1, index, wire::encode_command(command)};
  };
  const wire::Command put{7, 42, 0, wire::PutCommand{"a", "x"}};
  StateMachine machine(store::RecoveredState{});
  Applied first = machine.apply(entry(1, put));
  Applied second = machine.apply(entry(2, put));
  CHECK_FALSE(first.duplicate);
  CHECK(second.duplicate);
  CHECK(machine.revision() == 1);
  CHECK(machine.duplicate_entries() == 1);

  // A restarted machine rebuilds the window from the log it recovered.
  store::RecoveredState recovered;
  recovered.entries = {entry(1, put)};
  recovered.applied_index = 1;
  recovered.revision = 1;
  recovered.kv = {store::KvRecord{"a", "x", 1, 1}};
  StateMachine restarted(recovered);
  CHECK(restarted.apply(entry(2, put)).duplicate);
  CHECK(restarted.revision() == 1);
  CHECK(restarted.state_hash() == machine.state_hash());

  // Outside the window the same id is a new command again (ids are unique per boot anyway).
  StateMachine window(store::RecoveredState{});
  window.apply(entry(1, put));
  for (raft::Index index = 2; index <= kDuplicateWindowEntries + 1; ++index) {
    window.apply(raft::Entry{1, index, ""});
  }
  CHECK_FALSE(window.apply(entry(kDuplicateWindowEntries + 2, put)).duplicate);
}

namespace {

gossip::Packet server_announcements(const std::vector<std::string>& names) {
  gossip::Packet packet;
  packet.from = names.front();
  for (const std::string& name : names) {
    gossip::MemberUpdate update;
    update.name = name;
    update.address = name + ":8301";
    update.state = gossip::MemberState::alive;
    update.tags = gossip::Tags{"server", name + ":8300"};
    packet.messages.push_back(update);
  }
  return packet;
}

}  // namespace

TEST_CASE("bootstrap waits for exactly bootstrap_expect servers") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 3;
  Node node(options, store::RecoveredState{}, 0);
  node.receive_gossip("b:8301", server_announcements({"b"}), 1);
  CHECK(node.raft() == nullptr);
  node.receive_gossip("c:8301", server_announcements({"c"}), 2);
  REQUIRE(node.raft() != nullptr);
  CHECK(node.voters() == std::vector<std::string>{"b", "c", "solo"});
}

TEST_CASE("seeing more servers than expected refuses to bootstrap and says why") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 2;
  Node node(options, store::RecoveredState{}, 0);
  node.receive_gossip("b:8301", server_announcements({"b", "c"}), 1);
  node.tick(2);
  CHECK(node.raft() == nullptr);
  CHECK(node.counters().bootstrap_refusals == 1);
  node.receive_client(1, request(1, wire::KvPutRequest{"a", "1"}), 3);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_code == ErrorCode::no_leader);
  CHECK(replies[0].response.error_message.find("refusing to bootstrap: 3 servers are alive") !=
        std::string::npos);
}

TEST_CASE("a server without bootstrap_expect never forms a cluster on its own") {
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 0;
  Node node(options, store::RecoveredState{}, 0);
  node.tick(10);
  node.receive_gossip("b:8301", server_announcements({"b", "c"}), 20);
  CHECK(node.raft() == nullptr);
  node.receive_client(1, request(1, wire::KvGetRequest{"a"}), 30);
  auto replies = node.take_immediate_replies();
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].response.error_message.find("no Raft configuration") != std::string::npos);

  // With voters recorded in its data folder it starts Raft at once.
  store::RecoveredState recovered;
  recovered.voters = {"b", "c", "solo"};
  Node restarted(options, recovered, 0);
  CHECK(restarted.raft() != nullptr);
}

TEST_CASE("after a long pause a node catches up at most one election timeout of ticks") {
  // Three voters, the others silent: this node can only campaign, once per election timeout.
  store::RecoveredState recovered;
  recovered.voters = {"b", "c", "solo"};
  NodeOptions options = single_server_options();
  options.bootstrap_expect = 0;
  Node node(options, recovered, 0);
  node.tick(0);
  // Five seconds pass at once (SIGSTOP): replaying all 500 ticks would campaign ~8 times.
  node.tick(5000);
  CHECK(node.raft()->term() <= 1);
}
