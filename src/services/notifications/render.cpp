#include "services/notifications/render.hpp"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace taskhub::notifications {

std::string markdown_to_html(std::string_view markdown) {
  static std::once_flag once;
  std::call_once(once, [] { cmark_gfm_core_extensions_ensure_registered(); });
  // CMARK_OPT_SAFE is a no-op flag kept for clarity: without CMARK_OPT_UNSAFE the renderer
  // already omits raw HTML and dangerous URLs.
  const int options = CMARK_OPT_DEFAULT | CMARK_OPT_SAFE;
  std::unique_ptr<cmark_parser, decltype(&cmark_parser_free)> parser(cmark_parser_new(options), cmark_parser_free);
  if (!parser) throw std::runtime_error("cmark_parser_new failed");
  // "tagfilter" is not attached: it only matters with raw HTML on, which is never the case.
  for (const char* name : {"table", "strikethrough", "autolink", "tasklist"})
    if (auto* ext = cmark_find_syntax_extension(name)) cmark_parser_attach_syntax_extension(parser.get(), ext);
  cmark_parser_feed(parser.get(), markdown.data(), markdown.size());
  std::unique_ptr<cmark_node, decltype(&cmark_node_free)> doc(cmark_parser_finish(parser.get()), cmark_node_free);
  if (!doc) throw std::runtime_error("cmark_parser_finish failed");
  char* html = cmark_render_html(doc.get(), options, cmark_parser_get_syntax_extensions(parser.get()));
  std::string out = html ? html : "";
  std::free(html);
  return out;
}


}  // namespace taskhub::notifications
