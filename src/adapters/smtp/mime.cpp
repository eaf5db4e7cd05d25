#include "adapters/smtp/mime.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <random>
#include <stdexcept>

namespace taskhub::mail {

namespace {

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

void reject_line_breaks(std::string_view what, std::string_view s) {
  if (has_line_break(s)) throw std::invalid_argument(std::string(what) + " must not contain CR, LF or NUL");
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes).
std::size_t utf8_len(unsigned char c) {
  if (c >= 0xf0 && c < 0xf8) return 4;
  if (c >= 0xe0) return c < 0xf0 ? 3 : 1;
  if (c >= 0xc0) return 2;
  return 1;
}

// RFC 2047 encoded words of at most 75 characters, never splitting a UTF-8 character.
std::string encoded_words(std::string_view s) {
  constexpr std::size_t kMaxRaw = 45;  // 60 base64 chars + 12 of "=?UTF-8?B??=" <= 75
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size()) {
      std::size_t n = utf8_len(static_cast<unsigned char>(s[j]));
      if (j + n > s.size()) n = s.size() - j;
      if (j + n - i > kMaxRaw) break;
      j += n;
    }
    if (j == i) j = i + 1;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(s.substr(i, j - i)) + "?=";
    i = j;
  }
  return out;
}

// Fold a long ASCII unstructured value at spaces so lines stay near 78 characters.
std::string fold_ascii(std::string_view s, std::size_t first_line_used) {
  std::string out;
  std::size_t line = first_line_used;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t sp = s.find(' ', i + 1);
    std::size_t end = sp == std::string_view::npos ? s.size() : sp;
    std::string_view word = s.substr(i, end - i);  // includes its leading space (except first)
    if (line + word.size() > 78 && !out.empty() && word.front() == ' ') {
      out += "\r\n";
      line = 0;
    }
    out += word;
    line += word.size();
    i = end;
  }
  return out;
}

bool header_name_ok(std::string_view n) {
  if (n.empty() || n.size() > 76) return false;
  for (unsigned char c : n)
    if (c < 33 || c > 126 || c == ':') return false;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

constexpr std::array<std::string_view, 10> kReservedHeaders = {
    "Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    "Bcc", "Sender"};

std::string random_boundary() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string b = "=_taskhub_";  // "=_" can never occur in quoted-printable text
  for (int i = 0; i < 24; ++i) b += hex[rd() & 15];
  return b;
}

std::string header_line(std::string_view name, std::string_view value) {
  return std::string(name) + ": " + std::string(value) + "\r\n";
}

}  // namespace

Address parse_address(std::string_view text) {
  reject_line_breaks("e-mail address", text);
  std::string_view t = trim(text);
  Address a;
  std::string_view addr = t;
  auto lt = t.rfind('<');
  if (lt != std::string_view::npos) {
    if (t.back() != '>') throw std::invalid_argument("malformed e-mail address");
    addr = t.substr(lt + 1, t.size() - lt - 2);
    std::string_view name = trim(t.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
      std::string unq;
      for (std::size_t i = 1; i + 1 < name.size(); ++i) {
        if (name[i] == '\\' && i + 2 < name.size()) ++i;
        unq.push_back(name[i]);
      }
      a.display = unq;
    } else {
      a.display = std::string(name);
    }
  }
  auto at = addr.rfind('@');
  if (addr.empty() || at == std::string_view::npos || at == 0 || at + 1 == addr.size() || addr.size() > 254)
    throw std::invalid_argument("malformed e-mail address");
  for (unsigned char c : addr)
    if (c <= 32 || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == '\\' || c == '"' ||
        c == 127)
      throw std::invalid_argument("malformed e-mail address");
  a.addr = std::string(addr);
  return a;
}

std::string format_address(const Address& a) {
  if (a.display.empty()) return a.addr;
  std::string name;
  if (!is_ascii(a.display) || a.display.find("=?") != std::string::npos) {
    name = encoded_words(a.display);
  } else if (a.display.find_first_of("()<>[]:;@\\,.\"") != std::string::npos) {
    name = "\"";
    for (char c : a.display) {
      if (c == '"' || c == '\\') name += '\\';
      name += c;
    }
    name += '"';
  } else {
    name = a.display;
  }
  return name + " <" + a.addr + ">";
}

std::string encode_header_value(std::string_view value) {
  reject_line_breaks("header value", value);
  if (!is_ascii(value) || value.find("=?") != std::string_view::npos) return encoded_words(value);
  return std::string(value);
}

std::string quoted_printable(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r' && nl != std::string_view::npos) line.remove_suffix(1);
    std::size_t col = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      std::string tok;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
        tok.assign(1, static_cast<char>(c));
      } else {
        tok = {'=', hex[c >> 4], hex[c & 15]};
      }
      // Keep lines at most 76 characters, counting the soft break's '='.
      std::size_t limit = last ? 76 : 75;
      if (col + tok.size() > limit) {
        out += "=\r\n";
        col = 0;
      }
      out += tok;
      col += tok.size();
    }
    if (nl == std::string_view::npos) break;
    out += "\r\n";
    pos = nl + 1;
  }
  return out;
}

std::string rfc5322_date(std::time_t t) {
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

void validate(const EmailMessage& msg) {
  parse_address(msg.to);
  reject_line_breaks("subject", msg.subject);
  for (const auto& [name, value] : msg.headers) {
    if (!header_name_ok(name)) throw std::invalid_argument("invalid header name");
    reject_line_breaks("header " + name, value);
    for (auto reserved : kReservedHeaders)
      if (iequals(name, reserved)) throw std::invalid_argument("header " + name + " is set by the mailer");
  }
}

std::string build_message(const EmailMessage& msg, const Address& from, std::string_view message_id, std::time_t now) {
  validate(msg);
  Address to = parse_address(msg.to);
  std::string out;
  out += header_line("Date", rfc5322_date(now));
  out += header_line("From", format_address(from));
  out += header_line("To", format_address(to));
  std::string subject = encode_header_value(msg.subject);
  if (subject == msg.subject) subject = fold_ascii(subject, 9);
  out += header_line("Subject", subject);
  out += header_line("Message-ID", "<" + std::string(message_id) + ">");
  for (const auto& [name, value] : msg.headers) out += header_line(name, encode_header_value(value));
  out += "MIME-Version: 1.0\r\n";
  if (msg.html_body.empty()) {
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    out += quoted_printable(msg.text_body);
    out += "\r\n";
    return out;
  }
  std::string boundary = random_boundary();
  out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
  out += "This is a multi-part message in MIME format.\r\n";
  out += "--" + boundary + "\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += quoted_printable(msg.text_body);
  out += "\r\n--" + boundary + "\r\n";
  out += "Content-Type: text/html; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  out += quoted_printable(msg.html_body);
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

}  // namespace taskhub::mail
