#pragma once
// The mailer port. Adapters: SMTP through libcurl (adapters/smtp) and a development adapter
// that writes messages to the log. send() blocks: call it from the blocking pool or a job.
#include <memory>
#include <string>
#include <vector>

namespace taskhub {

struct EmailMessage {
  std::string to;         // one address
  std::string subject;
  std::string text_body;  // always present
  std::string html_body;  // optional; sent as multipart/alternative when set
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (List-Unsubscribe...)
};

class Mailer {
 public:
  virtual ~Mailer() = default;
  // Throws std::runtime_error when the message could not be handed to the server.
  virtual void send(const EmailMessage& msg) = 0;
};

// SMTP_URL empty or "log://" -> log adapter; "smtp://host:port", "smtps://..." -> SMTP adapter.
// SMTP_URL may carry credentials: smtp://user:pass@host:587 (STARTTLS is used when offered;
// "?starttls=required" insists on it).
std::unique_ptr<Mailer> make_mailer(const std::string& smtp_url, const std::string& mail_from);

}  // namespace taskhub
