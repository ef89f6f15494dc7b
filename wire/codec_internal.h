// Helpers shared by the codecs (private to wire/: never included outside this folder).
//
// Every decoder follows the same steps: size check, alignment, flatbuffers::Verifier, version,
// then field-by-field conversion in which every string and vector is checked against its limit
// and every enum and union value against the values this build knows.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/result.h"

// Returns the error of a Status-valued expression from the enclosing function (which returns
// Status or Result<T>).
#define CONCLAVE_WIRE_TRY(expression)                  \
  do {                                                 \
    if (::conclave::Status status_ = (expression);     \
        !status_.ok()) {                               \
      return status_.error();                          \
    }                                                  \
  } while (false)

namespace conclave::wire::detail {

constexpr size_t kNoIndex = static_cast<size_t>(-1);

// Where in a message a problem is: a chain of labels living on the decoder's stack, rendered
// only when there is an error (so a well-formed decode allocates nothing for it).
// Renders as e.g. "gossip packet: message 3: member 2: name".
struct Where {
  const Where* parent = nullptr;
  std::string_view label;
  size_t index = kNoIndex;

  explicit Where(std::string_view root_label) : label(root_label) {}
  Where(const Where& parent_where, std::string_view child_label, size_t child_index = kNoIndex)
      : parent(&parent_where), label(child_label), index(child_index) {}

  std::string render() const;
};

// "<where> <problem>", e.g. "gossip packet: message 3 has unknown type 9".
Error malformed(const Where& where, std::string_view problem);
Error too_large(const Where& where, std::string_view problem);

// Bounds for the verifier; max_tables also caps the work a hostile buffer can cause by pointing
// many offsets at the same table.
struct VerifyLimits {
  size_t max_bytes = 0;
  flatbuffers::uoffset_t max_depth = 16;  // our schemas nest at most 5 levels deep
  flatbuffers::uoffset_t max_tables = 1000000;
};

// A buffer that has passed the size check and the FlatBuffers verifier. Owns an aligned copy
// when the input was not 8-byte aligned (FlatBuffers reads scalars in place, which needs
// aligned memory; a payload cut out of a larger buffer may not be).
class VerifiedBuffer {
 public:
  // Move-only: data_ may point into aligned_copy_, whose heap storage a move keeps in place.
  VerifiedBuffer(VerifiedBuffer&&) = default;
  VerifiedBuffer& operator=(VerifiedBuffer&&) = default;
  VerifiedBuffer(const VerifiedBuffer&) = delete;
  VerifiedBuffer& operator=(const VerifiedBuffer&) = delete;

  template <typename Root>
  const Root* root() const {
    return flatbuffers::GetRoot<Root>(data_);
  }

  // Size check, alignment, verification of `Root`. `where` names the message kind.
  template <typename Root>
  static Result<VerifiedBuffer> verify(std::string_view bytes, const VerifyLimits& limits,
                                       const Where& where);

 private:
  VerifiedBuffer() = default;
  static Result<VerifiedBuffer> prepare(std::string_view bytes, const VerifyLimits& limits,
                                        const Where& where);
  std::vector<uint64_t> aligned_copy_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

template <typename Root>
Result<VerifiedBuffer> VerifiedBuffer::verify(std::string_view bytes, const VerifyLimits& limits,
                                              const Where& where) {
  Result<VerifiedBuffer> prepared = prepare(bytes, limits, where);
  if (!prepared.ok()) return prepared;
  const VerifiedBuffer& buffer = prepared.value();
  flatbuffers::Verifier::Options options;
  options.max_depth = limits.max_depth;
  options.max_tables = limits.max_tables;
  options.check_alignment = true;
  flatbuffers::Verifier verifier(buffer.data_, buffer.size_, options);
  if (!verifier.VerifyBuffer<Root>(nullptr)) {
    return malformed(where, "fails FlatBuffers verification (truncated, corrupt, or not this "
                            "kind of message)");
  }
  return prepared;
}

Status check_version(uint16_t version, const Where& where);

// Copies strings and byte vectors out of a verified buffer, enforcing each field's limit and a
// total budget: a buffer whose fields share storage (many offsets to one large vector) could
// otherwise decode into far more memory than it occupies. Our encoders never share storage, so
// a well-formed buffer never decodes into more string/vector bytes than its own size.
class FieldReader {
 public:
  explicit FieldReader(size_t budget_bytes) : remaining_bytes_(budget_bytes) {}

  // An absent string reads as empty.
  Status read_string(const flatbuffers::String* text, size_t max_bytes, const Where& where,
                     std::string& out);
  // An absent vector reads as empty.
  Status read_bytes(const flatbuffers::Vector<uint8_t>* bytes, size_t max_bytes,
                    const Where& where, std::string& out);

 private:
  Status copy(const char* data, size_t size, size_t max_bytes, const Where& where,
              std::string& out);
  size_t remaining_bytes_;
};

// The alignment a vector's elements need when read in place: that of a scalar element (8 for
// [ulong] and [long]); 1 otherwise (offsets are 4 bytes, which the verifier checks).
template <typename Vector>
struct ElementAlignment {
  static constexpr size_t value = 1;
};
template <typename T>
struct ElementAlignment<flatbuffers::Vector<T>> {
  static constexpr size_t value = std::is_arithmetic_v<T> || std::is_enum_v<T> ? alignof(T) : 1;
};

// Element count of an optional vector (absent = 0), checked against a limit; and the alignment
// of its elements, which the FlatBuffers verifier (2.0.8) does not check (google/flatbuffers
// #8397): it checks only the 4-byte alignment of the length before them, so an [ulong] can sit
// 4 bytes off, and reading its elements would be a misaligned load (undefined behaviour; found
// by peer_message_fuzz and client_response_fuzz, inputs in tests/fuzz/regressions/). Our
// encoder always aligns them.
template <typename Vector>
Status check_count(const Vector* vector, size_t max_count, const Where& where) {
  const size_t count = vector == nullptr ? 0 : vector->size();
  if (count > max_count) {
    return too_large(where, "has " + std::to_string(count) + " elements, over the limit of " +
                                std::to_string(max_count));
  }
  constexpr size_t alignment = ElementAlignment<Vector>::value;
  if constexpr (alignment > 1) {
    // VerifiedBuffer's data is 8-byte aligned, so the address's alignment is the offset's.
    if (count > 0 && reinterpret_cast<uintptr_t>(vector->Data()) % alignment != 0) {
      return malformed(where, "has elements that are not " + std::to_string(alignment) +
                                  "-byte aligned");
    }
  }
  return Status::ok_status();
}

// Encoder helpers: an empty string or byte vector is omitted from the buffer (0 offset), which
// decoders read back as empty; this keeps gossip packets small.
flatbuffers::Offset<flatbuffers::String> optional_string(flatbuffers::FlatBufferBuilder& builder,
                                                         std::string_view text);
flatbuffers::Offset<flatbuffers::Vector<uint8_t>> optional_bytes(
    flatbuffers::FlatBufferBuilder& builder, std::string_view bytes);

std::string finish_to_string(const flatbuffers::FlatBufferBuilder& builder);

}  // namespace conclave::wire::detail
