#include "services/files/names.hpp"

#include <algorithm>
#include <cstdint>

namespace taskhub::files {

namespace {

// Decodes one UTF-8 sequence at s[i]; returns its length (0 when invalid) and the code point.
std::size_t utf8_next(std::string_view s, std::size_t i, uint32_t& cp) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  cp = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
  for (std::size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c >> 6) != 2) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  // Overlong forms, surrogates and out-of-range values are invalid.
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
  return len;
}

bool dropped(uint32_t cp) {
  if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) return true;  // C0, DEL, C1
  if (cp == 0x061c || cp == 0x200e || cp == 0x200f) return true;          // bidi marks
  if (cp >= 0x202a && cp <= 0x202e) return true;                          // embeddings, overrides
  if (cp >= 0x2066 && cp <= 0x2069) return true;                          // isolates
  if (cp == 0xfeff || (cp >= 0x200b && cp <= 0x200d)) return true;         // BOM, zero-width
  return false;
}

// Longest prefix of s of at most n bytes that ends on a character boundary (s is valid UTF-8).
std::string_view utf8_prefix(std::string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

std::string sanitize_file_name(std::string_view raw) {
  auto slash = raw.find_last_of("/\\");
  if (slash != std::string_view::npos) raw.remove_prefix(slash + 1);
  raw = raw.substr(0, 4096);  // bound the work on absurd input
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    uint32_t cp = 0;
    std::size_t len = utf8_next(raw, i, cp);
    if (len == 0) {
      out.push_back('_');
      ++i;
      continue;
    }
    if (!dropped(cp)) out.append(raw.substr(i, len));
    i += len;
  }
  auto junk = [](char c) { return c == ' ' || c == '.'; };
  while (!out.empty() && junk(out.back())) out.pop_back();
  std::size_t lead = 0;
  while (lead < out.size() && junk(out[lead])) ++lead;
  out.erase(0, lead);
  if (out.empty()) return "file";
  if (out.size() > kMaxNameBytes) {
    auto dot = out.rfind('.');
    std::string ext = dot != std::string::npos && out.size() - dot <= 16 ? out.substr(dot) : "";
    out = std::string(utf8_prefix(out, kMaxNameBytes - ext.size())) + ext;
  }
  return out;
}

std::string attachment_disposition(std::string_view name) {
  std::string ascii, encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    ascii.push_back(c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ? '_' : ch);
    // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
    bool attr = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                std::string_view("!#$&+-.^_`|~").find(ch) != std::string_view::npos;
    if (attr) {
      encoded.push_back(ch);
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 15]);
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

std::string served_content_type(std::string_view detected) {
  std::string t(detected.substr(0, detected.find(';')));
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::string_view kActive[] = {"html", "svg", "xml", "javascript", "ecmascript",
                                                 "x-shockwave", "xsl", "text/css", "cache-manifest"};
  for (auto word : kActive)
    if (t.find(word) != std::string::npos) return "application/octet-stream";
  if (t.empty() || t.find('/') == std::string::npos) return "application/octet-stream";
  if (t.rfind("text/", 0) == 0) return t + "; charset=utf-8";
  return t;
}

}  // namespace taskhub::files
