// The client protocol's `conclave keyring` bodies (wire/client.fbs).
#include "gossip/types.h"
#include "wire/client_codec_parts.h"
#include "wire/codec.h"

namespace conclave::wire::detail {
namespace {

constexpr size_t kMaxKeyTextBytes = 64;      // a base64 key is 44 characters
constexpr size_t kMaxErrorMessageBytes = 4096;

Error no_table(const Where& where, const char* type_name) {
  return malformed(where, std::string("has type ") + type_name + " but no table");
}

}  // namespace

EncodedRequest encode_keyring_request(flatbuffers::FlatBufferBuilder& builder,
                                      const KeyringRequest& body) {
  const auto key = optional_string(builder, std::string_view(body.key));
  return {fbc::RequestBody::KeyringRequest,
          fbc::CreateKeyringRequest(builder, static_cast<uint8_t>(body.op), key).Union()};
}

Result<ClientRequestBody> decode_keyring_request(const fbc::ClientRequest& request,
                                                 FieldReader& reader, const Where& where) {
  const auto* table = request.body_as_KeyringRequest();
  if (table == nullptr) return no_table(where, "KeyringRequest");
  if (table->op() > static_cast<uint8_t>(KeyringOp::remove)) {
    return malformed(Where(where, "op"), "has unknown value " + std::to_string(table->op()));
  }
  KeyringRequest body;
  body.op = static_cast<KeyringOp>(table->op());
  CONCLAVE_WIRE_TRY(
      reader.read_string(table->key(), kMaxKeyTextBytes, Where(where, "key"), body.key));
  return ClientRequestBody(std::move(body));
}

EncodedResponse encode_keyring_response(flatbuffers::FlatBufferBuilder& builder,
                                        const KeyringResponse& body) {
  std::vector<flatbuffers::Offset<fbc::AgentKeyring>> agents;
  for (const AgentKeyring& agent : body.agents) {
    const auto name = optional_string(builder, std::string_view(agent.name));
    const auto message = optional_string(builder, std::string_view(agent.error_message));
    std::vector<flatbuffers::Offset<flatbuffers::String>> keys;
    for (const std::string& key : agent.keys) keys.push_back(builder.CreateString(key));
    const auto key_vector = keys.empty() ? 0 : builder.CreateVector(keys);
    agents.push_back(fbc::CreateAgentKeyring(builder, name,
                                             static_cast<int32_t>(agent.error_code), message,
                                             key_vector));
  }
  const auto vector = agents.empty() ? 0 : builder.CreateVector(agents);
  return {fbc::ResponseBody::KeyringResponse,
          fbc::CreateKeyringResponse(builder, vector).Union()};
}

Result<ClientResponseBody> decode_keyring_response(const fbc::ClientResponse& response,
                                                   FieldReader& reader, const Where& where) {
  const auto* table = response.body_as_KeyringResponse();
  if (table == nullptr) return no_table(where, "KeyringResponse");
  KeyringResponse body;
  const auto* agents = table->agents();
  CONCLAVE_WIRE_TRY(check_count(agents, kMaxKeyringAgents, Where(where, "agents")));
  if (agents == nullptr) return ClientResponseBody(std::move(body));
  body.agents.resize(agents->size());
  for (flatbuffers::uoffset_t i = 0; i < agents->size(); ++i) {
    const fbc::AgentKeyring* agent = agents->Get(i);
    AgentKeyring& out = body.agents[i];
    const Where agent_where(where, "agent", i);
    CONCLAVE_WIRE_TRY(reader.read_string(agent->name(), gossip::kMaxNameBytes,
                                         Where(agent_where, "name"), out.name));
    if (!is_known_error_code(agent->error_code())) {
      return malformed(Where(agent_where, "error_code"),
                       "has unknown value " + std::to_string(agent->error_code()));
    }
    out.error_code = static_cast<ErrorCode>(agent->error_code());
    CONCLAVE_WIRE_TRY(reader.read_string(agent->error_message(), kMaxErrorMessageBytes,
                                         Where(agent_where, "error_message"),
                                         out.error_message));
    const auto* keys = agent->keys();
    CONCLAVE_WIRE_TRY(check_count(keys, kMaxKeyringKeys, Where(agent_where, "keys")));
    if (keys == nullptr) continue;
    out.keys.resize(keys->size());
    for (flatbuffers::uoffset_t k = 0; k < keys->size(); ++k) {
      CONCLAVE_WIRE_TRY(reader.read_string(keys->Get(k), kMaxKeyTextBytes,
                                           Where(agent_where, "key", k), out.keys[k]));
    }
  }
  return ClientResponseBody(std::move(body));
}

}  // namespace conclave::wire::detail
