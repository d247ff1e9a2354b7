// Python's string formatting as templates reach it: `"%s" % x` (and the
// `format` filter), `"{}".format(x)` (str.format), and markupsafe's HTML
// escape (the `escape` filter, `Markup + str`). Only the plain conversions
// (%s %r %d %i %%; {} {0} {name}) are supported: a width, precision or
// format spec is an error naming it, never a silently different result.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_STRING_FORMAT_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_STRING_FORMAT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat_template/renderer.h"
#include "engine/chat_template/value.h"

namespace loraplex::chat {

std::string EscapeHtml(absl::string_view s);

// `format % args`: args a tuple (one value per conversion) or one value.
absl::StatusOr<std::string> PercentFormat(const std::string& format,
                                          const Value& args, int line);

// format.format(*args.positional, **args.keyword).
absl::StatusOr<std::string> BraceFormat(const std::string& format,
                                        const CallArgs& args);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_STRING_FORMAT_H_
