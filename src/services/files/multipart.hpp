#pragma once
// multipart/form-data (RFC 7578) read from a spooled request body on disk, in blocks: memory
// stays at a few blocks whatever the file size. Only the part named `field` is kept: its bytes
// are written to `dest_path`; other parts (at most kMaxParts) are skipped. Part headers are
// bounded (kMaxPartHeaderBytes). A body that ends before the closing delimiter is refused.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace taskhub::files {

inline constexpr std::size_t kMaxPartHeaderBytes = 8 * 1024;
inline constexpr int kMaxParts = 16;

// The boundary parameter of a multipart/form-data Content-Type; nullopt when the type is not
// multipart/form-data or the boundary is missing or invalid (1..70 characters).
std::optional<std::string> multipart_boundary(std::string_view content_type);

struct MultipartFile {
  std::string filename;  // as sent (filename*=UTF-8'' or filename=), not sanitised; may be ""
  uint64_t size = 0;
};

// Throws ApiError 400 (field `field`) when the body is malformed, truncated, or has no such part;
// std::runtime_error on I/O errors. dest_path is created (or truncated) when the part is found.
MultipartFile extract_multipart_file(const std::string& body_path, const std::string& boundary,
                                     std::string_view field, const std::string& dest_path);

}  // namespace taskhub::files
