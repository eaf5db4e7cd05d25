#pragma once
// Test-only: a real S3-protocol server (the s3rver npm package, web/node_modules) on a free port
// in a temporary directory, with one bucket, started and stopped by the test. Tests skip only
// when node or s3rver is missing (scripts/setup installs both).
//
// What s3rver 3.7 checks (read in its lib/middleware/authentication.js): the access key id
// (only S3RVER is known), the presence and shape of the SigV4 fields, the 15-minute skew of
// header-signed requests and the expiry of presigned URLs. It does NOT verify SigV4 signatures
// ("Signature version 4 calculation is unimplemented"): signature correctness is covered by
// AWS's documented examples and the comparison with botocore (sigv4_test.cpp), and on the wire
// by SigV4CheckingProxy below.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "adapters/test_ports.hpp"
#include "ports/blob_store.hpp"

namespace taskhub::s3::testing {

inline std::string source_dir() {
  if (const char* d = std::getenv("TASKHUB_SOURCE_DIR"); d && *d) return d;
  // Run by hand from the build directory or the source tree.
  for (auto p : {std::filesystem::current_path(), std::filesystem::current_path().parent_path()})
    if (std::filesystem::exists(p / "src/ports/blob_store.hpp")) return p.string();
  return "";
}

inline std::string s3rver_script() {
  std::string root = source_dir();
  if (root.empty()) return "";
  auto p = std::filesystem::path(root) / "web/node_modules/s3rver/bin/s3rver.js";
  return std::filesystem::exists(p) ? p.string() : "";
}

inline std::string node_binary() {
  for (const char* p : {"/usr/bin/node", "/usr/local/bin/node"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

inline bool s3rver_available() { return !node_binary().empty() && !s3rver_script().empty(); }

class S3rver {
 public:
  static constexpr const char* kAccessKey = "S3RVER";  // s3rver's one built-in account
  static constexpr const char* kSecret = "S3RVER";

  explicit S3rver(std::string bucket = "taskhub-test") : bucket_(std::move(bucket)), port_(taskhub::test_support::free_port()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "taskhub-s3rver-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    start();
  }
  ~S3rver() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  int port() const { return port_; }
  const std::string& bucket() const { return bucket_; }
  const std::string& dir() const { return dir_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  BlobStoreConfig config() const {
    BlobStoreConfig c;
    c.s3_bucket = bucket_;
    c.s3_region = "us-east-1";
    c.s3_endpoint = endpoint();
    c.access_key_id = kAccessKey;
    c.secret_access_key = kSecret;
    c.s3_path_style = true;
    return c;
  }

 private:
  void start() {
    std::string node = node_binary(), script = s3rver_script(), port = std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);  // its banner; errors still go to stderr
      if (devnull >= 0) ::dup2(devnull, 1);
      // --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation tokens with DES, which
      // Node 17+ (OpenSSL 3) only offers from the legacy provider ("digital envelope routines::
      // unsupported", HTTP 500, on every truncated listing otherwise).
      ::execl(node.c_str(), node.c_str(), "--openssl-legacy-provider", script.c_str(), "-d", dir_.c_str(), "-a", "127.0.0.1", "-p", port.c_str(),
              "--silent", "--no-vhost-buckets", "--configure-bucket", bucket_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when the bucket exists on disk and the port accepts connections (node takes ~0.5 s).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bool ok = taskhub::test_support::port_accepts(port_);
      if (ok && std::filesystem::exists(std::filesystem::path(dir_) / bucket_)) return;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("s3rver exited at start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("s3rver did not start on port " + port);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string bucket_;
  int port_;
  std::string dir_;
  pid_t pid_ = -1;
};

// In front of an S3rver: verifies every request's SigV4 header signature with botocore (what
// s3rver does not do) before forwarding it (src/adapters/s3/sigv4_checking_proxy.py). Needs
// /usr/bin/python3 with python3-botocore.
class SigV4CheckingProxy {
 public:
  SigV4CheckingProxy(const S3rver& upstream, const std::string& secret) : port_(taskhub::test_support::free_port()) {
    std::string script = source_dir() + "/src/adapters/s3/sigv4_checking_proxy.py";
    std::string port = std::to_string(port_), up = std::to_string(upstream.port());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/usr/bin/python3", "/usr/bin/python3", script.c_str(), port.c_str(), up.c_str(), secret.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bool ok = taskhub::test_support::port_accepts(port_);
      if (ok) return;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("sigv4_checking_proxy.py exited at start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("sigv4_checking_proxy.py did not start");
  }
  ~SigV4CheckingProxy() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  SigV4CheckingProxy(const SigV4CheckingProxy&) = delete;
  SigV4CheckingProxy& operator=(const SigV4CheckingProxy&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

}  // namespace taskhub::s3::testing
