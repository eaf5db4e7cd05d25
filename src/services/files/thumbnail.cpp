#include "services/files/thumbnail.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <stdexcept>

#include "core/subprocess.hpp"

namespace taskhub::files {

// libvips runs in child processes (the `vipsheader` and `vipsthumbnail` tools of
// libvips-tools), not in the server: an image decoder fed untrusted bytes crashes or
// misbehaves in a child that dies at its deadline, and the server does not map the ~100
// libraries libvips links (about 12 MiB of resident memory in every taskhub process).

namespace {

constexpr std::chrono::seconds kProbeTimeout{10};
constexpr std::chrono::seconds kThumbnailTimeout{60};

std::optional<int64_t> header_field(const std::string& source, const char* field) {
  auto r = run_process({"vipsheader", "-f", field, source}, kProbeTimeout);
  if (r.exit_code != 0) return std::nullopt;
  try {
    return std::stoll(r.output);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

bool thumbnailable(std::string_view t) {
  return t == "image/png" || t == "image/jpeg" || t == "image/gif" || t == "image/webp";
}

std::string thumbnail_key(const std::string& sha256_hex, int size) {
  return "thumbs/" + sha256_hex.substr(0, 2) + "/" + sha256_hex + "-" + std::to_string(size) + ".png";
}

bool make_thumbnail(const std::string& source, int size, const std::string& dest) {
  // The header only (no pixels decoded) to refuse decompression bombs before any work.
  auto w = header_field(source, "width"), h = header_field(source, "height");
  if (!w || !h || *w <= 0 || *h <= 0) {
    spdlog::info("files: no thumbnail for {}: not a readable image", source);
    return false;
  }
  if (*w * *h > kMaxThumbnailPixels) return false;
  // "NxN>": fit into the box, never enlarge; [strip]: no metadata in the PNG.
  std::string box = std::to_string(size) + "x" + std::to_string(size) + ">";
  // vipsthumbnail reads a relative output path as relative to the input's directory.
  const std::string out = std::filesystem::absolute(dest).string();
  auto r = run_process({"vipsthumbnail", source, "--size", box, "--vips-concurrency=1", "-o", out + "[strip]"},
                       kThumbnailTimeout);
  if (r.timed_out) throw std::runtime_error("vipsthumbnail: no answer within 60 s for " + source);
  if (r.exit_code != 0) {
    spdlog::info("files: no thumbnail for {}: {}", source, r.error.substr(0, 300));
    return false;
  }
  return true;
}

}  // namespace taskhub::files
