// The text form of a transaction that `conclave kv txn` reads from stdin:
//
//   # a comment; blank lines are ignored
//   if:
//     mod("config/a") = 7          # value | version | create | mod, then = != < >
//     value("config/b") != "x"     # value compares bytes; the others whole numbers
//   then:
//     put config/a "new value"
//     del config/tmp/ -prefix
//     get config/a
//   else:
//     get config/a
//
// Every section is optional (no `if:` means the comparisons hold, and `then:` runs). A word is
// either bare (no spaces, quotes or '#') or double-quoted with the escapes \" \\ \n \t. A key
// that does not exist has no value (only `!=` holds for it) and version and revisions 0.
// Errors name the line and what was expected there.
#pragma once

#include <string_view>

#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::agent {

Result<wire::KvTxnRequest> parse_txn(std::string_view text);

}  // namespace conclave::agent
