#include "adapters/localfs/local_blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/ids.hpp"

namespace fs = std::filesystem;

namespace taskhub {

namespace {

constexpr std::size_t kMaxKey = 256;
constexpr const char* kTmp = ".tmp";  // never a valid key's first segment (keys start with [a-z0-9])

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

void fsync_dir(const std::string& dir) {
  FdGuard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) ::fsync(d.fd);
}

// Copies in the kernel (copy_file_range), falling back to read/write across file systems.
void copy_fd(int in, int out, const std::string& src) {
  for (;;) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n == 0) return;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) fail("cannot copy", src);
    break;
  }
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read", src);
    if (n == 0) return;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out, buf + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail("cannot write a copy of", src);
      off += w;
    }
  }
}

// Copies src to a new temp file in tmp_dir, fsyncs it, renames it to dest: all or nothing.
void atomic_copy(const std::string& src, const std::string& tmp_dir, const std::string& dest) {
  FdGuard in{::open(src.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) fail("cannot open", src);
  std::string tmp = tmp_dir + "/" + new_uuid_v7();
  FdGuard out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (out.fd < 0) fail("cannot create", tmp);
  try {
    copy_fd(in.fd, out.fd, src);
    if (::fsync(out.fd) != 0) fail("cannot fsync", tmp);
    std::error_code ec;
    fs::path parent = fs::path(dest).parent_path();
    fs::create_directories(parent, ec);
    if (ec) throw std::runtime_error("cannot create " + parent.string() + ": " + ec.message());
    if (::rename(tmp.c_str(), dest.c_str()) != 0) fail("cannot rename into", dest);
    fsync_dir(parent.string());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace

bool valid_blob_key(const std::string& key) {
  if (key.empty() || key.size() > kMaxKey || key.front() == '/' || key.front() == '.') return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  if (key.back() == '/' || key.find("//") != std::string::npos || key.find("..") != std::string::npos) return false;
  // No segment may be "." (a/./b) either.
  if (key.find("/./") != std::string::npos || key.ends_with("/.")) return false;
  return true;
}

LocalBlobStore::LocalBlobStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  tmp_dir_ = root_ + "/" + kTmp;
  std::error_code ec;
  fs::create_directories(tmp_dir_, ec);
  if (ec) throw std::runtime_error("files: cannot create " + tmp_dir_ + ": " + ec.message());
  // Temp files of puts interrupted by a crash: nobody can be writing them now (one store per
  // root per process; another process sharing the root would use its own uuid names, and a
  // put in flight there loses nothing but a retry).
  for (auto it = fs::directory_iterator(tmp_dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code rec;
    fs::remove(it->path(), rec);
  }
}

std::string LocalBlobStore::path_of(const std::string& key) const {
  if (!valid_blob_key(key)) throw std::invalid_argument("invalid blob key");
  return root_ + "/" + key;
}

void LocalBlobStore::put(const std::string& key, const std::string& source_path, const std::string&) {
  atomic_copy(source_path, tmp_dir_, path_of(key));
}

void LocalBlobStore::get(const std::string& key, const std::string& dest_path) {
  std::string p = path_of(key);
  FdGuard in{::open(p.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) {
    if (errno == ENOENT) throw BlobNotFound("no blob " + key);
    fail("cannot open", p);
  }
  FdGuard out{::open(dest_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (out.fd < 0) fail("cannot create", dest_path);
  copy_fd(in.fd, out.fd, p);
}

std::optional<std::string> LocalBlobStore::local_path(const std::string& key) {
  std::string p = path_of(key);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return p;
}

void LocalBlobStore::remove(const std::string& key) {
  std::string p = path_of(key);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) fail("cannot remove", p);
}

std::optional<BlobInfo> LocalBlobStore::stat(const std::string& key) {
  std::string p = path_of(key);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return BlobInfo{key, static_cast<uint64_t>(st.st_size),
                  int64_t{st.st_mtim.tv_sec} * 1000 + st.st_mtim.tv_nsec / 1'000'000};
}

void LocalBlobStore::list(const std::string& prefix, const std::function<bool(const BlobInfo&)>& fn) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = fs::relative(it->path(), root_, ec).generic_string();
    if (ec) break;
    if (rel.front() == '.') {
      // .tmp (our temp files) and other dot directories (the upload spool) hold no blobs.
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec) || !valid_blob_key(rel) || rel.rfind(prefix, 0) != 0) continue;
    auto info = stat(rel);
    if (info && !fn(*info)) return;
  }
  if (ec) throw std::runtime_error("files: cannot list " + root_ + ": " + ec.message());
}

std::optional<std::string> LocalBlobStore::presigned_get(const std::string& key, int, const std::string&) {
  (void)path_of(key);  // same validation as every other call
  return std::nullopt;  // the server streams local files itself
}

}  // namespace taskhub
