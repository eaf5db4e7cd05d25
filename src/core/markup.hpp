#pragma once
// Escaping text for HTML and XML (e-mail bodies, unsubscribe pages, SVG charts): one function,
// safe in element content and in quoted attribute values of both.
#include <string>
#include <string_view>

namespace taskhub {

// & < > " ' as entities; everything else as is.
std::string markup_escape(std::string_view s);

}  // namespace taskhub
