// Mailer adapters: SMTP through libcurl, and a development adapter that logs messages.
#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>

#include "adapters/smtp/mime.hpp"
#include "core/ids.hpp"
#include "ports/mailer.hpp"

namespace taskhub {

namespace {

// Keeps a log line on one line (the JSON log pattern wraps the message in quotes).
std::string escape_for_log(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

class LogMailer final : public Mailer {
 public:
  explicit LogMailer(std::string from) : from_(std::move(from)) {}
  void send(const EmailMessage& msg) override {
    mail::validate(msg);
    spdlog::info("mail (log adapter, not sent) from={} to={} subject={} html={} body={}", escape_for_log(from_),
                 escape_for_log(msg.to), escape_for_log(msg.subject), msg.html_body.empty() ? "no" : "yes",
                 escape_for_log(msg.text_body));
  }

 private:
  std::string from_;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct SmtpTarget {
  std::string url;  // scheme://host[:port][/path], no credentials, no query
  std::string user, password;
  bool has_credentials = false;
  bool require_tls = false;
};

// Messages never include the URL itself: it may carry a password.
SmtpTarget parse_smtp_url(const std::string& url) {
  SmtpTarget t;
  std::string_view u = url;
  std::string_view scheme;
  if (u.rfind("smtp://", 0) == 0)
    scheme = "smtp";
  else if (u.rfind("smtps://", 0) == 0)
    scheme = "smtps";
  else
    throw std::runtime_error("SMTP_URL must start with smtp://, smtps:// or log://");
  u.remove_prefix(scheme.size() + 3);
  std::string_view query;
  if (auto q = u.find('?'); q != std::string_view::npos) {
    query = u.substr(q + 1);
    u = u.substr(0, q);
  }
  std::string_view authority = u, path;
  if (auto slash = u.find('/'); slash != std::string_view::npos) {
    authority = u.substr(0, slash);
    path = u.substr(slash);
  }
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    t.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) t.password = percent_decode(userinfo.substr(colon + 1));
    t.has_credentials = true;
  }
  if (authority.empty()) throw std::runtime_error("SMTP_URL has no host");
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv == "starttls=required")
      t.require_tls = true;
    else if (kv == "starttls=optional" || kv.empty())
      continue;
    else
      throw std::runtime_error("SMTP_URL: unsupported option '" + std::string(kv.substr(0, kv.find('='))) +
                               "' (supported: starttls=required)");
  }
  t.url = std::string(scheme) + "://" + std::string(authority) + std::string(path);
  return t;
}

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("curl_global_init: ") + curl_easy_strerror(rc));
  });
}

struct Upload {
  const std::string* data;
  std::size_t pos = 0;
};

size_t read_cb(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* up = static_cast<Upload*>(userdata);
  std::size_t room = size * nitems;
  std::size_t left = up->data->size() - up->pos;
  std::size_t n = std::min(room, left);
  std::memcpy(buffer, up->data->data() + up->pos, n);
  up->pos += n;
  return n;
}

class SmtpMailer final : public Mailer {
 public:
  SmtpMailer(SmtpTarget target, mail::Address from) : target_(std::move(target)), from_(std::move(from)) {
    curl_init_once();
    auto at = from_.addr.rfind('@');
    domain_ = at == std::string::npos ? "localhost" : from_.addr.substr(at + 1);
  }

  void send(const EmailMessage& msg) override {
    mail::Address to = mail::parse_address(msg.to);
    std::string message_id = new_uuid_v7() + "@" + domain_;
    std::string data = mail::build_message(msg, from_, message_id, std::time(nullptr));

    CURL* curl = curl_easy_init();
    if (!curl) throw std::runtime_error("smtp: curl_easy_init failed");
    struct Cleanup {
      CURL* c;
      curl_slist* rcpt = nullptr;
      ~Cleanup() {
        curl_slist_free_all(rcpt);
        curl_easy_cleanup(c);
      }
    } cleanup{curl};

    std::string mail_from = "<" + from_.addr + ">";
    cleanup.rcpt = curl_slist_append(nullptr, ("<" + to.addr + ">").c_str());
    Upload upload{&data};
    char errbuf[CURL_ERROR_SIZE] = {0};

    curl_easy_setopt(curl, CURLOPT_URL, target_.url.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, cleanup.rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(data.size()));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (target_.url.rfind("smtp://", 0) == 0)
      curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(target_.require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    if (target_.has_credentials) {
      curl_easy_setopt(curl, CURLOPT_USERNAME, target_.user.c_str());
      curl_easy_setopt(curl, CURLOPT_PASSWORD, target_.password.c_str());
    }
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
      throw std::runtime_error("smtp: sending to " + to.addr + " failed: " + detail);
    }
    spdlog::debug("smtp: sent message {} to {}", message_id, to.addr);
  }

 private:
  SmtpTarget target_;
  mail::Address from_;
  std::string domain_;
};

}  // namespace

std::unique_ptr<Mailer> make_mailer(const std::string& smtp_url, const std::string& mail_from) {
  if (smtp_url.empty() || smtp_url == "log://" || smtp_url == "log:") return std::make_unique<LogMailer>(mail_from);
  mail::Address from;
  try {
    from = mail::parse_address(mail_from);
  } catch (const std::invalid_argument&) {
    throw std::runtime_error("MAIL_FROM is not a valid address (expected \"Name <user@example.com>\")");
  }
  return std::make_unique<SmtpMailer>(parse_smtp_url(smtp_url), std::move(from));
}

}  // namespace taskhub
