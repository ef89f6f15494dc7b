// KeyringService on its own: an operation is done here (saved first), asked of every peer, and
// answered once all have answered or the wait is over; failures name the agent and the cause.
#include <catch2/catch.hpp>

#include "agent/keyring_service.h"
#include "crypto/keyring.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

struct Fixture {
  TrafficKeys keys;
  std::vector<std::vector<std::string>> saved;
  bool fail_saves = false;
  KeyringService service{"a", keys, [this](const std::vector<std::string>& keys) -> Status {
                           if (fail_saves) return make_error(ErrorCode::storage, "disk full");
                           saved.push_back(keys);
                           return Status();
                         }};
  crypto::Key first = crypto::generate_key();
  crypto::Key second = crypto::generate_key();

  Fixture() { REQUIRE(keys.keyring.install(first).ok()); }

  wire::KeyringResponse answer() {
    auto replies = service.take_replies();
    REQUIRE(replies.size() == 1);
    return std::get<wire::KeyringResponse>(replies[0].response.body);
  }
};

wire::KeyringRequest request(wire::KeyringOp op, const crypto::Key& key) {
  return wire::KeyringRequest{op, crypto::encode_key(key)};
}

}  // namespace

TEST_CASE("keyring service: done here, saved first, asked of every peer, answered when all did") {
  Fixture f;
  f.service.on_client_request(7, 70, request(wire::KeyringOp::install, f.second), {"b", "c"}, 0);
  CHECK(f.keys.keyring.keys().size() == 2);
  REQUIRE(f.saved.size() == 1);
  CHECK(f.saved[0] == std::vector<std::string>{crypto::encode_key(f.first),
                                                crypto::encode_key(f.second)});
  auto sends = f.service.take_peer_sends();
  REQUIRE(sends.size() == 2);
  CHECK(f.service.take_replies().empty());  // waiting for b and c
  const auto& asked = std::get<wire::KeyringPeerRequest>(sends[0].payload);
  CHECK(asked.request.op == wire::KeyringOp::install);
  wire::AgentKeyring from_b;
  from_b.name = "b";
  from_b.keys = {crypto::encode_key(f.first), crypto::encode_key(f.second)};
  f.service.on_peer_response("b", wire::KeyringPeerResponse{asked.request_id, from_b});
  f.service.on_peer_response("x", wire::KeyringPeerResponse{asked.request_id, from_b});  // ignored
  CHECK(f.service.take_replies().empty());
  f.service.on_peer_response("c", wire::KeyringPeerResponse{asked.request_id, from_b});
  const wire::KeyringResponse answer = f.answer();
  REQUIRE(answer.agents.size() == 3);
  CHECK(answer.agents[0].name == "a");
  CHECK(answer.agents[1].name == "b");
  CHECK(answer.agents[2].name == "c");  // named as the transport knows it
  for (const auto& agent : answer.agents) CHECK(agent.error_code == ErrorCode::ok);
  CHECK(f.service.take_keys_changed());
  CHECK_FALSE(f.service.take_keys_changed());
}

TEST_CASE("keyring service: an agent that does not answer in time is reported, not waited for") {
  Fixture f;
  f.service.on_client_request(7, 70, wire::KeyringRequest{}, {"b"}, 1000);
  f.service.tick(1000 + KeyringService::kAnswerWithinMs - 1);
  CHECK(f.service.take_replies().empty());
  f.service.tick(1000 + KeyringService::kAnswerWithinMs);
  const wire::KeyringResponse answer = f.answer();
  REQUIRE(answer.agents.size() == 2);
  CHECK(answer.agents[1].error_code == ErrorCode::timed_out);
  CHECK(answer.agents[1].error_message.find("did not answer") != std::string::npos);
  CHECK(f.saved.empty());  // a list changes nothing
}

TEST_CASE("keyring service: refusals change nothing and say why") {
  Fixture f;
  // The primary cannot be removed; an unknown key cannot be used; a bad key is named.
  CHECK(f.service.apply(request(wire::KeyringOp::remove, f.first)).error_message.find(
            "primary") != std::string::npos);
  CHECK(f.service.apply(request(wire::KeyringOp::use, f.second)).error_code ==
        ErrorCode::not_found);
  CHECK(f.service.apply(wire::KeyringRequest{wire::KeyringOp::install, "nope"}).error_code ==
        ErrorCode::invalid_argument);
  // A change that cannot be saved is not made.
  f.fail_saves = true;
  const wire::AgentKeyring failed = f.service.apply(request(wire::KeyringOp::install, f.second));
  CHECK(failed.error_code == ErrorCode::storage);
  CHECK(f.keys.keyring.keys().size() == 1);
  CHECK(f.saved.empty());
  CHECK_FALSE(f.service.take_keys_changed());
  // Without encryption on, the keyring is not started by a command (it would cut agents off).
  TrafficKeys plaintext;
  KeyringService off("a", plaintext, [](const std::vector<std::string>&) { return Status(); });
  const wire::AgentKeyring refused = off.apply(request(wire::KeyringOp::install, f.second));
  CHECK(refused.error_code == ErrorCode::unavailable);
  CHECK(refused.error_message.find("-encrypt") != std::string::npos);
  CHECK(plaintext.keyring.empty());
}
