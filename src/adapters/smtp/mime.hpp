#pragma once
// RFC 5322 / MIME message construction for the mailer adapters (no I/O; unit-testable).
#include <ctime>
#include <string>
#include <string_view>

#include "ports/mailer.hpp"

namespace taskhub::mail {

struct Address {
  std::string display;  // may be empty; UTF-8
  std::string addr;     // local@domain
};

// "addr@example.com", "<addr@example.com>", "Name <addr@example.com>", "\"Name, Jr\" <a@b>".
// Throws std::invalid_argument on CR/LF/NUL or anything that is not one address.
Address parse_address(std::string_view text);

// Address formatted for a header: display name quoted or RFC 2047-encoded as needed.
std::string format_address(const Address& a);

// Unstructured header value (Subject...): as is when ASCII, RFC 2047 encoded-words
// (=?UTF-8?B?...?=, folded with CRLF SP) otherwise. Throws std::invalid_argument on CR/LF/NUL.
std::string encode_header_value(std::string_view value);

// Quoted-printable (RFC 2045) with CRLF line endings; input line breaks (LF or CRLF) become CRLF.
std::string quoted_printable(std::string_view text);

// "Thu, 01 Jan 1970 00:00:00 +0000"
std::string rfc5322_date(std::time_t t);

// Builds the whole message (headers and body, CRLF line endings, no dot-stuffing).
// Throws std::invalid_argument on header injection attempts or malformed addresses.
std::string build_message(const EmailMessage& msg, const Address& from, std::string_view message_id, std::time_t now);

// Validates msg without building it (the log adapter uses it too).
void validate(const EmailMessage& msg);

}  // namespace taskhub::mail
