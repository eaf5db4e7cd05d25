#pragma once
// Typed errors. Domain code throws ApiError (or returns it); the HTTP layer maps it to an
// RFC 9457 application/problem+json answer. Any other exception becomes a 500 whose detail
// never reaches the client (it is logged with the request id instead).
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace taskhub {

struct FieldError {
  std::string field;    // JSON pointer-ish path of the offending field, e.g. "email" or "items[3].id"
  std::string message;  // human readable, safe to show
};

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, std::string detail, std::vector<FieldError> errors = {})
      : std::runtime_error(detail), status_(status), code_(std::move(code)), detail_(std::move(detail)),
        errors_(std::move(errors)) {}

  int status() const noexcept { return status_; }
  // Short machine-readable slug; becomes the problem "type" (urn:taskhub:problem:<code>).
  const std::string& code() const noexcept { return code_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::vector<FieldError>& errors() const noexcept { return errors_; }
  // Extra response headers (Retry-After, Allow, WWW-Authenticate...).
  const std::vector<std::pair<std::string, std::string>>& headers() const noexcept { return headers_; }
  ApiError& with_header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }

 private:
  int status_;
  std::string code_;
  std::string detail_;
  std::vector<FieldError> errors_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

// Constructors for the common cases, so call sites read as intent.
ApiError validation_error(std::vector<FieldError> errors, std::string detail = "The request is invalid.");
ApiError bad_field(std::string field, std::string message);
ApiError unauthorized(std::string detail = "Authentication is required.");
ApiError forbidden(std::string detail = "You do not have permission to do this.");
ApiError not_found(std::string detail = "The resource does not exist.");
ApiError conflict(std::string code, std::string detail, std::vector<FieldError> errors = {});
ApiError too_many_requests(int retry_after_seconds, std::string detail = "Too many requests.");
ApiError service_unavailable(int retry_after_seconds, std::string detail);

// Title for a status code, e.g. 404 -> "Not Found".
const char* status_title(int status) noexcept;

}  // namespace taskhub
