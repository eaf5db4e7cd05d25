#pragma once
// File names and types as the files service stores and serves them (issue 5, "Safety").
#include <cstddef>
#include <string>
#include <string_view>

namespace taskhub::files {

inline constexpr std::size_t kMaxNameBytes = 255;

// The name to store for a client-supplied file name: the last path component (after '/' or
// '\'), without control characters, Unicode bidirectional overrides/isolates and marks (RTL
// override tricks like "invoice\u202Efdp.exe"), with invalid UTF-8 replaced by '_', trimmed of
// spaces and dots at both ends (no hidden files, no "..", no Windows trailing dots), at most
// kMaxNameBytes bytes (cut on a character boundary, keeping a short extension). Empty result:
// "file". Never throws.
std::string sanitize_file_name(std::string_view raw);

// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266).
std::string attachment_disposition(std::string_view name);

// The Content-Type a download is served with: the stored (detected) type, except for types a
// browser would render or run (HTML, SVG, XML, JavaScript, ...), served as
// application/octet-stream. Downloads are attachments with nosniff and a sandbox CSP anyway.
std::string served_content_type(std::string_view detected);

}  // namespace taskhub::files
