#pragma once
// Image thumbnails (libvips): made by a background job after an image upload, in two sizes,
// stored in the blob store beside the blob (thumbs/<2 hex>/<sha256>-<size>.png), shared by
// every attachment with that content. libvips stays in thumbnail.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace taskhub::files {

inline constexpr int kThumbnailSizes[] = {64, 256};  // longest side, pixels
// Images larger than this many pixels are not thumbnailed (decompression bombs).
inline constexpr int64_t kMaxThumbnailPixels = 50'000'000;

// True for the raster types a thumbnail is made of (never SVG: no renderer for untrusted XML).
bool thumbnailable(std::string_view content_type);

std::string thumbnail_key(const std::string& sha256_hex, int size);

// Writes a PNG of `source` (an image file) scaled to fit size x size (aspect kept, never
// enlarged) to dest. Returns false when the image cannot be decoded or is too large (no
// thumbnail then, not an error worth retrying); throws std::runtime_error on other failures.
bool make_thumbnail(const std::string& source, int size, const std::string& dest);

}  // namespace taskhub::files
