#include "services/files/thumbnail.hpp"

#include <spdlog/spdlog.h>
#include <vips/vips.h>

#include <mutex>
#include <stdexcept>

namespace taskhub::files {

namespace {

void init_vips() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (VIPS_INIT("taskhub") != 0) throw std::runtime_error("libvips: initialisation failed");
    vips_cache_set_max(0);          // one image at a time per job: no operation cache to grow
    vips_concurrency_set(1);        // the worker pool is the parallelism
  });
}

struct Unref {
  VipsImage* img = nullptr;
  ~Unref() {
    if (img) g_object_unref(img);
  }
};

}  // namespace

bool thumbnailable(std::string_view t) {
  return t == "image/png" || t == "image/jpeg" || t == "image/gif" || t == "image/webp";
}

std::string thumbnail_key(const std::string& sha256_hex, int size) {
  return "thumbs/" + sha256_hex.substr(0, 2) + "/" + sha256_hex + "-" + std::to_string(size) + ".png";
}

bool make_thumbnail(const std::string& source, int size, const std::string& dest) {
  init_vips();
  {
    // The header only (no pixels decoded) to refuse decompression bombs before any work.
    Unref probe{vips_image_new_from_file(source.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr)};
    if (!probe.img) {
      spdlog::info("files: no thumbnail for {}: {}", source, vips_error_buffer());
      vips_error_clear();
      return false;
    }
    int64_t pixels = int64_t{vips_image_get_width(probe.img)} * vips_image_get_height(probe.img);
    if (pixels > kMaxThumbnailPixels) return false;
  }
  Unref thumb;
  if (vips_thumbnail(source.c_str(), &thumb.img, size, "height", size, "size", VIPS_SIZE_DOWN, nullptr) != 0) {
    spdlog::info("files: no thumbnail for {}: {}", source, vips_error_buffer());
    vips_error_clear();
    return false;
  }
  if (vips_pngsave(thumb.img, dest.c_str(), "strip", TRUE, nullptr) != 0) {
    std::string err = vips_error_buffer();
    vips_error_clear();
    throw std::runtime_error("libvips: cannot write the thumbnail: " + err);
  }
  return true;
}

}  // namespace taskhub::files
