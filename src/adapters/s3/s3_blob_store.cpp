#include "adapters/s3/s3_blob_store.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "core/time.hpp"

namespace taskhub {

std::unique_ptr<BlobStore> make_s3_blob_store(const BlobStoreConfig& config) {
  return std::make_unique<s3::S3BlobStore>(config);
}

namespace s3 {
namespace {

// Bounds on every call: a store that stops answering cannot hold a worker forever.
constexpr long kConnectTimeoutMs = 10'000;
constexpr long kSmallRequestTimeoutMs = 30'000;     // HEAD, DELETE, one ListObjectsV2 page
constexpr long kTransferTimeoutMs = 3'600'000;      // put/get of up to 5 GiB at >= ~1.5 MB/s
constexpr long kLowSpeedBytesPerS = 1024;           // ... and abort a transfer stalled below
constexpr long kLowSpeedTimeS = 30;                 // 1 KiB/s for 30 s
constexpr size_t kMaxErrorBody = 64 * 1024;         // kept of an error response (XML)
constexpr size_t kMaxListPage = 8 * 1024 * 1024;    // one ListObjectsV2 page of 1000 keys is < 1 MiB
constexpr uint64_t kMaxSinglePut = 5ull << 30;      // S3's limit for one PUT
constexpr size_t kMaxKeyBytes = 256;
constexpr int kMaxListPages = 1'000'000;            // 10^9 keys: a loop guard, not a quota

const std::string kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Minimal XML reading for S3's flat answers: the text of the first <tag>...</tag> at or after
// pos, entities decoded. S3 responses never nest an element inside one of the same name.
std::string xml_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s.substr(i);
      break;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() > 1 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string digits(ent.substr(hex ? 2 : 1));
      unsigned long cp = 0;
      bool valid = !digits.empty() && digits.size() <= 8 &&
                   digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") == std::string::npos;
      if (valid) cp = std::stoul(digits, nullptr, hex ? 16 : 10);
      if (!valid || cp > 0x10FFFF) {
        out += s.substr(i, semi - i + 1);  // malformed: kept verbatim
        i = semi;
        continue;
      }
      // UTF-8 encode the code point.
      if (cp < 0x80) out += static_cast<char>(cp);
      else if (cp < 0x800) out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      else if (cp < 0x10000)
        out += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                static_cast<char>(0x80 | (cp & 0x3F))};
      else
        out += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
      out += s.substr(i, semi - i + 1);  // unknown entity: kept verbatim
    }
    i = semi;
  }
  return out;
}

std::optional<std::string> xml_text(std::string_view xml, std::string_view tag, size_t from = 0,
                                    size_t* end_out = nullptr) {
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t a = xml.find(open, from);
  if (a == std::string_view::npos) return std::nullopt;
  a += open.size();
  size_t b = xml.find(close, a);
  if (b == std::string_view::npos) return std::nullopt;
  if (end_out) *end_out = b + close.size();
  return xml_unescape(xml.substr(a, b - a));
}

struct Response {
  long status = 0;
  std::string body;  // error bodies and listing pages (bounded)
  std::optional<uint64_t> content_length;
  std::optional<int64_t> last_modified_s;
};

std::string describe_error(const std::string& what, const std::string& key, const Response& r) {
  std::string msg = "S3 " + what + " " + key + ": HTTP " + std::to_string(r.status);
  if (auto code = xml_text(r.body, "Code")) msg += " " + *code;
  if (auto m = xml_text(r.body, "Message")) msg += ": " + *m;
  return msg;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string_view line(data, size * n);
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string value(line.substr(colon + 1));
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
  while (!value.empty() && value.front() == ' ') value.erase(value.begin());
  if (name == "content-length") {
    try {
      r->content_length = std::stoull(value);
    } catch (...) {
    }
  } else if (name == "last-modified") {
    time_t t = curl_getdate(value.c_str(), nullptr);
    if (t >= 0) r->last_modified_s = t;
  }
  return size * n;
}

