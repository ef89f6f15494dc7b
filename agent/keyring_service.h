// KeyringService: `conclave keyring list | install KEY | use KEY | remove KEY` on a running
// cluster, as `serf keys` does. The agent a client asks does the operation on its own keyring,
// then asks every other agent gossip shows alive to do the same (over the sealed agent-to-agent
// connections, so only key holders can), and answers with what each agent did and the keys it
// now holds. An agent that does not answer within kAnswerWithinMs is reported as such.
//
// Rotation without downtime: `install NEW` (everyone accepts NEW), `use NEW` (everyone sends
// under NEW; old packets still open), `remove OLD`. Each step is answered only once every agent
// has answered it, so the next step can start when the last one is done everywhere. A key
// change is saved (store/keyring_store.h) before it is used and before it is answered, so an
// agent that restarts keeps it. Keyring operations need encryption on: installing a first key
// into a plaintext cluster would cut agents off one by one (docs/security.md has the
// migration).
//
// Pure: no I/O, time passed in. The runtime routes its peer sends and client replies.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/traffic_keys.h"
#include "common/result.h"
#include "wire/client_messages.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

class KeyringService {
 public:
  static constexpr int64_t kAnswerWithinMs = 5000;
  static constexpr size_t kMaxPendingRequests = 16;

  // Saves the keys (base64, primary first) durably; called before a change takes effect.
  using Save = std::function<Status(const std::vector<std::string>& keys)>;

  KeyringService(std::string self_name, TrafficKeys& keys, Save save);

  // A local client's request; `peers` are the other agents gossip shows alive.
  void on_client_request(uint64_t connection_id, uint64_t request_id,
                         const wire::KeyringRequest& request,
                         const std::vector<std::string>& peers, int64_t now_ms);
  // Another agent's request: done here and answered to it.
  void on_peer_request(const std::string& from, const wire::KeyringPeerRequest& request);
  void on_peer_response(const std::string& from, const wire::KeyringPeerResponse& response);
  // Answers requests whose wait for other agents is over.
  void tick(int64_t now_ms);

  // Does `request` on this agent's keyring (saving a change first) and says the outcome.
  wire::AgentKeyring apply(const wire::KeyringRequest& request);

  struct PeerSend {
    std::string to;
    wire::PeerPayload payload;
  };
  struct Reply {
    uint64_t connection_id = 0;
    wire::ClientResponse response;
  };
  std::vector<PeerSend> take_peer_sends() { return std::exchange(peer_sends_, {}); }
  std::vector<Reply> take_replies() { return std::exchange(replies_, {}); }
  // True once after the keyring changed (the runtime then moves connections onto it).
  bool take_keys_changed() { return std::exchange(keys_changed_, false); }

 private:
  struct Pending {
    uint64_t connection_id = 0;
    uint64_t request_id = 0;
    int64_t answer_by_ms = 0;
    std::vector<wire::AgentKeyring> results;  // this agent first, then each peer asked
    std::map<std::string, size_t> waiting;    // peer name -> index in results
  };
  void finish(uint64_t id);
  wire::AgentKeyring result(ErrorCode code, std::string message) const;

  std::string self_name_;
  TrafficKeys& keys_;
  Save save_;
  std::map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 1;
  std::vector<PeerSend> peer_sends_;
  std::vector<Reply> replies_;
  bool keys_changed_ = false;
};

}  // namespace conclave::agent
