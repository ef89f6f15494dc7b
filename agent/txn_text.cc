#include "agent/txn_text.h"

#include <optional>
#include <string>
#include <vector>

namespace conclave::agent {

namespace {

Error line_error(size_t line, const std::string& message) {
  return make_error(ErrorCode::invalid_argument,
                    "transaction line " + std::to_string(line) + ": " + message);
}

// Splits one line into words (bare or double-quoted), dropping a trailing # comment.
// Punctuation of comparisons ( ) = != < > stands as words of its own outside quotes.
Result<std::vector<std::string>> words_of(std::string_view text, size_t line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      break;
    } else if (c == '"') {
      std::string word;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const char d = text[i++];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d != '\\') {
          word += d;
          continue;
        }
        if (i == text.size()) break;
        const char escaped = text[i++];
        switch (escaped) {
          case 'n': word += '\n'; break;
          case 't': word += '\t'; break;
          case '"': word += '"'; break;
          case '\\': word += '\\'; break;
          default:
            return line_error(line, std::string("unknown escape \\") + escaped +
                                        " (use \\\" \\\\ \\n or \\t)");
        }
      }
      if (!closed) return line_error(line, "a quoted word is not closed with \"");
      words.push_back(std::move(word));
    } else if (c == '(' || c == ')' || c == '=' || c == '<' || c == '>') {
      words.emplace_back(1, c);
      ++i;
    } else if (c == '!' && i + 1 < text.size() && text[i + 1] == '=') {
      words.emplace_back("!=");
      i += 2;
    } else {
      std::string word;
      while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
             text[i] != '"' && text[i] != '#' && text[i] != '(' && text[i] != ')' &&
             text[i] != '=' && text[i] != '<' && text[i] != '>' &&
             !(text[i] == '!' && i + 1 < text.size() && text[i + 1] == '=')) {
        word += text[i++];
      }
      words.push_back(std::move(word));
    }
  }
  return words;
}

Result<wire::TxnCompare> parse_compare(const std::vector<std::string>& words, size_t line) {
  // TARGET ( KEY ) OP ARGUMENT
  if (words.size() != 6 || words[1] != "(" || words[3] != ")") {
    return line_error(line, "expected a comparison such as mod(\"KEY\") = 7 or "
                            "value(\"KEY\") != \"text\"");
  }
  wire::TxnCompare compare;
  compare.key = words[2];
  const std::string& target = words[0];
  if (target == "value") {
    compare.target = wire::TxnTarget::value;
  } else if (target == "version") {
    compare.target = wire::TxnTarget::version;
  } else if (target == "create") {
    compare.target = wire::TxnTarget::create_revision;
  } else if (target == "mod") {
    compare.target = wire::TxnTarget::mod_revision;
  } else {
    return line_error(line, "'" + target + "' is not value, version, create or mod");
  }
  const std::string& op = words[4];
  if (op == "=") {
    compare.op = wire::TxnCompareOp::equal;
  } else if (op == "!=") {
    compare.op = wire::TxnCompareOp::not_equal;
  } else if (op == "<") {
    compare.op = wire::TxnCompareOp::less;
  } else if (op == ">") {
    compare.op = wire::TxnCompareOp::greater;
  } else {
    return line_error(line, "'" + op + "' is not = != < or >");
  }
  if (compare.target == wire::TxnTarget::value) {
    compare.value = words[5];
    return compare;
  }
  const std::string& number = words[5];
  if (number.empty() || number.size() > 20 ||
      number.find_first_not_of("0123456789") != std::string::npos) {
    return line_error(line, "'" + number + "' is not a whole number");
  }
  try {
    compare.number = std::stoull(number);
  } catch (const std::exception&) {
    return line_error(line, "'" + number + "' is too large");
  }
  return compare;
}

Result<wire::TxnOp> parse_op(const std::vector<std::string>& words, size_t line) {
  wire::TxnOp op;
  const std::string& verb = words[0];
  if (verb == "put" && words.size() == 3) {
    op.type = wire::TxnOpType::put;
    op.key = words[1];
    op.value = words[2];
  } else if (verb == "get" && words.size() == 2) {
    op.type = wire::TxnOpType::get;
    op.key = words[1];
  } else if (verb == "del" && (words.size() == 2 ||
                               (words.size() == 3 && words[2] == "-prefix"))) {
    op.type = wire::TxnOpType::del;
    op.key = words[1];
    op.prefix = words.size() == 3;
  } else {
    return line_error(line, "expected put KEY VALUE, get KEY, or del KEY [-prefix]");
  }
  return op;
}

}  // namespace

Result<wire::KvTxnRequest> parse_txn(std::string_view text) {
  enum class Section { none, compares, success, failure };
  Section section = Section::none;
  wire::KvTxnRequest txn;
  size_t line_number = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    Result<std::vector<std::string>> words = words_of(line, line_number);
    if (!words.ok()) return words.error();
    if (words.value().empty()) continue;
    const std::vector<std::string>& w = words.value();
    if (w.size() == 1 && (w[0] == "if:" || w[0] == "then:" || w[0] == "else:")) {
      const Section next = w[0] == "if:"     ? Section::compares
                           : w[0] == "then:" ? Section::success
                                             : Section::failure;
      if (next <= section) {
        return line_error(line_number, "'" + w[0] + "' again or out of order (if:, then:, else:)");
      }
      section = next;
      continue;
    }
    switch (section) {
      case Section::none:
        return line_error(line_number, "expected if:, then: or else: before '" + w[0] + "'");
      case Section::compares: {
        if (txn.compares.size() >= wire::kMaxTxnCompares) {
          return line_error(line_number, "more than " + std::to_string(wire::kMaxTxnCompares) +
                                             " comparisons");
        }
        Result<wire::TxnCompare> compare = parse_compare(w, line_number);
        if (!compare.ok()) return compare.error();
        txn.compares.push_back(std::move(compare).value());
        break;
      }
      case Section::success:
      case Section::failure: {
        std::vector<wire::TxnOp>& ops = section == Section::success ? txn.success : txn.failure;
        if (ops.size() >= wire::kMaxTxnOps) {
          return line_error(line_number,
                            "more than " + std::to_string(wire::kMaxTxnOps) + " operations");
        }
        Result<wire::TxnOp> op = parse_op(w, line_number);
        if (!op.ok()) return op.error();
        ops.push_back(std::move(op).value());
        break;
      }
    }
    if (end == text.size()) break;
  }
  if (txn.compares.empty() && txn.success.empty() && txn.failure.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "the transaction is empty: give if:, then: and else: sections on stdin "
                      "(see `conclave kv txn --help`)");
  }
  return txn;
}

}  // namespace conclave::agent
