#include "services/files/multipart.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/error.hpp"

namespace taskhub::files {

namespace {

constexpr std::size_t kBlock = 64 * 1024;

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parameters of a header value such as `form-data; name="file"; filename="a b.txt"`.
// Returns the value of `param` (unquoted, backslash escapes resolved), or nullopt.
std::optional<std::string> header_param(std::string_view value, std::string_view param) {
  std::size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    std::size_t eq = value.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name = lower(trim(value.substr(i, eq - i)));
    std::size_t j = eq + 1;
    std::string v;
    if (j < value.size() && value[j] == '"') {
      ++j;
      while (j < value.size() && value[j] != '"') {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        v.push_back(value[j++]);
      }
      if (j < value.size()) ++j;  // closing quote
      std::size_t semi = value.find(';', j);
      i = semi;
    } else {
      std::size_t semi = value.find(';', j);
      v = std::string(trim(value.substr(j, semi == std::string_view::npos ? std::string_view::npos : semi - j)));
      i = semi;
    }
    if (name == param) return v;
  }
  return std::nullopt;
}

// filename*=UTF-8''percent-encoded (RFC 5987).
std::optional<std::string> decode_ext_value(std::string_view v) {
  auto q = v.find("''");
  if (q == std::string_view::npos || lower(v.substr(0, q)) != "utf-8") return std::nullopt;
  std::string out;
  for (std::size_t i = q + 2; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The body as a stream of blocks with a small look-behind window.
class Reader {
 public:
  explicit Reader(int fd) : fd_(fd) {}
  // Appends up to kBlock bytes; false at end of file.
  bool fill() {
    std::size_t old = buf_.size();
    buf_.resize(old + kBlock);
    for (;;) {
      ssize_t n = ::read(fd_, buf_.data() + old, kBlock);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("reading the upload: ") + std::strerror(errno));
      buf_.resize(old + static_cast<std::size_t>(n));
      return n > 0;
    }
  }
  // Consumes bytes up to and including `delim`, passing those before it to sink (bounded by
  // `limit` when sink is null: header blocks). False when the body ends first.
  template <class Sink>
  bool until(std::string_view delim, Sink&& sink, std::size_t limit = SIZE_MAX) {
    std::size_t consumed = 0;
    for (;;) {
      std::string_view view(buf_.data() + pos_, buf_.size() - pos_);
      auto at = view.find(delim);
      if (at != std::string_view::npos) {
        if (consumed + at > limit) return false;
        sink(view.substr(0, at));
        pos_ += at + delim.size();
        return true;
      }
      // Keep the last delim.size()-1 bytes: the delimiter may straddle two blocks.
      std::size_t keep = std::min(view.size(), delim.size() - 1);
      std::size_t out = view.size() - keep;
      consumed += out;
      if (consumed > limit) return false;
      sink(view.substr(0, out));
      pos_ += out;
      compact();
      if (!fill()) return false;
    }
  }
  // The next n bytes (fewer at end of file), consumed.
  std::string take(std::size_t n) {
    while (buf_.size() - pos_ < n && fill()) {
    }
    std::string s(buf_.data() + pos_, std::min(n, buf_.size() - pos_));
    pos_ += s.size();
    return s;
  }

 private:
  void compact() {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  int fd_;
  std::string buf_;
  std::size_t pos_ = 0;
};

ApiError malformed(std::string_view field, const std::string& why) {
  return validation_error({{std::string(field), why}}, "The multipart body is invalid: " + why + ".");
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (lower(trim(content_type.substr(0, semi))) != "multipart/form-data") return std::nullopt;
  auto b = header_param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  for (char c : *b)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return std::nullopt;
  return b;
}

MultipartFile extract_multipart_file(const std::string& body_path, const std::string& boundary,
                                     std::string_view field, const std::string& dest_path) {
  Fd in{::open(body_path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) throw std::runtime_error("cannot open the upload " + body_path);
  Reader r(in.fd);
  const std::string first = "--" + boundary;
  const std::string delim = "\r\n--" + boundary;
  auto discard = [](std::string_view) {};
  // Preamble (ignored), then the first delimiter. A body that starts with it has an empty preamble.
  std::string head = r.take(first.size());
  if (head != first) {
    if (!r.until(delim, discard, 64 * 1024)) throw malformed(field, "no multipart boundary found");
  }
  std::optional<MultipartFile> found;
  for (int part = 0;; ++part) {
    std::string after = r.take(2);
    if (after == "--") break;  // closing delimiter
    if (after != "\r\n") throw malformed(field, "a boundary is not followed by a line end");
    if (part >= kMaxParts) throw malformed(field, "more than " + std::to_string(kMaxParts) + " parts");
    std::string headers;
    if (!r.until("\r\n\r\n", [&](std::string_view s) { headers.append(s); }, kMaxPartHeaderBytes))
      throw malformed(field, "part headers are missing or longer than 8 KiB");
    std::optional<std::string> name, filename, filename_ext;
    for (std::size_t i = 0; i <= headers.size();) {
      auto eol = headers.find("\r\n", i);
      std::string_view line(headers.data() + i, (eol == std::string::npos ? headers.size() : eol) - i);
      auto colon = line.find(':');
      if (colon != std::string_view::npos && lower(trim(line.substr(0, colon))) == "content-disposition") {
        std::string_view v = line.substr(colon + 1);
        name = header_param(v, "name");
        filename = header_param(v, "filename");
        if (auto ext = header_param(v, "filename*")) filename_ext = decode_ext_value(*ext);
      }
      if (eol == std::string::npos) break;
      i = eol + 2;
    }
    bool wanted = name && *name == field && !found;
    if (!wanted) {
      if (!r.until(delim, discard)) throw malformed(field, "the body ends inside a part");
      continue;
    }
    Fd out{::open(dest_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
    if (out.fd < 0) throw std::runtime_error("cannot create " + dest_path);
    MultipartFile f;
    f.filename = filename_ext ? *filename_ext : filename.value_or("");
    auto write = [&](std::string_view s) {
      while (!s.empty()) {
        ssize_t n = ::write(out.fd, s.data(), s.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error(std::string("writing the upload: ") + std::strerror(errno));
        s.remove_prefix(static_cast<std::size_t>(n));
        f.size += static_cast<uint64_t>(n);
      }
    };
    if (!r.until(delim, write)) throw malformed(field, "the body ends inside the file part");
    found = std::move(f);
  }
  if (!found) throw malformed(field, "no part named \"" + std::string(field) + "\"");
  return *found;
}

}  // namespace taskhub::files
