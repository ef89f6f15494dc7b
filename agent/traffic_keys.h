// TrafficKeys: how this agent seals its gossip datagrams and agent-to-agent TCP (crypto/).
//
// An empty keyring means plaintext: anything is accepted and nothing is sealed (and a sealed
// packet or connection from someone who has a key is refused, since it cannot be read). With
// keys, the two switches are the plaintext-to-encrypted migration of a running cluster, as
// Consul's encrypt_verify_incoming / encrypt_verify_outgoing (docs/security.md):
//   1. every agent restarted with the key and both false: seals nothing, accepts both;
//   2. every agent with verify_outgoing true: seals everything, still accepts plaintext;
//   3. every agent with verify_incoming true (the default): refuses what is not sealed.
#pragma once

#include "crypto/keyring.h"

namespace conclave::agent {

struct TrafficKeys {
  crypto::Keyring keyring;
  bool verify_incoming = true;  // refuse what is not sealed under an installed key
  bool verify_outgoing = true;  // seal everything sent

  bool enabled() const { return !keyring.empty(); }
  bool seal_outgoing() const { return enabled() && verify_outgoing; }
  bool require_sealed() const { return enabled() && verify_incoming; }
};

}  // namespace conclave::agent