// Body sink: a 2xx body goes to `file` when there is one; anything else is kept (bounded) for
// the error message or the listing parser.
struct Sink {
  CURL* curl;
  Response* r;
  std::FILE* file = nullptr;
  size_t limit = kMaxErrorBody;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
  if (s->file && status >= 200 && status < 300) return std::fwrite(data, 1, len, s->file);
  if (s->r->body.size() + len > s->limit) return 0;  // aborts the transfer: CURLE_WRITE_ERROR
  s->r->body.append(data, len);
  return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  return std::fread(buf, 1, size * n, static_cast<std::FILE*>(user));
}

}  // namespace

ListPage parse_list_page(std::string_view xml) {
  ListPage page;
  size_t pos = 0, end = 0;
  while (auto contents = xml_text(xml, "Contents", pos, &end)) {
    pos = end;
    BlobInfo info;
    auto key = xml_text(*contents, "Key");
    if (!key) throw std::runtime_error("S3 list: <Contents> without <Key>");
    info.key = *key;
    try {
      if (auto size = xml_text(*contents, "Size")) info.size = std::stoull(*size);
    } catch (const std::exception&) {
      throw std::runtime_error("S3 list: bad <Size> for " + info.key);
    }
    if (auto lm = xml_text(*contents, "LastModified"))
      if (auto ms = parse_rfc3339_ms(*lm)) info.modified_ms = *ms;
    page.items.push_back(std::move(info));
  }
  page.truncated = xml_text(xml, "IsTruncated").value_or("false") == "true";
  page.next_token = xml_text(xml, "NextContinuationToken").value_or("");
  return page;
}

void check_key(const std::string& key, bool allow_prefix) {
  if (key.empty()) {
    if (allow_prefix) return;
    throw std::invalid_argument("blob key is empty");
  }
  if (key.size() > kMaxKeyBytes) throw std::invalid_argument("blob key longer than 256 bytes");
  for (char c : key)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_' || c == '-'))
      throw std::invalid_argument("blob key has a character outside [a-z0-9/._-]");
  if (key.find("..") != std::string::npos) throw std::invalid_argument("blob key contains \"..\"");
  if (key.front() == '/') throw std::invalid_argument("blob key starts with '/'");
  // No empty path segment (as the local adapter, where "a//b" and "a/b" would be one file); a
  // list prefix may end with '/'.
  if (key.find("//") != std::string::npos || (!allow_prefix && key.back() == '/'))
    throw std::invalid_argument("blob key has an empty path segment");
}

S3BlobStore::S3BlobStore(const BlobStoreConfig& config, Clock clock)
    : bucket_(config.s3_bucket), path_style_(config.s3_path_style), clock_(std::move(clock)) {
  if (bucket_.empty()) throw std::invalid_argument("S3_BUCKET is empty");
  for (char c : bucket_)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
      throw std::invalid_argument("S3_BUCKET: not a valid bucket name");
  if (config.access_key_id.empty() || config.secret_access_key.empty())
    throw std::invalid_argument("S3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required");
  if (config.s3_region.empty()) throw std::invalid_argument("S3_REGION is empty");
  creds_ = {config.access_key_id, config.secret_access_key, config.s3_region, "s3"};
  std::string endpoint = config.s3_endpoint.empty() ? "https://s3." + config.s3_region + ".amazonaws.com"
                                                    : config.s3_endpoint;
  auto sep = endpoint.find("://");
  if (sep == std::string::npos) throw std::invalid_argument("S3_ENDPOINT: expected http(s)://host[:port]");
  scheme_ = endpoint.substr(0, sep);
  if (scheme_ != "http" && scheme_ != "https") throw std::invalid_argument("S3_ENDPOINT: scheme must be http or https");
  endpoint_host_ = endpoint.substr(sep + 3);
  while (!endpoint_host_.empty() && endpoint_host_.back() == '/') endpoint_host_.pop_back();
  if (endpoint_host_.empty() || endpoint_host_.find_first_of("/?#@ ") != std::string::npos)
    throw std::invalid_argument("S3_ENDPOINT: expected http(s)://host[:port] without a path");
  // The Host a browser sends for a presigned URL omits the default port: sign what it sends.
  std::string default_port = scheme_ == "https" ? ":443" : ":80";
  if (endpoint_host_.size() > default_port.size() &&
      endpoint_host_.compare(endpoint_host_.size() - default_port.size(), default_port.size(), default_port) == 0)
    endpoint_host_.resize(endpoint_host_.size() - default_port.size());
  if (!clock_) clock_ = [] { return static_cast<int64_t>(std::time(nullptr)); };
  // Once per process, before the first handle (the implicit init in curl_easy_init is only
  // thread-safe in recent libcurl builds); a function-local static makes it race-free.
  static const CURLcode curl_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (curl_init != CURLE_OK) throw std::runtime_error(std::string("curl_global_init: ") + curl_easy_strerror(curl_init));
}

