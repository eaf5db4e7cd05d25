#include "core/error.hpp"

namespace taskhub {

ApiError validation_error(std::vector<FieldError> errors, std::string detail) {
  return ApiError(400, "validation-error", std::move(detail), std::move(errors));
}

ApiError bad_field(std::string field, std::string message) {
  std::string detail = "Invalid field '" + field + "': " + message;
  return validation_error({FieldError{std::move(field), std::move(message)}}, std::move(detail));
}

ApiError unauthorized(std::string detail) {
  ApiError e(401, "unauthorized", std::move(detail));
  e.with_header("WWW-Authenticate", "Bearer");
  return e;
}

ApiError forbidden(std::string detail) { return ApiError(403, "forbidden", std::move(detail)); }

ApiError not_found(std::string detail) { return ApiError(404, "not-found", std::move(detail)); }

ApiError conflict(std::string code, std::string detail, std::vector<FieldError> errors) {
  return ApiError(409, std::move(code), std::move(detail), std::move(errors));
}

ApiError too_many_requests(int retry_after_seconds, std::string detail) {
  ApiError e(429, "rate-limited", std::move(detail));
  e.with_header("Retry-After", std::to_string(retry_after_seconds < 1 ? 1 : retry_after_seconds));
  return e;
}

ApiError service_unavailable(int retry_after_seconds, std::string detail) {
  ApiError e(503, "unavailable", std::move(detail));
  e.with_header("Retry-After", std::to_string(retry_after_seconds < 1 ? 1 : retry_after_seconds));
  return e;
}

const char* status_title(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Error";
  }
}

}  // namespace taskhub
