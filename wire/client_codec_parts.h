// Private to wire/: encoders and decoders of the client protocol's session and lock bodies,
// kept apart from client_codec.cc (the envelope and the key/value, members and status bodies).
#pragma once

#include "wire/client_generated.h"
#include "wire/client_messages.h"
#include "wire/codec_internal.h"

namespace conclave::wire::detail {

namespace fbc = fb::client;

// Every ErrorCode this build knows (client_codec.cc).
bool is_known_error_code(int32_t raw);

using EncodedRequest = std::pair<fbc::RequestBody, flatbuffers::Offset<void>>;
using EncodedResponse = std::pair<fbc::ResponseBody, flatbuffers::Offset<void>>;

EncodedRequest encode_session_request(flatbuffers::FlatBufferBuilder& builder,
                                      const ClientRequestBody& body);
// Decodes the session and lock request bodies; any other type is a programming error.
Result<ClientRequestBody> decode_session_request(const fbc::ClientRequest& request,
                                                 FieldReader& reader, const Where& where);

EncodedResponse encode_session_response(flatbuffers::FlatBufferBuilder& builder,
                                        const ClientResponseBody& body);
Result<ClientResponseBody> decode_session_response(const fbc::ClientResponse& response,
                                                   FieldReader& reader, const Where& where);

// The `conclave raft` admin bodies (client_raft_codec.cc).
EncodedRequest encode_raft_admin_request(flatbuffers::FlatBufferBuilder& builder,
                                         const RaftAdminRequest& body);
Result<ClientRequestBody> decode_raft_admin_request(const fbc::ClientRequest& request,
                                                    FieldReader& reader, const Where& where);
EncodedResponse encode_raft_peers_response(flatbuffers::FlatBufferBuilder& builder,
                                           const RaftPeersResponse& body);
Result<ClientResponseBody> decode_raft_peers_response(const fbc::ClientResponse& response,
                                                      FieldReader& reader, const Where& where);

// The `conclave keyring` bodies (client_keyring_codec.cc).
EncodedRequest encode_keyring_request(flatbuffers::FlatBufferBuilder& builder,
                                      const KeyringRequest& body);
Result<ClientRequestBody> decode_keyring_request(const fbc::ClientRequest& request,
                                                 FieldReader& reader, const Where& where);
EncodedResponse encode_keyring_response(flatbuffers::FlatBufferBuilder& builder,
                                        const KeyringResponse& body);
Result<ClientResponseBody> decode_keyring_response(const fbc::ClientResponse& response,
                                                   FieldReader& reader, const Where& where);

}  // namespace conclave::wire::detail
