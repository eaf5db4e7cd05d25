#pragma once
// What the bytes of a file are: size and SHA-256 (read in blocks), and the MIME type libmagic
// detects from the content (never from the name or the client's Content-Type).
#include <cstdint>
#include <string>

namespace taskhub::files {

struct FileFacts {
  uint64_t size = 0;
  std::string sha256;        // lowercase hex
  std::string content_type;  // e.g. "image/png"; "application/octet-stream" when unknown
};

// Throws std::runtime_error when the file cannot be read or libmagic cannot load its database.
FileFacts inspect_file(const std::string& path);

}  // namespace taskhub::files
