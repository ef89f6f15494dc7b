// Shared decoding steps and encoder helpers; the per-format codecs live in *_codec.cc.
#include <cstring>

#include "wire/codec.h"
#include "wire/codec_internal.h"

namespace conclave::wire::detail {

std::string Where::render() const {
  std::string text = parent == nullptr ? std::string() : parent->render() + ": ";
  text += label;
  if (index != kNoIndex) text += " " + std::to_string(index);
  return text;
}

Error malformed(const Where& where, std::string_view problem) {
  return make_error(ErrorCode::malformed, where.render() + " " + std::string(problem));
}

Error too_large(const Where& where, std::string_view problem) {
  return make_error(ErrorCode::too_large, where.render() + " " + std::string(problem));
}

Result<VerifiedBuffer> VerifiedBuffer::prepare(std::string_view bytes,
                                               const VerifyLimits& limits, const Where& where) {
  if (bytes.empty()) return malformed(where, "is empty");
  if (bytes.size() > limits.max_bytes) {
    return too_large(where, "is " + std::to_string(bytes.size()) +
                                " bytes, over the limit of " + std::to_string(limits.max_bytes));
  }
  VerifiedBuffer buffer;
  buffer.size_ = bytes.size();
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) == 0) {
    buffer.data_ = reinterpret_cast<const uint8_t*>(bytes.data());
  } else {
    buffer.aligned_copy_.resize((bytes.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(buffer.aligned_copy_.data(), bytes.data(), bytes.size());
    buffer.data_ = reinterpret_cast<const uint8_t*>(buffer.aligned_copy_.data());
  }
  return buffer;
}

Status check_version(uint16_t version, const Where& where) {
  if (version != kProtocolVersion) {
    return malformed(where, "has protocol version " + std::to_string(version) +
                                ", this agent speaks version " +
                                std::to_string(kProtocolVersion));
  }
  return Status::ok_status();
}

Status FieldReader::read_string(const flatbuffers::String* text, size_t max_bytes,
                                const Where& where, std::string& out) {
  if (text == nullptr) {
    out.clear();
    return Status::ok_status();
  }
  return copy(text->data(), text->size(), max_bytes, where, out);
}

Status FieldReader::read_bytes(const flatbuffers::Vector<uint8_t>* bytes, size_t max_bytes,
                               const Where& where, std::string& out) {
  if (bytes == nullptr) {
    out.clear();
    return Status::ok_status();
  }
  return copy(reinterpret_cast<const char*>(bytes->data()), bytes->size(), max_bytes, where,
              out);
}

Status FieldReader::copy(const char* data, size_t size, size_t max_bytes, const Where& where,
                         std::string& out) {
  if (size > max_bytes) {
    return too_large(where, "is " + std::to_string(size) + " bytes, over the limit of " +
                                std::to_string(max_bytes));
  }
  if (size > remaining_bytes_) {
    return malformed(where, "shares storage with other fields (the decoded strings would be "
                            "larger than the buffer)");
  }
  remaining_bytes_ -= size;
  out.assign(data, size);
  return Status::ok_status();
}

flatbuffers::Offset<flatbuffers::String> optional_string(flatbuffers::FlatBufferBuilder& builder,
                                                         std::string_view text) {
  if (text.empty()) return 0;
  return builder.CreateString(text.data(), text.size());
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> optional_bytes(
    flatbuffers::FlatBufferBuilder& builder, std::string_view bytes) {
  if (bytes.empty()) return 0;
  return builder.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string finish_to_string(const flatbuffers::FlatBufferBuilder& builder) {
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                     builder.GetSize());
}

}  // namespace conclave::wire::detail