void S3BlobStore::set_list_page_size(int n) {
  if (n < 1 || n > 1000) throw std::invalid_argument("list page size must be in [1, 1000]");
  list_page_size_ = n;
}

Target S3BlobStore::target(const std::string& key) const {
  Target t;
  std::string key_path = "/" + uri_encode(key, false);
  if (path_style_) {
    t.host = endpoint_host_;
    t.canonical_path = "/" + bucket_ + (key.empty() ? "" : key_path);
  } else {
    t.host = bucket_ + "." + endpoint_host_;
    t.canonical_path = key_path;
  }
  t.url = scheme_ + "://" + t.host + t.canonical_path;
  return t;
}

Params S3BlobStore::sign(const std::string& method, const Target& t, const Params& query,
                         const std::string& payload_hash, const Params& extra_headers) const {
  int64_t now = clock_();
  Request r;
  r.method = method;
  r.canonical_path = t.canonical_path;
  r.query = query;
  r.headers = {{"host", t.host}, {"x-amz-date", amz_date(now)}, {"x-amz-content-sha256", payload_hash}};
  r.headers.insert(r.headers.end(), extra_headers.begin(), extra_headers.end());
  r.payload_hash = payload_hash;
  Params out = r.headers;
  out.emplace_back("authorization", authorization_header(creds_, now, r));
  return out;
}

namespace {

struct Call {
  Call(std::string m, Target t) : method(std::move(m)), target(std::move(t)) {}
  std::string method;
  Target target;
  Params query;
  std::string payload_hash = kEmptySha256;
  Params extra_headers;
  std::FILE* upload = nullptr;
  uint64_t upload_size = 0;
  std::FILE* download = nullptr;
  bool transfer = false;  // long timeout + low-speed limit instead of the short total
  size_t body_limit = kMaxErrorBody;
};

Response perform(const S3BlobStore& store, const Call& call) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  CURL* c = curl.get();
  Response r;
  Sink sink{c, &r, call.download, call.body_limit};
  std::string url = call.target.url;
  if (!call.query.empty()) url += "?" + canonical_query(call.query);
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const auto& [name, value] : store.sign(call.method, call.target, call.query, call.payload_hash,
                                              call.extra_headers)) {
    std::string line = name + ": " + value;
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (!next) throw std::runtime_error("curl_slist_append failed");
    headers.release();
    headers.reset(next);
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would need re-signing anyway
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  if (call.transfer) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kTransferTimeoutMs);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytesPerS);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, kLowSpeedTimeS);
  } else {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kSmallRequestTimeoutMs);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "taskhub-s3/1");
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (call.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (call.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, call.upload);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.upload_size));
  } else if (call.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  // A write error after an error status only means the error body outgrew its bound.
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r.status >= 300))
    throw std::runtime_error("S3 " + call.method + " " + call.target.url + ": " + curl_easy_strerror(rc));
  return r;
}

bool ok(const Response& r) { return r.status >= 200 && r.status < 300; }

}  // namespace

