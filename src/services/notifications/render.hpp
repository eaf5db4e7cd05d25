#pragma once
// E-mail rendering helpers: safe Markdown (cmark-gfm, raw HTML and unsafe links dropped) and
// HTML escaping.
#include <string>
#include <string_view>

#include "core/markup.hpp"

namespace taskhub::notifications {

// Markdown -> HTML with the GFM extensions (tables, strikethrough, autolinks, task lists).
// Raw HTML blocks and inline HTML are replaced by comments, and javascript:/vbscript:/data:
// links are emptied (CMARK_OPT_SAFE is cmark-gfm's default; CMARK_OPT_UNSAFE is never passed).
std::string markdown_to_html(std::string_view markdown);


}  // namespace taskhub::notifications