void S3BlobStore::put(const std::string& key, const std::string& source_path, const std::string& content_type) {
  check_key(key);
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(source_path.c_str(), "rb"));
  if (!f) throw std::runtime_error("S3 put " + key + ": cannot open " + source_path);
  uint64_t size = std::filesystem::file_size(source_path);
  if (size > kMaxSinglePut) throw std::runtime_error("S3 put " + key + ": larger than 5 GiB (one PUT's limit)");
  // The real payload hash, not UNSIGNED-PAYLOAD: the store then refuses a body damaged on the
  // way (XAmzContentSHA256Mismatch). Hashing costs ~20 ms per 20 MiB here (OpenSSL SHA-256, ~1 GB/s).
  std::string hash;
  {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!md || !EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr)) throw std::runtime_error("OpenSSL: SHA-256 failed");
    std::vector<char> buf(1 << 16);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(md.get(), buf.data(), n);
    if (std::ferror(f.get())) throw std::runtime_error("S3 put " + key + ": read error on " + source_path);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md.get(), out, &len);
    hash = to_hex(std::string_view(reinterpret_cast<char*>(out), len));
    std::rewind(f.get());
  }
  Call call("PUT", target(key));
  call.payload_hash = hash;
  call.extra_headers = {{"content-type", content_type.empty() ? "application/octet-stream" : content_type}};
  call.upload = f.get();
  call.upload_size = size;
  call.transfer = true;
  Response r = perform(*this, call);
  if (!ok(r)) throw std::runtime_error(describe_error("put", key, r));
}

void S3BlobStore::get(const std::string& key, const std::string& dest_path) {
  check_key(key);
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(dest_path.c_str(), "wb"));
  if (!f) throw std::runtime_error("S3 get " + key + ": cannot create " + dest_path);
  Call call("GET", target(key));
  call.download = f.get();
  call.transfer = true;
  Response r;
  try {
    r = perform(*this, call);
  } catch (...) {
    f.reset();
    std::error_code ec;
    std::filesystem::remove(dest_path, ec);  // no half-written file left behind
    throw;
  }
  bool flushed = std::fflush(f.get()) == 0;
  f.reset();
  if (r.status == 404) {
    std::error_code ec;
    std::filesystem::remove(dest_path, ec);
    throw BlobNotFound("S3 get " + key + ": no such blob");
  }
  if (!ok(r) || !flushed) {
    std::error_code ec;
    std::filesystem::remove(dest_path, ec);
    throw std::runtime_error(!flushed ? "S3 get " + key + ": write error on " + dest_path
                                      : describe_error("get", key, r));
  }
}

void S3BlobStore::remove(const std::string& key) {
  check_key(key);
  Response r = perform(*this, Call("DELETE", target(key)));
  // S3 answers 204 for a missing key as well; 404 from some compatible stores means the same.
  if (!ok(r) && r.status != 404) throw std::runtime_error(describe_error("remove", key, r));
}

std::optional<BlobInfo> S3BlobStore::stat(const std::string& key) {
  check_key(key);
  Response r = perform(*this, Call("HEAD", target(key)));
  if (r.status == 404) return std::nullopt;
  if (!ok(r)) throw std::runtime_error(describe_error("stat", key, r));  // HEAD has no body: status only
  BlobInfo info;
  info.key = key;
  info.size = r.content_length.value_or(0);
  info.modified_ms = r.last_modified_s.value_or(0) * 1000;
  return info;
}

void S3BlobStore::list(const std::string& prefix, const std::function<bool(const BlobInfo&)>& fn) {
  check_key(prefix, true);
  std::string token;
  for (int page = 0; page < kMaxListPages; ++page) {
    Call call("GET", target(""));
    call.query = {{"list-type", "2"}, {"max-keys", std::to_string(list_page_size_)}, {"prefix", prefix}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    call.body_limit = kMaxListPage;
    Response r = perform(*this, call);
    if (!ok(r)) throw std::runtime_error(describe_error("list", prefix, r));
    ListPage parsed = parse_list_page(r.body);
    for (const auto& info : parsed.items)
      if (!fn(info)) return;
    if (!parsed.truncated) return;
    // A truncated page without a new token would loop forever.
    if (parsed.next_token.empty() || parsed.next_token == token)
      throw std::runtime_error("S3 list: truncated page without a new continuation token");
    token = parsed.next_token;
  }
  throw std::runtime_error("S3 list: more than " + std::to_string(kMaxListPages) + " pages");
}

std::optional<std::string> S3BlobStore::presigned_get(const std::string& key, int expires_s,
                                                      const std::string& download_name) {
  check_key(key);
  Target t = target(key);
  Params extra = {{"response-content-disposition", attachment_disposition(download_name)}};
  return t.url + "?" + presign_query(creds_, clock_(), expires_s, "GET", t.host, t.canonical_path, extra);
}

}  // namespace s3
}  // namespace taskhub
